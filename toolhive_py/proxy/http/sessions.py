"""Session-era Streamable HTTP on /mcp (2025-03-26 to 2025-11-25): one SDK transport per session, which owns
session setup, batches, notifications, the standalone GET stream and DELETE; plain requests are streamed by
the proxy itself, which skips the transport's per-request machinery.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import anyio
import anyio.abc
from mcp.server.streamable_http import GET_STREAM_KEY, StreamableHTTPServerTransport, check_accept_headers
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import DEFAULT_NEGOTIATED_VERSION, jsonrpc_message_adapter
from mcp_types.version import is_version_at_least
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from toolhive_py.proxy.events import MemoryEventStore
from toolhive_py.proxy.http.wire import (
    RETRY_MS,
    SSE_HEADERS,
    jsonrpc_error,
    on_disconnect,
    replay,
    respond,
    sse_event,
    trace_id,
)
from toolhive_py.proxy.jsonrpc import INVALID_REQUEST
from toolhive_py.proxy.mux import ClientSession, Multiplexer, RequestContext

__all__ = ["SessionEndpoint", "relay"]

logger = logging.getLogger(__name__)


Divert = Callable[[dict[str, Any]], None]


async def relay(mux: Multiplexer, read_stream: Any, write_stream: Any, *, session_id: str | None = None,
                diverted: dict[Any, Divert] | None = None) -> None:
    """Shuttle one SDK transport session's messages to and from the multiplexer until it ends.

    Messages related to a request in ``diverted`` (answered by the front's plain-request path, not by the
    SDK transport) go to that request's handler instead of the transport.
    """
    outbox_send, outbox_receive = anyio.create_memory_object_stream[tuple[dict[str, Any], Any]](math.inf)
    detours = diverted if diverted is not None else {}

    def deliver(message: dict[str, Any], related: Any) -> None:
        detour = detours.get(related) if related is not None else None
        if detour is not None:
            detour(message)
        else:
            outbox_send.send_nowait((message, related))

    session = mux.open_session(deliver, session_id=session_id)

    async def pump_out() -> None:
        async for message, related in outbox_receive:
            try:
                typed = jsonrpc_message_adapter.validate_python(message, by_name=False)
            except ValidationError:
                logger.warning("dropped a malformed message from the server: %.200r", message)
                continue
            try:
                await write_stream.send(SessionMessage(typed, ServerMessageMetadata(related_request_id=related)))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump_out)
            try:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        continue
                    metadata = item.metadata
                    context = RequestContext(trace_id=trace_id(getattr(metadata, "request_context", None)))
                    message = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
                    await mux.from_client(session, message, context)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                logger.debug("session %s ended", session.id)
            tg.cancel_scope.cancel()
    finally:
        outbox_send.close()
        with anyio.CancelScope(shield=True):
            await mux.close_session(session)



class SessionEndpoint:
    """/mcp for session-era clients: a transport per session, and the plain requests streamed by the proxy."""

    def __init__(self, mux: Multiplexer, settings: TransportSecuritySettings,
                 task_group: Callable[[], anyio.abc.TaskGroup]) -> None:
        self.mux = mux
        self.settings = settings
        self.task_group = task_group
        self.transports: dict[str, StreamableHTTPServerTransport] = {}
        # Per session: the requests answered by `_answer_plain`, keyed by their JSON-RPC id.
        self.diverted: dict[str, dict[Any, Divert]] = {}
        self.event_stores: dict[str, MemoryEventStore] = {}

    async def handle(self, request: Request, body: bytes, decoded: Any, scope: Scope, receive: Receive,
                     send: Send) -> None:
        """One HTTP request whose body (a POST's) the app has read and decoded already."""
        session_id = request.headers.get("mcp-session-id")
        if session_id is not None:
            transport = self.transports.get(session_id)
            if transport is None:
                await respond(jsonrpc_error(None, INVALID_REQUEST, "Session not found", status=404),
                              scope, receive, send)
                return
            if request.method == "POST":
                await self._post(request, session_id, transport, body, decoded, scope, receive, send)
            elif not await self._resumed(request, session_id, receive, send):
                await transport.handle_request(scope, receive, send)
            if transport.is_terminated:
                self._forget(session_id)
            return
        await self._open_session(scope, replay(body, receive) if request.method == "POST" else receive, send)

    def _forget(self, session_id: str) -> None:
        self.transports.pop(session_id, None)
        self.diverted.pop(session_id, None)
        self.event_stores.pop(session_id, None)

    async def _post(self, request: Request, session_id: str, transport: StreamableHTTPServerTransport,
                    body: bytes, decoded: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """A plain request (one JSON-RPC request) is streamed by the proxy itself, which skips the SDK
        transport's per-request machinery; anything else (batches, notifications, responses, bad input)
        goes to the transport, which owns those answers and errors."""
        diverted = self.diverted.get(session_id)
        session = self.mux.sessions.get(session_id)
        plain = _plain_request(decoded) if _is_plain_post(request) else None
        if plain is None or diverted is None or session is None or plain["id"] in diverted \
                or session.id not in self.event_stores:
            await transport.handle_request(scope, replay(body, receive), send)
            return
        await self._answer_plain(request, session, diverted, plain, receive, send)

    async def _answer_plain(self, request: Request, session: ClientSession, diverted: dict[Any, Divert],
                            decoded: dict[str, Any], receive: Receive, send: Send) -> None:
        """Stream the request's messages as the SDK transport would (event ids from the session's store, a
        priming event from 2025-11-25 on), without its per-request machinery.

        A client that hangs up mid-request gets the rest through the transport: the detour is removed, so
        later messages reach the store via the transport and a GET with Last-Event-ID replays them.
        """
        store = self.event_stores[session.id]
        events_in, events_out = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        request_id, stream_id = decoded["id"], str(decoded["id"])
        detour: Divert = events_in.send_nowait
        diverted[request_id] = detour

        def hang_up() -> None:
            if diverted.get(request_id) is detour:
                del diverted[request_id]
            events_in.close()

        self.task_group().start_soon(on_disconnect, receive, hang_up)
        try:
            await self.mux.from_client(session, decoded, RequestContext(trace_id=trace_id(request)))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*SSE_HEADERS, (b"mcp-session-id", session.id.encode())]})
            version = request.headers.get("mcp-protocol-version", DEFAULT_NEGOTIATED_VERSION)
            if is_version_at_least(version, "2025-11-25"):
                priming = store.store_plain(stream_id, None)
                await send({"type": "http.response.body", "more_body": True,
                            "body": f"id: {priming}\r\nretry: {RETRY_MS}\r\ndata: \r\n\r\n".encode()})
            while True:
                message = await events_out.receive()
                final = "method" not in message
                await send({"type": "http.response.body", "more_body": not final,
                            "body": sse_event(message, store.store_plain(stream_id, message))})
                if final:
                    return
        except anyio.EndOfStream:
            logger.debug("session %s hung up during request %r; the rest waits for a resume", session.id, request_id)
        finally:
            hang_up()

    async def _resumed(self, request: Request, session_id: str, receive: Receive, send: Send) -> bool:
        """Resume a request's stream (GET with Last-Event-ID) from the session's store: replay, then follow
        until the request's answer. False leaves the GET to the transport: a plain GET, the standalone
        stream (one per session, which the transport enforces), or an id the store no longer holds."""
        last_event_id = request.headers.get("last-event-id") if request.method == "GET" else None
        store = self.event_stores.get(session_id)
        if store is None or not last_event_id or not check_accept_headers(request)[1]:
            return False
        stream_id = store.stream_of(last_event_id)
        if stream_id is None or stream_id == GET_STREAM_KEY:
            return False
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*SSE_HEADERS, (b"mcp-session-id", session_id.encode())]})
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(on_disconnect, receive, watchers.cancel_scope.cancel)
            async for event_id, message in store.follow(last_event_id, stream_id):
                plain = _plain_message(message)
                final = "method" not in plain
                await send({"type": "http.response.body", "body": sse_event(plain, event_id), "more_body": not final})
                if final:
                    break
            watchers.cancel_scope.cancel()
        return True

    async def _open_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = uuid4().hex
        store = self.event_stores[session_id] = MemoryEventStore()
        transport = StreamableHTTPServerTransport(session_id, event_store=store, security_settings=self.settings,
                                                  retry_interval=RETRY_MS)
        self.transports[session_id] = transport
        diverted = self.diverted[session_id] = {}

        async def serve(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            try:
                async with transport.connect() as (read_stream, write_stream):
                    task_status.started()
                    await relay(self.mux, read_stream, write_stream, session_id=session_id, diverted=diverted)
            except Exception:
                # One broken session must never take the proxy (and every other session) down with it.
                logger.exception("session %s failed", session_id)
            finally:
                self._forget(session_id)

        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.task_group().start(serve)
        try:
            await transport.handle_request(scope, receive, watch)
        finally:
            if not status or status[0] >= 400:
                self._forget(session_id)
                with anyio.CancelScope(shield=True):
                    await transport.terminate()


def _plain_message(message: Any) -> dict[str, Any]:
    """A stored message as JSON-ready data: the transport stores typed messages, the proxy plain ones."""
    if isinstance(message, dict):
        return message
    dumped: dict[str, Any] = message.model_dump(by_alias=True, mode="json", exclude_unset=True)
    return dumped


def _is_plain_post(request: Request) -> bool:
    """JSON in, and a client ready for either answer; the transport gives the 406/415 errors otherwise."""
    has_json, has_sse = check_accept_headers(request)
    return has_json and has_sse and request.headers.get("content-type", "").split(";")[0].strip() == "application/json"




def _plain_request(decoded: Any) -> dict[str, Any] | None:
    """The decoded body when it is one well-formed JSON-RPC request the proxy can stream by itself;
    ``initialize`` stays with the transport, which owns session setup."""
    if not (isinstance(decoded, dict) and decoded.get("jsonrpc") == "2.0" and isinstance(decoded.get("method"), str)
            and decoded["method"] != "initialize" and isinstance(decoded.get("id"), str | int)
            and not isinstance(decoded["id"], bool) and set(decoded) <= {"jsonrpc", "id", "method", "params"}):
        return None
    return decoded if isinstance(decoded.get("params", {}), dict) else None

