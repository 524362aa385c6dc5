"""/sse and /messages/: the 2024-11-05 HTTP+SSE transport, still what some clients speak, served by the proxy
itself (no SDK): GET /sse opens a session whose first event names its POST endpoint; every message for the
session goes down that stream; POST /messages/?session_id=… carries the client's messages (202). A session
lives as long as its stream and counts against the same cap as Streamable HTTP sessions."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from uuid import UUID, uuid4

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from toolhive_py.proxy.auth import CLIENT_SCOPE_KEY, NO_CLIENT
from toolhive_py.proxy.http.checks import (
    decode,
    is_json_content,
    plain_response,
    read_body,
    refused_body,
    scope_trace_id,
    until_disconnect,
)
from toolhive_py.proxy.http.sessions import SessionTable, receive_or_ping
from toolhive_py.proxy.mux import ClientSession, RequestContext

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

__all__ = ["SseEndpoint"]

logger = logging.getLogger(__name__)

_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no")]


class SseEndpoint:
    """/sse and /messages/ for 2024-11-05 clients."""

    def __init__(self, table: SessionTable) -> None:
        self.table = table
        self.mux = table.mux
        self.sessions: dict[str, ClientSession] = {}

    async def connect(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            await plain_response(send, 405, "Method Not Allowed", [(b"allow", b"GET")])
            return
        if self.table.is_full():
            await plain_response(send, 503, f"The proxy holds its limit of {self.table.limits.max_sessions} "
                                            "sessions.", [(b"retry-after", b"5")])
            return
        session_id = uuid4().hex
        sender, receiver = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        client = self.mux.open_session(_queue(sender), session_id=session_id)
        self.sessions[session_id] = client
        self.table.streaming += 1
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            endpoint = f"{scope.get('root_path', '').rstrip('/')}/messages/?session_id={session_id}"
            await send({"type": "http.response.body", "more_body": True,
                        "body": f"event: endpoint\r\ndata: {endpoint}\r\n\r\n".encode()})
            async with anyio.create_task_group() as watchers:
                watchers.start_soon(until_disconnect, receive, watchers.cancel_scope.cancel)
                while True:
                    message = await receive_or_ping(receiver, send)
                    if message is None:
                        continue
                    data = json.dumps(message, separators=(",", ":")).encode()
                    await send({"type": "http.response.body", "body": b"event: message\r\ndata: " + data + b"\r\n\r\n",
                                "more_body": True})
        finally:
            sender.close()
            self.table.streaming -= 1
            self.sessions.pop(session_id, None)
            with anyio.CancelScope(shield=True):
                await self.mux.close_session(client)

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await plain_response(send, 405, "Method Not Allowed", [(b"allow", b"POST")])
            return
        if not is_json_content(scope):
            await plain_response(send, 400, "Invalid Content-Type header")
            return
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id")
        if not given:
            await plain_response(send, 400, "session_id is required")
            return
        try:
            session_id = UUID(hex=given[0]).hex
        except ValueError:
            await plain_response(send, 400, "Invalid session ID")
            return
        client = self.sessions.get(session_id)
        if client is None:
            await plain_response(send, 404, "Could not find session")
            return
        body = await read_body(receive)
        decoded = decode(body)
        if await refused_body(self.mux, body, decoded, None, scope, send):
            return
        if not (isinstance(decoded, dict) and decoded.get("jsonrpc") == "2.0"
                and (isinstance(decoded.get("method"), str) or "id" in decoded)):
            await plain_response(send, 400, "Could not parse message")
            return
        await plain_response(send, 202, "Accepted")
        await self.mux.from_client(client, decoded, _context(scope))


def _queue(sender: MemoryObjectSendStream[dict[str, Any]]) -> Any:
    def deliver(message: dict[str, Any], related: Any) -> None:
        sender.send_nowait(message)

    return deliver



def _context(scope: Scope) -> RequestContext:
    """What the audit record of a request names: its trace id and the client credential it carried."""
    return RequestContext(trace_id=scope_trace_id(scope), client=str(scope.get(CLIENT_SCOPE_KEY, NO_CLIENT)))
