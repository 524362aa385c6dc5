"""Session-era Streamable HTTP on /mcp (2025-03-26 to 2025-11-25): the proxy's own transport, without the SDK.

One ``HttpSession`` per ``Mcp-Session-Id`` holds the multiplexer session, its bounded replay buffer and its
live streams. A POSTed request is answered on its own SSE stream (a priming event with a ``retry`` field from
2025-11-25 on, then every message related to it, ending with its response); notifications and responses
from the client get 202; GET opens the session's one standalone stream, or with ``Last-Event-ID`` resumes a
dropped stream from the buffer; DELETE ends the session. The 4xx answers are the SDK transport's (missing or
unknown session, Accept, Content-Type, parse and validation errors).

Bounded by design: a session nobody has used for ``idle_timeout`` is closed (transport state, buffer and
multiplexer session reclaimed), at most ``max_sessions`` are open (a new one beyond is answered 503), each
buffer is bounded by events and bytes, and a tool call that outlives its timeout (restarted by each progress
notification) is cancelled at the server and answered with an error.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar
from uuid import uuid4

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from toolhive_py.proxy.auth import CLIENT_SCOPE_KEY, NO_CLIENT
from toolhive_py.proxy.events import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EVENTS,
    DEFAULT_TOTAL_BYTES,
    GET_STREAM,
    ByteBudget,
    EventStore,
    StoredEvent,
    parse_event_id,
)
from toolhive_py.proxy.http.checks import accepts, header, is_json_content, json_error, scope_trace_id, until_disconnect
from toolhive_py.proxy.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, NOT_READY, PARSE_ERROR
from toolhive_py.proxy.mux import ClientSession, Multiplexer, RequestContext
from toolhive_py.proxy.revisions import DEFAULT_NEGOTIATED_VERSION, is_at_least

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

__all__ = ["CALL_TIMED_OUT", "PING_SECONDS", "receive_or_ping", "HttpSession", "SessionEndpoint", "SessionLimits", "SessionTable",
           "sse_frame"]

logger = logging.getLogger(__name__)

RETRY_MS: Final = 1000  # how long a client waits before resuming a dropped stream (the SSE ``retry`` field)
_Item = TypeVar("_Item")
PING_SECONDS: Final = 15.0  # a comment on idle streams, so dead connections are noticed and proxies keep them


async def receive_or_ping(receiver: MemoryObjectReceiveStream[_Item], send: Send,
                          seconds: float = PING_SECONDS) -> _Item | None:
    """The next item for an open SSE stream, or None after ``seconds`` without one, when a comment line has
    been sent so that a dead connection is noticed and intermediaries keep a live one."""
    with anyio.move_on_after(seconds) as idle:
        return await receiver.receive()
    if idle.cancelled_caught:
        await send({"type": "http.response.body", "body": b": ping\r\n\r\n", "more_body": True})
    return None
CALL_TIMED_OUT: Final = -32001  # the SDK's REQUEST_TIMEOUT
_SSE_HEADERS: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache, no-transform"),
                       (b"x-accel-buffering", b"no")]
_FINISHED_KEPT: Final = 256  # completed request streams remembered, to answer a resume whose result was evicted


@dataclass(frozen=True)
class SessionLimits:
    """What bounds the front's sessions; ``tool_timeouts`` overrides ``call_timeout`` per tool (0: none)."""

    idle_timeout: float = 1800.0
    max_sessions: int = 256
    max_events: int = DEFAULT_MAX_EVENTS
    max_event_bytes: int = DEFAULT_MAX_BYTES
    max_buffered_bytes: int = DEFAULT_TOTAL_BYTES  # every session's replay buffer together
    call_timeout: float = 0.0
    tool_timeouts: Mapping[str, float] = field(default_factory=dict)
    # How long a 2026-07-28 client has to answer a session-era server's question (its parked call's life).
    input_timeout: float = 120.0

    def timeout_for(self, message: dict[str, Any]) -> float:
        if message.get("method") != "tools/call":
            return 0.0
        params = message.get("params") or {}
        name = params.get("name") if isinstance(params, dict) else None
        return self.tool_timeouts.get(name, self.call_timeout) if isinstance(name, str) else self.call_timeout



def sse_frame(event_id: str | None, data: bytes) -> bytes:
    head = b"id: " + event_id.encode() + b"\r\n" if event_id is not None else b""
    return head + b"event: message\r\ndata: " + data + b"\r\n\r\n"



def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def _is_message(decoded: Any) -> bool:
    """One JSON-RPC 2.0 request, notification or response (what the SDK transport validates)."""
    if not isinstance(decoded, dict) or decoded.get("jsonrpc") != "2.0":
        return False
    if "method" in decoded:
        return isinstance(decoded["method"], str) and isinstance(decoded.get("params", {}), dict)
    return "id" in decoded and ("result" in decoded) != ("error" in decoded)


class HttpSession:
    """One session-era client: its multiplexer session, replay buffer, live streams and calls in flight."""

    def __init__(self, mux: Multiplexer, limits: SessionLimits, budget: ByteBudget | None = None) -> None:
        self.id = uuid4().hex
        self.mux = mux
        self.store = EventStore(max_events=limits.max_events, max_bytes=limits.max_event_bytes, budget=budget)
        self.client: ClientSession = mux.open_session(self._deliver, session_id=self.id)
        self.inflight: dict[Any, int] = {}  # request id -> its stream
        self.streams: dict[int, list[Any]] = {}  # stream -> its requests (a batch's several) not answered yet
        self._requests: dict[int, list[Any]] = {}  # stream -> all its requests, while any is in flight
        self.finished: OrderedDict[int, list[Any]] = OrderedDict()
        self.listeners: dict[int, MemoryObjectSendStream[StoredEvent]] = {}
        self.deadlines: dict[Any, tuple[float, float]] = {}  # request id -> (deadline, timeout)
        self.busy = 0
        self.last_active = time.monotonic()
        self.closed = False

    def _deliver(self, message: dict[str, Any], related: Any) -> None:
        """File a message from the multiplexer on its stream (the request it relates to, else the standalone
        one), in the buffer and to whoever listens there. A response to a request no longer in flight (it
        timed out) is dropped."""
        stream = self.inflight.get(related, GET_STREAM) if related is not None else GET_STREAM
        response = "method" not in message
        if response and stream == GET_STREAM:
            logger.debug("session %s: dropped an answer to %r, no longer in flight", self.id, related)
            return
        answered = response and message.get("id") == related
        final = answered and self.streams.get(stream) == [related]  # a batch's stream ends with its last answer
        if related in self.deadlines and not answered:
            _, timeout = self.deadlines[related]
            self.deadlines[related] = (time.monotonic() + timeout, timeout)  # progress restarts the clock
        event = self.store.append(stream, _encode(message), final=final)
        if answered:
            self._answered(related, stream)
        listener = self.listeners.get(stream)
        if listener is not None:
            try:
                listener.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.listeners.pop(stream, None)

    def _answered(self, request_id: Any, stream: int) -> None:
        self.inflight.pop(request_id, None)
        self.deadlines.pop(request_id, None)
        waiting = self.streams.get(stream, [])
        if request_id in waiting:
            waiting.remove(request_id)
        if not waiting:
            self.streams.pop(stream, None)
            self.finished[stream] = self._requests.pop(stream, [request_id])
            while len(self.finished) > _FINISHED_KEPT:
                self.finished.popitem(last=False)

    def begin(self, requests: list[tuple[Any, float]]) -> int:
        """Open one stream for ``requests`` (id, call timeout; one, or a batch's several)."""
        stream = self.store.open_stream()
        self.streams[stream] = [request_id for request_id, _ in requests]
        self._requests[stream] = list(self.streams[stream])
        for request_id, timeout in requests:
            self.inflight[request_id] = stream
            if timeout > 0:
                self.deadlines[request_id] = (time.monotonic() + timeout, timeout)
        return stream

    def listen(self, stream: int) -> tuple[MemoryObjectSendStream[StoredEvent], MemoryObjectReceiveStream[StoredEvent]]:
        """A fresh receiver of ``stream``'s live events (replacing a listener whose client went away)."""
        sender, receiver = anyio.create_memory_object_stream[StoredEvent](math.inf)
        previous = self.listeners.get(stream)
        if previous is not None:
            previous.close()
        self.listeners[stream] = sender
        return sender, receiver

    def unlisten(self, stream: int, sender: MemoryObjectSendStream[StoredEvent]) -> None:
        if self.listeners.get(stream) is sender:
            del self.listeners[stream]
        sender.close()

    async def expire_calls(self, now: float) -> None:
        """Cancel the calls past their deadline at the server, and answer each with an error."""
        for request_id, (deadline, timeout) in list(self.deadlines.items()):
            if deadline > now or request_id not in self.inflight:
                continue
            del self.deadlines[request_id]
            await self.mux.from_client(self.client, {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {
                "requestId": request_id, "reason": f"no answer within {timeout:g}s"}})
            self._deliver({"jsonrpc": "2.0", "id": request_id, "error": {
                "code": CALL_TIMED_OUT, "message": f"The tool call got no answer within {timeout:g}s (the proxy's "
                                                   "call timeout, restarted by each progress notification)."}},
                          request_id)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sender in list(self.listeners.values()):
            sender.close()
        self.listeners.clear()
        self.store.clear()
        with anyio.CancelScope(shield=True):
            await self.mux.close_session(self.client)


class SessionTable:
    """Every session the front holds (Streamable HTTP and legacy SSE), for the cap and the idle reaper."""

    def __init__(self, mux: Multiplexer, limits: SessionLimits, task_group: Callable[[], anyio.abc.TaskGroup]) -> None:
        self.mux = mux
        self.limits = limits
        self.task_group = task_group
        self.sessions: dict[str, HttpSession] = {}
        self.budget = ByteBudget(limits.max_buffered_bytes)
        self.streaming = 0  # legacy SSE sessions, which live exactly as long as their connection
        self._reaping = False

    def is_full(self) -> bool:
        return len(self.sessions) + self.streaming >= self.limits.max_sessions

    def open(self) -> HttpSession:
        session = HttpSession(self.mux, self.limits, self.budget)
        self.sessions[session.id] = session
        if not self._reaping:
            self._reaping = True
            self.task_group().start_soon(self._reap)
        return session

    async def close(self, session: HttpSession) -> None:
        self.sessions.pop(session.id, None)
        await session.close()

    async def _reap(self) -> None:
        """Close idle sessions and expire overdue calls, on a tick far shorter than either bound."""
        tick = max(0.05, min(1.0, self.limits.idle_timeout / 4))
        while True:
            await anyio.sleep(tick)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if session.busy == 0 and now - session.last_active > self.limits.idle_timeout:
                    logger.info("session %s idle for %.0fs: closed", session.id, now - session.last_active)
                    await self.close(session)
                elif session.deadlines:
                    await session.expire_calls(now)


class SessionEndpoint:
    """/mcp for session-era clients."""

    def __init__(self, table: SessionTable) -> None:
        self.table = table
        self.mux = table.mux

    async def handle(self, body: bytes, decoded: Any, unparsed: bool, scope: Scope, receive: Receive,
                     send: Send) -> None:
        """One HTTP request whose body (a POST's) the app has read and decoded already."""
        method = scope["method"]
        session_id = header(scope, b"mcp-session-id")
        session = self.table.sessions.get(session_id) if session_id is not None else None
        if method not in ("POST", "GET", "DELETE"):
            await json_error(send, 405, INVALID_REQUEST, "Method Not Allowed",
                             headers=[(b"allow", b"GET, POST, DELETE")])
            return
        if method == "POST":
            # JSON-RPC batches exist only in 2025-03-26 (2025-06-18 removed them).
            batches = session is not None and session.client.protocol_version == "2025-03-26"
            refusal = self._post_refusal(scope, decoded, unparsed, batches=batches)
            if refusal is not None:
                await json_error(send, *refusal)
                return
            if session_id is None and isinstance(decoded, dict) and decoded.get("method") == "initialize" \
                    and "id" in decoded:
                await self._open(decoded, scope, receive, send)
                return
        if session_id is None:
            await json_error(send, 400, INVALID_REQUEST, "Bad Request: Missing session ID")
            return
        if session is None:
            await json_error(send, 404, INVALID_REQUEST, "Session not found")
            return
        session.busy += 1
        session.last_active = time.monotonic()
        try:
            if method == "POST":
                await self._post(session, decoded, scope, receive, send)
            elif method == "GET":
                await self._get(session, scope, receive, send)
            else:
                await self.table.close(session)
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
        finally:
            session.busy -= 1
            session.last_active = time.monotonic()

    @staticmethod
    def _post_refusal(scope: Scope, decoded: Any, unparsed: bool, *, batches: bool) -> tuple[int, int, str] | None:
        has_json, has_sse = accepts(scope)
        if not (has_json and has_sse):
            return 406, INVALID_REQUEST, "Not Acceptable: Client must accept both application/json and text/event-stream"
        if not is_json_content(scope):
            return 400, INVALID_REQUEST, "Invalid Content-Type header: must be application/json"
        if unparsed:
            return 400, PARSE_ERROR, "Parse error: the body is not JSON"
        if isinstance(decoded, list) and not batches:
            return 400, INVALID_PARAMS, "Validation error: batches are not part of this revision"
        if isinstance(decoded, list):
            if not decoded or not all(_is_message(item) for item in decoded):
                return 400, INVALID_REQUEST, "Invalid Request: a batch holds one or more JSON-RPC messages"
            if any(item.get("method") == "initialize" for item in decoded):
                return 400, INVALID_REQUEST, "Invalid Request: initialize cannot be part of a batch"
            return None
        if not _is_message(decoded):
            return 400, INVALID_PARAMS, "Validation error: not a JSON-RPC 2.0 message"
        return None

    async def _open(self, message: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> None:
        if self.table.is_full():
            limit = self.table.limits.max_sessions
            await json_error(send, 503, NOT_READY, f"The proxy holds its limit of {limit} sessions; close one "
                             "(DELETE) or retry once an idle one has expired.", request_id=message.get("id"),
                             headers=[(b"retry-after", b"5")])
            return
        session = self.table.open()
        session.busy += 1
        try:
            answered = await self._request(session, [message], scope, receive, send)
        finally:
            session.busy -= 1
            session.last_active = time.monotonic()
        if answered is None or "error" in json.loads(answered.data or b"{}"):
            await self.table.close(session)  # no session without a handshake its client saw succeed

    async def _post(self, session: HttpSession, decoded: dict[str, Any] | list[dict[str, Any]], scope: Scope,
                    receive: Receive, send: Send) -> None:
        messages = decoded if isinstance(decoded, list) else [decoded]
        ids = [message["id"] for message in messages if "method" in message and "id" in message]
        if ids:
            if len(set(map(repr, ids))) < len(ids) or any(request_id in session.inflight for request_id in ids):
                await json_error(send, 400, INVALID_REQUEST, "Invalid Request: a request id is in flight already",
                                 request_id=ids[0] if len(ids) == 1 else None)
                return
            await self._request(session, messages, scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-length", b"0"), (b"mcp-session-id", session.id.encode())]})
        await send({"type": "http.response.body", "body": b""})
        for message in messages:
            await self.mux.from_client(session.client, message, _context(scope))

    async def _request(self, session: HttpSession, messages: list[dict[str, Any]], scope: Scope, receive: Receive,
                       send: Send) -> StoredEvent | None:
        """Answer a request (or a batch's requests) on its own SSE stream, which ends with the last answer;
        that final event when it was sent. A client that hangs up leaves the stream in the buffer, for a GET
        with Last-Event-ID."""
        requests = [message for message in messages if "method" in message and "id" in message]
        message = requests[0]
        request_id = message["id"]
        if message["method"] == "initialize":
            params = message.get("params") or {}
            version = str(params.get("protocolVersion", DEFAULT_NEGOTIATED_VERSION))
        else:
            version = header(scope, b"mcp-protocol-version") or DEFAULT_NEGOTIATED_VERSION
        stream = session.begin([(request["id"], self.table.limits.timeout_for(request)) for request in requests])
        sender, receiver = session.listen(stream)
        # Stored before the request goes out, so it precedes anything the server sends for it.
        priming = session.store.append(stream, None) if is_at_least(version, "2025-11-25") else None
        self.table.task_group().start_soon(until_disconnect, receive, lambda: session.unlisten(stream, sender))
        started = False
        try:
            for each in messages:
                await self.mux.from_client(session.client, each, _context(scope))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*_SSE_HEADERS, (b"mcp-session-id", session.id.encode())]})
            started = True
            if priming is not None:
                await send({"type": "http.response.body", "more_body": True,
                            "body": f"id: {priming.event_id}\r\nretry: {RETRY_MS}\r\ndata: \r\n\r\n".encode()})
            while True:
                event = await receiver.receive()
                await send({"type": "http.response.body", "body": sse_frame(event.event_id, event.data or b""),
                            "more_body": not event.final})
                if event.final:
                    return event
        except anyio.EndOfStream:
            logger.debug("session %s: request %r's stream ended before its answer", session.id, request_id)
            if started:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return None
        finally:
            session.unlisten(stream, sender)

    async def _get(self, session: HttpSession, scope: Scope, receive: Receive, send: Send) -> None:
        if not accepts(scope)[1]:
            await json_error(send, 406, INVALID_REQUEST, "Not Acceptable: Client must accept text/event-stream")
            return
        last_event_id = header(scope, b"last-event-id")
        replayed: list[StoredEvent] = []
        request_ids: list[Any] = []
        if last_event_id:
            parsed = parse_event_id(last_event_id)
            if parsed is None or not session.store.is_known_stream(parsed[0]):
                await json_error(send, 400, INVALID_REQUEST, "Bad Request: this session issued no such Last-Event-ID")
                return
            stream, seq = parsed
            replayed = session.store.after(stream, seq)
            request_ids = list(session.streams.get(stream, session.finished.get(stream, [])))
        else:
            stream = GET_STREAM
        live = stream == GET_STREAM and GET_STREAM not in session.listeners or stream in session.streams
        if stream == GET_STREAM and not last_event_id and not live:
            await json_error(send, 409, INVALID_REQUEST, "Conflict: Only one SSE stream is allowed per session")
            return
        # Replay and live tail are taken in one step: nothing stored in between is missed or sent twice.
        sender, receiver = session.listen(stream) if live else (None, None)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_SSE_HEADERS, (b"mcp-session-id", session.id.encode())]})
        try:
            for event in replayed:
                await send({"type": "http.response.body", "body": sse_frame(event.event_id, event.data or b""),
                            "more_body": True})
            if any(event.final for event in replayed):
                return
            if sender is None or receiver is None:
                replayed_answers = {repr(json.loads(event.data).get("id")) for event in replayed
                                    if event.data is not None and b'"method"' not in event.data}
                for request_id in request_ids:  # answers evicted from the buffer
                    if stream != GET_STREAM and repr(request_id) not in replayed_answers:
                        lost = {"jsonrpc": "2.0", "id": request_id, "error": {"code": INTERNAL_ERROR, "message": (
                            "The answer to this request no longer fits the proxy's replay buffer; send it again.")}}
                        await send({"type": "http.response.body", "body": sse_frame(None, _encode(lost)),
                                    "more_body": True})
                return
            await self._follow(session, stream, sender, receiver, receive, send)
        finally:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _follow(self, session: HttpSession, stream: int, sender: MemoryObjectSendStream[StoredEvent],
                      receiver: MemoryObjectReceiveStream[StoredEvent], receive: Receive, send: Send) -> None:
        """Send ``stream``'s live events until its final one, the client hangs up or the session ends."""
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(until_disconnect, receive, watchers.cancel_scope.cancel)
            try:
                while True:
                    event = await receive_or_ping(receiver, send)
                    if event is None:
                        continue
                    await send({"type": "http.response.body", "body": sse_frame(event.event_id, event.data or b""),
                                "more_body": True})
                    if event.final:
                        break
            except anyio.EndOfStream:
                pass
            finally:
                session.unlisten(stream, sender)
            watchers.cancel_scope.cancel()


def _context(scope: Scope) -> RequestContext:
    """What the audit record of a request names: its trace id and the client credential it carried."""
    return RequestContext(trace_id=scope_trace_id(scope), client=str(scope.get(CLIENT_SCOPE_KEY, NO_CLIENT)))
