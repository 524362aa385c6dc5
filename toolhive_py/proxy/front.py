"""The proxy's HTTP face: Streamable HTTP on /mcp (session-based revisions and stateless 2026-07-28),
legacy SSE on /sse + /messages/, health and metrics, all behind Host/Origin checks and a body limit.

Session-based transports come from the MCP SDK, so the wire behaviour (session ids, SSE, 202s, resumable
streams, DELETE) is the SDK's; this module only relays their messages into the multiplexer.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import GET_STREAM_KEY, StreamableHTTPServerTransport, check_accept_headers
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    unsupported_protocol_version_rejection,
)
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    DEFAULT_NEGOTIATED_VERSION,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    jsonrpc_message_adapter,
)
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS, is_version_at_least
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolhive_py.proxy.audit import refusal_outcome
from toolhive_py.proxy.backends import BackendClosed
from toolhive_py.proxy.events import MemoryEventStore
from toolhive_py.proxy.jsonrpc import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    NOT_READY,
    PARSE_ERROR,
    error_message,
    invalid_body_reason,
    is_request_id,
)
from toolhive_py.proxy.mux import ClientSession, Multiplexer, RequestContext

__all__ = ["SseEndpoint", "StreamableHttpEndpoint", "build_app", "relay", "security_settings"]

logger = logging.getLogger(__name__)

_MODERN_META_KEYS = (PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY)


def security_settings(port: int) -> TransportSecuritySettings:
    """Only loopback names may reach the proxy: a web page cannot, even through DNS rebinding.

    An ``Origin`` is trusted only when it is the proxy's own (a loopback name with the proxy's port):
    a page served by anything else on this machine, a port-80 server included, is another origin.
    """
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    origins = [f"http://{h}:{port}" for h in hosts]
    if port == 80:  # the default port is left out of an origin
        origins += [f"http://{h}" for h in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:{port}" for h in hosts] + hosts,
        allowed_origins=origins,
    )


def _trace_id(request: Any) -> str:
    """The W3C trace id from a ``traceparent`` header when the client sent one, else a fresh one."""
    if isinstance(request, Request):
        parts = request.headers.get("traceparent", "").split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return secrets.token_hex(16)


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
                    context = RequestContext(trace_id=_trace_id(getattr(metadata, "request_context", None)))
                    message = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
                    await mux.from_client(session, message, context)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                logger.debug("session %s ended", session.id)
            tg.cancel_scope.cancel()
    finally:
        outbox_send.close()
        with anyio.CancelScope(shield=True):
            await mux.close_session(session)


async def _respond(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    await response(scope, receive, send)


def _jsonrpc_error(request_id: Any, code: int, message: str, data: Any = None, status: int | None = None) -> Response:
    return JSONResponse(error_message(request_id, code, message, data),
                        status_code=status or ERROR_CODE_HTTP_STATUS.get(code, 200))


class StreamableHttpEndpoint:
    """/mcp: one SDK transport per session for 2025-era clients, single exchanges for 2026-07-28 clients."""

    def __init__(self, mux: Multiplexer, settings: TransportSecuritySettings,
                 task_group: Callable[[], anyio.abc.TaskGroup]) -> None:
        self.mux = mux
        self.settings = settings
        self.security = TransportSecurityMiddleware(settings)
        self.task_group = task_group
        self.transports: dict[str, StreamableHTTPServerTransport] = {}
        # Per session: the requests answered by `_answer_plain`, keyed by their JSON-RPC id.
        self.diverted: dict[str, dict[Any, Divert]] = {}
        self.event_stores: dict[str, MemoryEventStore] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body, decoded = b"", _UNPARSED
        session_id = request.headers.get("mcp-session-id")
        if request.method == "POST":
            body = await request.body()
            decoded = _decode(body)
            if isinstance(decoded, dict) and isinstance(decoded.get("method"), str):
                scope[_METHOD] = decoded["method"][:200]
            if await _refused_body(self.mux, body, decoded, session_id, scope, receive, send):
                return
        version = request.headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await self._modern(request, decoded, scope, receive, send)
            return
        if session_id is not None:
            transport = self.transports.get(session_id)
            if transport is None:
                await _respond(_jsonrpc_error(None, INVALID_REQUEST, "Session not found", status=404),
                               scope, receive, send)
                return
            if request.method == "POST":
                await self._post(request, session_id, transport, body, decoded, scope, receive, send)
            elif not await self._resumed(request, session_id, receive, send):
                await transport.handle_request(scope, receive, send)
            if transport.is_terminated:
                self._forget(session_id)
            return
        await self._open_session(scope, _replay(body, receive) if request.method == "POST" else receive, send)

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
            await transport.handle_request(scope, _replay(body, receive), send)
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

        self.task_group().start_soon(_on_disconnect, receive, hang_up)
        try:
            await self.mux.from_client(session, decoded, RequestContext(trace_id=_trace_id(request)))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*_SSE_HEADERS, (b"mcp-session-id", session.id.encode())]})
            version = request.headers.get("mcp-protocol-version", DEFAULT_NEGOTIATED_VERSION)
            if is_version_at_least(version, "2025-11-25"):
                priming = store.store_plain(stream_id, None)
                await send({"type": "http.response.body", "more_body": True,
                            "body": f"id: {priming}\r\nretry: {_RETRY_MS}\r\ndata: \r\n\r\n".encode()})
            while True:
                message = await events_out.receive()
                final = "method" not in message
                await send({"type": "http.response.body", "more_body": not final,
                            "body": _sse_event(message, store.store_plain(stream_id, message))})
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
                    "headers": [*_SSE_HEADERS, (b"mcp-session-id", session_id.encode())]})
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(_on_disconnect, receive, watchers.cancel_scope.cancel)
            async for event_id, message in store.follow(last_event_id, stream_id):
                plain = _plain_message(message)
                final = "method" not in plain
                await send({"type": "http.response.body", "body": _sse_event(plain, event_id), "more_body": not final})
                if final:
                    break
            watchers.cancel_scope.cancel()
        return True

    async def _open_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = uuid4().hex
        store = self.event_stores[session_id] = MemoryEventStore()
        transport = StreamableHTTPServerTransport(session_id, event_store=store, security_settings=self.settings,
                                                  retry_interval=_RETRY_MS)
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

    async def _modern(self, request: Request, decoded: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """One self-contained request of the stateless revision, answered as JSON.

        The server behind the proxy stays in its handshake session; this translates the envelope:
        ``server/discover`` is answered from the server's initialize result, other requests are relayed
        with the per-request ``_meta`` envelope removed and come back stamped the way the revision wants.
        """
        rejection = await self.security.validate_request(request, is_post=request.method == "POST")
        if rejection is not None:
            await _respond(rejection, scope, receive, send)
            return
        if request.method != "POST":
            await _respond(Response(status_code=405, headers={"Allow": "POST"}), scope, receive, send)
            return
        has_json, _ = check_accept_headers(request)
        if not has_json:
            await _respond(Response(status_code=406), scope, receive, send)
            return
        if decoded is _UNPARSED:
            await _respond(_jsonrpc_error(None, PARSE_ERROR, "Parse error"), scope, receive, send)
            return
        if isinstance(decoded, dict) and "id" not in decoded and isinstance(decoded.get("method"), str):
            unsupported = unsupported_protocol_version_rejection(request.headers.get("mcp-protocol-version", ""))
            response = (Response(status_code=202) if unsupported is None
                        else _jsonrpc_error(None, unsupported.code, unsupported.message, unsupported.data))
            await _respond(response, scope, receive, send)
            return
        if not (isinstance(decoded, dict) and isinstance(decoded.get("method"), str)
                and isinstance(decoded.get("id"), str | int) and not isinstance(decoded.get("id"), bool)):
            await _respond(_jsonrpc_error(None, INVALID_REQUEST, "Body must be a single JSON-RPC request or "
                                          "notification object"), scope, receive, send)
            return
        request_id = decoded["id"]
        duplicated = find_duplicated_routing_header(request.headers.items())
        verdict = (InboundLadderRejection(code=HEADER_MISMATCH, message=f"{duplicated} header appears more than once")
                   if duplicated is not None else classify_inbound_request(decoded, headers=dict(request.headers)))
        if isinstance(verdict, InboundLadderRejection):
            await _respond(_jsonrpc_error(request_id, verdict.code, verdict.message, verdict.data),
                           scope, receive, send)
            return
        method = decoded["method"]
        if method == "server/discover":
            await _respond(await self._discover(request_id, verdict.protocol_version), scope, receive, send)
            return
        _, accepts_sse = check_accept_headers(request)
        if method == "subscriptions/listen":
            params = decoded.get("params")
            await self._listen(request_id, params if isinstance(params, dict) else {}, accepts_sse, scope, receive,
                               send)
            return
        await self._relay_one(request, decoded, verdict, accepts_sse, receive, send)

    async def _listen(self, request_id: Any, params: dict[str, Any], accepts_sse: bool, scope: Scope,
                      receive: Receive, send: Send) -> None:
        """``subscriptions/listen``: the response is a stream of the notifications the client opted in to,
        acknowledged first and each stamped with the subscription id (the request's id).

        It ends when the client hangs up, or with its result when the server behind the proxy goes away:
        what the server knew of the subscription is gone then, and the revision's answer to a dropped
        stream is that the client listens again and refetches.
        """
        if not accepts_sse:
            await _respond(_jsonrpc_error(request_id, INVALID_REQUEST, "subscriptions/listen answers with a "
                                          "stream: send Accept: text/event-stream."), scope, receive, send)
            return
        if not await self.mux.wait_ready(30):
            await _respond(_jsonrpc_error(request_id, NOT_READY, f"The MCP server is not ready: {self.mux.last_error}."),
                           scope, receive, send)
            return
        filter_ = params.get("notifications")
        requested: dict[str, Any] = filter_ if isinstance(filter_, dict) else {}
        honored: dict[str, Any] = {kind: True for kind in _LISTEN_KINDS.values() if requested.get(kind) is True}
        uris = [uri for uri in requested.get("resourceSubscriptions") or [] if isinstance(uri, str)]
        if not ((self.mux.initialize_result or {}).get("capabilities", {}).get("resources") or {}).get("subscribe"):
            uris = []
        if uris:
            honored["resourceSubscriptions"] = uris
        meta = {SUBSCRIPTION_ID_META_KEY: request_id}
        # Bounded: each event is a level trigger ("refetch"), so a client too slow to drain 256 of them loses
        # nothing by having its stream ended, which is what happens.
        events_in, events_out = anyio.create_memory_object_stream[dict[str, Any]](256)

        def deliver(message: dict[str, Any], related: Any) -> None:
            method = message.get("method")
            if _LISTEN_KINDS.get(method or "") in honored or (
                    method == "notifications/resources/updated"
                    and (message.get("params") or {}).get("uri") in honored.get("resourceSubscriptions", ())):
                try:
                    events_in.send_nowait(message)
                except anyio.WouldBlock:
                    events_in.close()

        session = self.mux.open_session(deliver)
        session.on_backend_down = events_in.close
        try:
            try:
                for uri in uris:
                    await self.mux.subscribe(session, uri)
            except BackendClosed as exc:
                await _respond(_jsonrpc_error(request_id, NOT_READY, f"Subscribing failed: {exc}"), scope, receive, send)
                return
            self.task_group().start_soon(_on_disconnect, receive, events_in.close)
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            await send({"type": "http.response.body", "more_body": True, "body": _sse_event({
                "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                "params": {"notifications": honored, "_meta": meta}})})
            async for message in events_out:
                stamped = dict(message.get("params") or {})
                stamped["_meta"] = {**(stamped.get("_meta") or {}), **meta}
                await send({"type": "http.response.body", "more_body": True, "body": _sse_event({
                    "jsonrpc": "2.0", "method": message["method"], "params": stamped})})
            await send({"type": "http.response.body", "more_body": False, "body": _sse_event({
                "jsonrpc": "2.0", "id": request_id, "result": {"resultType": "complete", "_meta": meta}})})
        finally:
            events_in.close()
            with anyio.CancelScope(shield=True):
                await self.mux.close_session(session)

    async def _discover(self, request_id: Any, version: str) -> Response:
        if not await self.mux.wait_ready(30):
            return _jsonrpc_error(request_id, NOT_READY, f"The MCP server is not ready: {self.mux.last_error}.")
        initialized = self.mux.initialize_result or {}
        result: dict[str, Any] = {
            "supportedVersions": [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS],
            "capabilities": initialized.get("capabilities", {}),
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {SERVER_INFO_META_KEY: initialized.get("serverInfo", {})},
        }
        if initialized.get("instructions"):
            result["instructions"] = initialized["instructions"]
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _relay_one(self, request: Request, decoded: dict[str, Any], verdict: Any, accepts_sse: bool,
                         receive: Receive, send: Send) -> None:
        """Relay one stateless request. Its progress notifications, when the client accepts SSE, are streamed
        before the result; a request that produces none is answered with plain JSON."""
        request.scope[_AUDITED] = True  # by the multiplexer, whatever HTTP status its answer maps to
        params = dict(decoded.get("params") or {})
        meta = {k: v for k, v in (params.get("_meta") or {}).items() if k not in _MODERN_META_KEYS}
        if meta:
            params["_meta"] = meta
        else:
            params.pop("_meta", None)
        outgoing = {"jsonrpc": "2.0", "id": decoded["id"], "method": decoded["method"]}
        if params:
            outgoing["params"] = params
        events_in, events_out = anyio.create_memory_object_stream[dict[str, Any]](math.inf)

        def deliver(message: dict[str, Any], related: Any) -> None:
            final = "method" not in message and message.get("id") == decoded["id"]
            if final or (accepts_sse and message.get("method") == "notifications/progress"):
                events_in.send_nowait(message)

        session = self.mux.open_session(deliver)
        client_info = verdict.client_info
        if isinstance(client_info, dict):
            session.client_name, session.client_version = client_info.get("name"), client_info.get("version")
        method, version = decoded["method"], verdict.protocol_version
        self.task_group().start_soon(_on_disconnect, receive, events_in.close)
        try:
            await self.mux.from_client(session, outgoing, RequestContext(trace_id=_trace_id(request)))
            await _answer(send, events_out, lambda answer: self._modern_body(method, version, answer), [])
        finally:
            events_in.close()
            with anyio.CancelScope(shield=True):
                await self.mux.close_session(session)

    def _modern_body(self, method: str, version: str, answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The stateless revision's response body for a relayed answer, and its HTTP status."""
        if "error" in answer:
            error = answer["error"]
            code = int(error.get("code", INTERNAL_ERROR))
            return {"jsonrpc": "2.0", "id": answer["id"], "error": error}, ERROR_CODE_HTTP_STATUS.get(code, 200)
        result = _modernize(method, version, dict(answer.get("result") or {}))
        server_info = (self.mux.initialize_result or {}).get("serverInfo", {})
        result["_meta"] = {**(result.get("_meta") or {}), SERVER_INFO_META_KEY: server_info}
        return {"jsonrpc": "2.0", "id": answer["id"], "result": result}, 200


# subscriptions/listen: the notification kinds a client can opt in to, by the filter key that asks for them.
_LISTEN_KINDS = {"notifications/tools/list_changed": "toolsListChanged",
                 "notifications/prompts/list_changed": "promptsListChanged",
                 "notifications/resources/list_changed": "resourcesListChanged"}
_RETRY_MS = 1000  # how long a client waits before resuming a dropped stream (the SSE ``retry`` field)
_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no")]


async def _answer(send: Send, events: MemoryObjectReceiveStream[dict[str, Any]],
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
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *headers]})
        while "method" in message:
            await send({"type": "http.response.body", "body": _sse_event(message), "more_body": True})
            message = await events.receive()
        body, _ = finish(message)
        await send({"type": "http.response.body", "body": _sse_event(body), "more_body": False})
    except anyio.EndOfStream:
        logger.debug("the client hung up before its answer arrived")


async def _on_disconnect(receive: Receive, hang_up: Callable[[], None]) -> None:
    """Stop waiting for an answer the client can no longer receive. Runs beside the handler (the server's
    task group, no cancel scope: that costs more than the rest of a request); uvicorn's ``receive`` returns
    ``http.disconnect`` once the response is complete too, so this ends with every request. A body not
    read yet (a GET's empty one) comes first and is skipped."""
    while (await receive())["type"] != "http.disconnect":
        continue
    hang_up()


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


# Scope keys: the request was audited already (don't audit its HTTP refusal again); the method its body named.
_AUDITED = "mcpctl.audited"
_METHOD = "mcpctl.method"
_MCP_PATHS = frozenset({"/mcp", "/mcp/", "/sse", "/messages", "/messages/"})


def _audit_refusals(app: ASGIApp, mux: Multiplexer) -> ASGIApp:
    """Audit every request the front refuses with an HTTP error (foreign Host or Origin, too large, not
    JSON-RPC, unknown session, the transports' own 4xx): one record each, with the method when the body
    named one and nothing else from the body. Health and metrics probes are audited only when refused
    for their Host or Origin, so a readiness probe of a stopped server does not fill the log."""

    async def audited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope.get(_AUDITED):
                status = int(message["status"])
                outcome = refusal_outcome(status)
                if status >= 400 and (scope["path"] in _MCP_PATHS or outcome in ("refused", "too_large")):
                    scope[_AUDITED] = True
                    request = Request(scope)
                    mux.record_refusal(method=scope.get(_METHOD, ""), outcome=outcome,
                                       session_id=request.headers.get("mcp-session-id", "")[:64],
                                       trace_id=_trace_id(request))
            await send(message)

        await app(scope, receive, watch)

    return audited


# A body that is not JSON: the transports answer it with their parse errors.
_UNPARSED: Any = object()


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _UNPARSED


async def _refused_body(mux: Multiplexer, body: bytes, decoded: Any, session_id: str | None, scope: Scope,
                        receive: Receive, send: Send) -> bool:
    """Answer (and audit) a JSON body that is no JSON-RPC message the proxy can relay: a request whose id
    is null, a boolean, a float or an object (a transport would take it for a notification and never
    answer), or one holding a string that is not Unicode. Whether it was refused."""
    reason = None if decoded is _UNPARSED else invalid_body_reason(body, decoded)
    if reason is None:
        return False
    single = decoded if isinstance(decoded, dict) else {}
    request_id = single.get("id") if is_request_id(single.get("id")) else None
    method = single.get("method")
    scope[_AUDITED] = True
    mux.record_refusal(method=method[:200] if isinstance(method, str) else "", outcome="invalid",
                       session_id=session_id or "", trace_id=_trace_id(Request(scope)))
    await _respond(_jsonrpc_error(request_id, INVALID_REQUEST, f"Invalid Request: {reason}", status=400),
                   scope, receive, send)
    return True


def _plain_request(decoded: Any) -> dict[str, Any] | None:
    """The decoded body when it is one well-formed JSON-RPC request the proxy can stream by itself;
    ``initialize`` stays with the transport, which owns session setup."""
    if not (isinstance(decoded, dict) and decoded.get("jsonrpc") == "2.0" and isinstance(decoded.get("method"), str)
            and decoded["method"] != "initialize" and isinstance(decoded.get("id"), str | int)
            and not isinstance(decoded["id"], bool) and set(decoded) <= {"jsonrpc", "id", "method", "params"}):
        return None
    return decoded if isinstance(decoded.get("params", {}), dict) else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for a handler that must read a body this module already read."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _sse_event(message: dict[str, Any], event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\r\n" if event_id is not None else ""
    return f"{head}event: message\r\ndata: {json.dumps(message, separators=(',', ':'))}\r\n\r\n".encode()


def _modernize(method: str, version: str, result: dict[str, Any]) -> dict[str, Any]:
    """Shape a handshake-era result for the stateless revision: ``resultType`` always, cache hints where the
    method's result is cacheable (``ttlMs`` 0 and ``private``: the proxy cannot know better than "fresh")."""
    result = {"resultType": "complete", **result}
    for candidate in (result, {"ttlMs": 0, "cacheScope": "private", **result}):
        try:
            return serialize_server_result(method, version, candidate)
        except ValidationError:
            continue
        except (KeyError, ValueError):
            break
    logger.debug("no %s result shape for %s; relaying it as the server sent it", version, method)
    return result


class SseEndpoint:
    """/sse and /messages/: the 2024-11-05 transport, still what some clients speak."""

    def __init__(self, mux: Multiplexer, settings: TransportSecuritySettings) -> None:
        self.mux = mux
        self.transport = SseServerTransport("/messages/", security_settings=settings)

    async def connect(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.transport.connect_sse(scope, receive, send) as (read_stream, write_stream):
            await relay(self.mux, read_stream, write_stream)

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        if await _refused_body(self.mux, body, _decode(body), None, scope, receive, send):
            return
        await self.transport.handle_post_message(scope, _replay(body, receive), send)


def build_app(mux: Multiplexer, *, port: int, task_group: Callable[[], anyio.abc.TaskGroup],
              max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE) -> ASGIApp:
    """The whole ASGI app: routing by path, then Host/Origin validation and the body limit on everything."""
    settings = security_settings(port)
    guard = TransportSecurityMiddleware(settings)
    streamable = StreamableHttpEndpoint(mux, settings, task_group)
    sse = SseEndpoint(mux, settings)

    async def live(scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(JSONResponse({"status": "ok"}), scope, receive, send)

    async def ready(scope: Scope, receive: Receive, send: Send) -> None:
        answering = await mux.ping(timeout=2.0)
        body = {"status": "ready" if answering else "not ready", "server": mux.server_name,
                "backend": mux.factory.description, "error": None if answering else mux.last_error}
        await _respond(JSONResponse(body, status_code=200 if answering else 503), scope, receive, send)

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(PlainTextResponse(mux.metrics.render(), media_type="text/plain; version=0.0.4"),
                       scope, receive, send)

    routes: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
        "/mcp": streamable, "/mcp/": streamable, "/sse": sse.connect, "/messages": sse.post, "/messages/": sse.post,
        "/health/live": live, "/health/ready": ready, "/metrics": metrics,
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        rejection = await guard.validate_request(Request(scope, receive))
        if rejection is not None:
            await _respond(rejection, scope, receive, send)
            return
        handler = routes.get(scope["path"])
        if handler is None:
            await _respond(PlainTextResponse("Not found", status_code=404), scope, receive, send)
            return
        await handler(scope, receive, send)

    return _audit_refusals(RequestBodyLimitMiddleware(app, max_body_size), mux)
