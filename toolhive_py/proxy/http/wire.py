"""What every part of the proxy's HTTP front shares: JSON-RPC error responses, SSE framing, answering one
relayed request and noticing a client that hung up. The bodies the front refuses before any relay are
refused once, for both eras, by ``checks.refused_body``; its scope keys and sentinel are re-exported here."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from toolhive_py.proxy.auth import CLIENT_SCOPE_KEY
from toolhive_py.proxy.http.checks import AUDITED, METHOD, UNPARSED
from toolhive_py.proxy.jsonrpc import error_message

__all__ = ["AUDITED", "CLIENT_SCOPE_KEY", "ERROR_CODE_HTTP_STATUS", "METHOD", "RETRY_MS", "SSE_HEADERS", "UNPARSED", "Events",
           "answer_one", "jsonrpc_error", "on_disconnect", "replay", "respond", "sse_event", "trace_id"]

logger = logging.getLogger(__name__)

# The HTTP status of a JSON-RPC error answered on its own: the SDK's ``mcp.shared.inbound`` map, written out so
# the session-era front never loads the SDK (tests/unit/test_proxy_revisions.py pins it to the SDK's).
ERROR_CODE_HTTP_STATUS: dict[int, int] = {-32700: 400, -32600: 400, -32602: 400, -32020: 400, -32021: 400,
                                          -32022: 400, -32601: 404}


class Events(Protocol):
    """The messages of one relayed request, as ``answer_one`` reads them (a memory stream, or a view of one)."""

    async def receive(self) -> dict[str, Any]: ...


def trace_id(request: Any) -> str:
    """The W3C trace id from a ``traceparent`` header when the client sent one, else a fresh one."""
    if isinstance(request, Request):
        parts = request.headers.get("traceparent", "").split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return secrets.token_hex(16)


async def respond(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    await response(scope, receive, send)


def jsonrpc_error(request_id: Any, code: int, message: str, data: Any = None, status: int | None = None) -> Response:
    return JSONResponse(error_message(request_id, code, message, data),
                        status_code=status or ERROR_CODE_HTTP_STATUS.get(code, 200))


RETRY_MS = 1000  # how long a client waits before resuming a dropped stream (the SSE ``retry`` field)
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache, no-transform"),
               (b"x-accel-buffering", b"no")]


async def answer_one(send: Send, events: Events,
                 finish: Callable[[dict[str, Any]], tuple[dict[str, Any], int]],
                 headers: list[tuple[bytes, bytes]]) -> None:
    """Answer one relayed request: plain JSON when its response is the first message to arrive (the usual
    case), else an SSE stream of what comes first (progress, server→client requests) ending with the
    response, which ``finish`` turns into the body and status. Ends quietly when ``events`` is closed."""
    try:
        message = await events.receive()
        if "method" not in message:
            body, status = finish(message)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), *headers]})
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]})
        while "method" in message:
            await send({"type": "http.response.body", "body": sse_event(message), "more_body": True})
            message = await events.receive()
        body, _ = finish(message)
        await send({"type": "http.response.body", "body": sse_event(body), "more_body": False})
    except anyio.EndOfStream:
        logger.debug("the client hung up before its answer arrived")


async def on_disconnect(receive: Receive, hang_up: Callable[[], None]) -> None:
    """Stop waiting for an answer the client can no longer receive. Runs beside the handler (the server's
    task group, no cancel scope: that costs more than the rest of a request); uvicorn's ``receive`` returns
    ``http.disconnect`` once the response is complete too, so this ends with every request. A body not
    read yet (a GET's empty one) comes first and is skipped."""
    while (await receive())["type"] != "http.disconnect":
        continue
    hang_up()


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for a handler that must read a body this module already read."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def sse_event(message: dict[str, Any], event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\r\n" if event_id is not None else ""
    return f"{head}event: message\r\ndata: {json.dumps(message, separators=(',', ':'))}\r\n\r\n".encode()
