"""Many client sessions on one MCP server: request-id rewriting and routing of everything the server sends.

The proxy initializes the server once and answers each client's ``initialize`` from that result. A
client request gets a fresh backend id; its response, progress and any server→client request raised
while it runs go back to that session only. List-changed and logging notifications go to every session.

Two lanes reach the server. The handshake lane is the connection opened with ``initialize`` (the
session-era revisions). The modern lane (``lanes.py``), where the backend has one, is a second
connection in the 2026-07-28 era, probed with ``server/discover``: ``Multiplexer.modern`` relays one
2026-07-28 request on it natively. Both lanes share one request path (``_client_request`` and
``_server_response``): the tool policy, the guards, metrics and the audit trail decide once for both,
and backend ids come from one counter, so a response finds its request whichever lane it came by.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import anyio

from toolhive_py.proxy.audit import AuditLog, AuditRecord, Outcome, outcome_of, target_of
from toolhive_py.proxy.backends import Backend, BackendClosed, BackendFactory
from toolhive_py.proxy.guard import Guard, guard_message, guard_request, guard_result
from toolhive_py.proxy.jsonrpc import INVALID_REQUEST, METHOD_NOT_FOUND, NOT_READY, SECRET_WITHHELD
from toolhive_py.proxy.lanes import (
    MODERN_VERSION,
    ModernLane,
    discover_request,
    envelope_of,
    lane_for,
    subscription_of,
    versions_of,
    with_subscription,
)
from toolhive_py.proxy.metrics import Metrics
from toolhive_py.proxy.policy import RateLimiter, Refusal, ToolPolicy, check_tool_call
from toolhive_py.proxy.revisions import HANDSHAKE_PROTOCOL_VERSIONS
from toolhive_py.proxy.subscriptions import SubscriptionTable
from toolhive_py.proxy.turns import Turns

__all__ = ["BACKEND_PROTOCOL_VERSION", "ClientSession", "Deliver", "DeliverModern", "Multiplexer", "RequestContext",
           "RequestRefused"]

logger = logging.getLogger(__name__)

BACKEND_PROTOCOL_VERSION = HANDSHAKE_PROTOCOL_VERSIONS[-1]
PROXY_INFO = {"name": "mcpctl-proxy", "version": "1"}
_TOOL_PAGES = 20  # pages of tools/list the proxy reads for itself
# Requests during which a server may ask the client something, and the capabilities that let it ask.
_TURN_METHODS = frozenset({"tools/call", "prompts/get", "resources/read", "completion/complete"})
_QUESTIONS = ("sampling", "elicitation", "roots")
_LANE_WAIT_S = 10.0  # how long a 2026-07-28 request waits for a modern lane that is (re)starting


# Queues (message, related client request id or None) for one session. It must not block: a slow client
# must never hold up the server's output for the others, so fronts give each session its own outbox.
Deliver = Callable[[dict[str, Any], Any], None]
# Queues one message of a 2026-07-28 request relayed on the modern lane; must not block either.
DeliverModern = Callable[[dict[str, Any]], None]
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class RequestRefused(BackendClosed):
    """The server answered one of the proxy's own requests with an error (it is still there)."""


@dataclass
class RequestContext:
    """What the front knows about one HTTP request: used for the audit trail only."""

    trace_id: str = ""
    client: str = "-"  # the client credential the request carried (proxy.auth), "-" for none


@dataclass
class ClientSession:
    id: str
    deliver: Deliver
    protocol_version: str = BACKEND_PROTOCOL_VERSION
    client_name: str | None = None
    client_version: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    # server→client requests we relayed to this session: front id -> backend id
    relayed: dict[Any, Any] = field(default_factory=dict)
    # called when the server goes away: state the server held for this session (subscriptions) is gone
    on_backend_down: Callable[[], None] | None = None
    # one 2026-07-28 request on the modern lane (never in Multiplexer.sessions: nothing is broadcast to it)
    modern: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> str:
        return f"mcpctl-{next(self._ids)}"


@dataclass
class _Pending:
    session: ClientSession
    client_id: Any
    method: str
    target: str | None
    started: float
    trace_id: str
    progress_token: Any = None
    progress_route: str | None = None  # the token's key in Multiplexer._progress (as the server sees it)
    client: str = "-"
    headers: Mapping[str, str] = field(default_factory=dict)  # the caller's HTTP headers (a modern lane over HTTP)

    @property
    def modern(self) -> bool:
        return self.session.modern


class Multiplexer:
    def __init__(self, factory: BackendFactory, *, server_name: str, policy: ToolPolicy | None = None,
                 audit: AuditLog | None = None, metrics: Metrics | None = None,
                 guards: Sequence[Guard] = ()) -> None:
        self.factory = factory
        self.server_name = server_name
        self.policy = policy or ToolPolicy()
        self.guards = tuple(guards)
        self.limiter = RateLimiter(self.policy.rate_limit) if self.policy.rate_limit else None
        self.audit = audit
        self.metrics = metrics or Metrics()
        self.sessions: dict[str, ClientSession] = {}
        self.initialize_result: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._backend: Backend | None = None
        self._ready = anyio.Event()
        self._pending: dict[int, _Pending] = {}
        self._internal: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._progress: dict[str, tuple[ClientSession, Any]] = {}
        self.subscriptions = SubscriptionTable()
        self._ids = itertools.count(1)
        self._turns: Turns[tuple[_Pending, dict[str, Any]]] = Turns()
        self._stopping = False
        lane = lane_for(factory)
        self._lane_factory = None if isinstance(lane, str) else lane
        # Why 2026-07-28 requests cannot be relayed natively (None while they can, or before the probe).
        self.modern_unavailable: str | None = lane if isinstance(lane, str) else None
        self._lane: ModernLane | None = None
        self.discover_result: dict[str, Any] | None = None
        self._probed = anyio.Event()
        self._connected = anyio.Event()  # set, and replaced, whenever the handshake lane is ready afresh
        self._lane_up = anyio.Event()  # set while the modern lane is up
        self._lane_refused = False  # the server answered server/discover without 2026-07-28

    # ----- lifecycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float) -> bool:
        with anyio.move_on_after(timeout):
            await self._ready.wait()
        return self.ready

    @property
    def backend_versions(self) -> tuple[str, ...]:
        """The revisions the server speaks, oldest first (empty until probed): the one its ``initialize``
        agreed on, and those its ``server/discover`` on the modern lane listed."""
        legacy = (self.initialize_result or {}).get("protocolVersion")
        return versions_of(legacy, (self.discover_result or {}).get("supportedVersions"))

    @property
    def speaks_modern(self) -> bool:
        """Whether ``modern`` relays 2026-07-28 requests natively now: the modern lane is up and its server
        said it speaks that revision. False otherwise (``modern_unavailable`` says why): translate."""
        return self._lane is not None

    async def wait_probed(self, timeout: float) -> bool:
        """Wait until the backend's revisions are known (``backend_versions``, ``speaks_modern``)."""
        with anyio.move_on_after(timeout):
            await self._probed.wait()
        return self._probed.is_set()

    async def run(self, *, max_backoff: float = 5.0) -> None:
        """Connect, initialize and pump server messages; reconnect with backoff whenever the stream ends.
        The modern lane, where there is one, runs beside it.

        Nothing a connection raises ends this loop: the proxy keeps answering (not ready) and tries again.
        """
        async with anyio.create_task_group() as tg:
            if self._lane_factory is not None:
                tg.start_soon(self._run_lane, max_backoff)
            await self._run_handshake_lane(max_backoff)
            tg.cancel_scope.cancel()

    async def _run_handshake_lane(self, max_backoff: float) -> None:
        backoff = 0.2
        connections = 0
        while not self._stopping:
            try:
                async with self.factory.connect() as backend:
                    if connections:
                        self.metrics.backend_restarts += 1
                    connections += 1
                    if await self._serve(backend):
                        backoff = 0.2
            except Exception as exc:
                self.last_error = str(exc) or type(exc).__name__
                if isinstance(exc, BackendClosed):
                    logger.info("server not reachable: %s", exc)
                else:
                    logger.exception("the connection to the server failed")
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)

    async def _serve(self, backend: Backend) -> bool:
        """Initialize the server on a fresh connection and route its messages until the connection ends;
        whether the server got ready on it."""
        self._backend = backend
        ready = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump, backend, tg.cancel_scope)
                try:
                    await self._initialize_backend()
                    await self._resubscribe()
                    await self._learn_tools()
                except BackendClosed as exc:
                    self.last_error = str(exc)
                    tg.cancel_scope.cancel()
                else:
                    ready = True
                    self.last_error = None
                    self._ready.set()
                    self.metrics.backend_ready = True
                    logger.info("server ready: %s", self.factory.description)
                    connected, self._connected = self._connected, anyio.Event()
                    connected.set()
                    if self._lane_factory is None:
                        self._probed.set()
        finally:
            self._mark_down(self.last_error or "the server stream ended")
            self._backend = None
        return ready

    def stop(self) -> None:
        self._stopping = True

    def _mark_down(self, reason: str) -> None:
        if self._ready.is_set():
            self._ready = anyio.Event()
        self.metrics.backend_ready = False
        failed = self._fail_pending(lambda pending: not pending.modern)
        for entry in [*failed.values(), *(waiting for waiting, _ in self._turns.clear())]:
            self._reply_error(entry, NOT_READY, f"The MCP server went away: {reason}", outcome="error")
        for event, box in self._internal.values():
            box.append({"error": {"code": NOT_READY, "message": reason}})
            event.set()
        self._internal.clear()
        for session in list(self.sessions.values()):
            if session.on_backend_down is not None:
                session.on_backend_down()

    def _fail_pending(self, which: Callable[[_Pending], bool]) -> dict[int, _Pending]:
        """Forget the requests ``which`` picks (a lane or a caller went away) and their progress routes; they
        are returned by backend id, to be answered or cancelled."""
        failed = {backend_id: p for backend_id, p in self._pending.items() if which(p)}
        for backend_id in failed:
            del self._pending[backend_id]
        sessions = {id(p.session) for p in failed.values()}
        self._progress = {token: route for token, route in self._progress.items() if id(route[0]) not in sessions}
        return failed

    # ----- the modern lane ---------------------------------------------------------------------------

    async def _run_lane(self, max_backoff: float) -> None:
        """Keep the modern lane up: opened once the handshake lane is ready (so the two never compete for
        the start-up), probed with ``server/discover`` and reopened with backoff when it ends. A lane that
        ``follows_handshake`` (HTTP: a recreated container has another port) is probed again whenever the
        handshake lane reconnects; a second process lives on its own and is restarted only when it ends."""
        assert self._lane_factory is not None  # noqa: S101 - run() starts this only with a lane
        backoff = 0.2
        while not self._stopping:
            connected = self._connected
            if not self.ready:
                await connected.wait()
                continue
            try:
                async with self._lane_factory.connect() as lane:
                    modern = await self._serve_lane(lane)
                if not modern:
                    await self._connected.wait()  # not 2026-07-28 (lane closed): ask again only a new server
                    continue
                backoff = 0.2
            except Exception as exc:
                self.modern_unavailable = f"the 2026-07-28 lane failed: {exc or type(exc).__name__}"
                if not isinstance(exc, BackendClosed):
                    logger.exception("the 2026-07-28 lane to the server failed")
            self._probed.set()
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)

    async def _serve_lane(self, lane: ModernLane) -> bool:
        """Probe a fresh lane and route its messages until it ends; whether it speaks 2026-07-28."""
        modern = False
        reason = "the 2026-07-28 lane closed"
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump_lane, lane, tg.cancel_scope)
                try:
                    result = await self._ask(discover_request(next(self._ids), PROXY_INFO), timeout=30, lane=lane)
                except BackendClosed as exc:
                    result, reason = {}, f"server/discover failed: {exc}"
                versions = result.get("supportedVersions")
                self._lane_refused = bool(result) and (not isinstance(versions, list) or MODERN_VERSION not in versions)
                if not isinstance(versions, list) or MODERN_VERSION not in versions:
                    if result:
                        reason = f"server/discover lists no {MODERN_VERSION}"
                    self.modern_unavailable = f"the server does not speak {MODERN_VERSION} ({reason})"
                    tg.cancel_scope.cancel()
                else:
                    modern = True
                    self.discover_result, self._lane, self.modern_unavailable = result, lane, None
                    self._lane_up.set()
                    logger.info("2026-07-28 lane ready: %s", self._lane_factory.description
                                if self._lane_factory else "")
                self._probed.set()
                if modern and getattr(self._lane_factory, "follows_handshake", False):
                    await self._connected.wait()  # the handshake lane reconnected: probe the new server
                    tg.cancel_scope.cancel()
        finally:
            self._probed.set()
            if self._lane is lane:
                self._lane, self._lane_up = None, anyio.Event()
                self.modern_unavailable = reason
            for pending in self._fail_pending(lambda p: p.modern).values():
                self._reply_error(pending, NOT_READY, f"The MCP server's 2026-07-28 lane went away: {reason}",
                                  outcome="error")
        return modern

    async def _pump_lane(self, lane: ModernLane, scope: anyio.CancelScope) -> None:
        try:
            async for message, related in lane.messages():
                await self._from_lane(message, related)
        except BackendClosed as exc:
            logger.info("the 2026-07-28 lane ended: %s", exc)
        except Exception:
            logger.exception("routing a message of the 2026-07-28 lane failed; reconnecting")
        scope.cancel()

    async def modern(self, message: dict[str, Any], context: RequestContext | None, deliver: DeliverModern, *,
                     headers: Mapping[str, str] = _NO_HEADERS) -> None:
        """Relay ONE 2026-07-28 request natively on the modern lane and deliver every message of it.

        The envelope and params go on untouched; only the id is rewritten (concurrent callers may use the
        same ids; a progress token too, but only while another running request uses the same one) and
        restored on the way back: the response, its progress, log messages, and for
        ``subscriptions/listen`` (whose subscription id is the request id) the ``_meta`` subscription id of
        every notification of the stream. The request takes the same path as a session's: tool policy,
        guards, metrics and one audit record (client name and version from the envelope, ``context.client``
        as given). ``headers`` are the caller's HTTP headers: a modern lane over HTTP passes its
        ``Mcp-Param-*`` ones on. Returns once the final response was delivered; cancelling the caller
        (a client that hung up) cancels the server's request. Decide with ``await wait_probed(timeout)``
        then ``speaks_modern`` (the lane opens after the handshake lane is ready); a lane that is starting
        or coming back is waited for up to 10 s, and without one the answer is a NOT_READY error.

            await mux.modern(body, RequestContext(trace_id=t, client=c), outbox.send_nowait,
                             headers=request.headers)
        """
        method = message.get("method")
        if not isinstance(method, str) or "id" not in message:
            raise ValueError("Multiplexer.modern relays requests (a method and an id)")
        client_id, done = message["id"], anyio.Event()

        def relay(reply: dict[str, Any], related: Any) -> None:
            deliver(reply)
            if "method" not in reply and reply.get("id") == client_id:
                done.set()

        session = ClientSession(secrets.token_hex(16), relay, modern=True)
        envelope = envelope_of(message.get("params"))
        if envelope is not None:
            session.protocol_version, info, session.capabilities = envelope
            session.client_name, session.client_version = _text(info.get("name")), _text(info.get("version"))
        try:
            await self._client_request(session, message, method, context or RequestContext(), headers)
            await done.wait()
        finally:
            if not done.is_set():
                with anyio.CancelScope(shield=True):
                    await self._abandon(session)

    async def _abandon(self, session: ClientSession) -> None:
        """The caller of a modern request went away: the server stops working on it."""
        for backend_id in self._fail_pending(lambda p: p.session is session):
            await self._send_quietly({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                      "params": {"requestId": backend_id, "reason": "the client went away"}},
                                     modern=True)

    async def _pump(self, backend: Backend, scope: anyio.CancelScope) -> None:
        """Route everything the server sends; when its stream ends, end this connection (run() reconnects)."""
        try:
            async for message in backend.messages():
                await self._from_backend(message)
        except BackendClosed as exc:
            self.last_error = str(exc)
        except Exception as exc:
            logger.exception("routing a server message failed; reconnecting")
            self.last_error = f"proxy error: {exc}"
        logger.info("server connection ended: %s", self.last_error)
        scope.cancel()

    async def _initialize_backend(self) -> None:
        result = await self.request("initialize", {
            "protocolVersion": BACKEND_PROTOCOL_VERSION,
            "capabilities": {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}},
            "clientInfo": PROXY_INFO,
        }, timeout=60)
        self.initialize_result = result
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def _resubscribe(self) -> None:
        """A restarted server knows no subscriptions: ask again for every URI a session still wants."""
        for uri in self.subscriptions.uris():
            try:
                await self.request("resources/subscribe", {"uri": uri}, timeout=10)
            except RequestRefused as exc:
                logger.warning("the restarted server refused a subscription to %s: %s", uri, exc)

    async def _learn_tools(self) -> None:
        """List the server's tools once per connection, so /metrics has a series for each of them (and one
        ``other`` for any name a client makes up); clients' own ``tools/list`` answers add later changes."""
        if "tools" not in (self.initialize_result or {}).get("capabilities", {}):
            return
        cursor: Any = None
        for _ in range(_TOOL_PAGES):
            try:
                result = await self.request("tools/list", {"cursor": cursor} if cursor else None, timeout=10)
            except BackendClosed as exc:
                logger.info("could not list the server's tools for metrics: %s", exc)
                return
            tools = result.get("tools")
            if isinstance(tools, list):
                self.metrics.tools_listed(t.get("name") for t in tools if isinstance(t, dict))
            if self.guards:
                # The guards see the list before any client does: pins are taken, changes withheld and
                # descriptions screened even for a client that calls a tool without listing first.
                guard_result(self.guards, "tools/list", None, result)
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                return

    async def subscribe(self, session: ClientSession, uri: str) -> None:
        """Subscribe a session of the proxy's own (a `subscriptions/listen` stream) to a resource."""
        if self.subscriptions.add(uri, session.id):
            try:
                await self.request("resources/subscribe", {"uri": uri}, timeout=10)
            except BackendClosed:
                self.subscriptions.remove(uri, session.id)
                raise

    async def _unsubscribe_quietly(self, uri: str) -> None:
        await self._send_quietly({"jsonrpc": "2.0", "id": next(self._ids), "method": "resources/unsubscribe",
                                  "params": {"uri": uri}})

    async def request(self, method: str, params: dict[str, Any] | None, *, timeout: float) -> dict[str, Any]:
        """A request of the proxy's own (initialize, readiness ping); raises BackendClosed on failure."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        return await self._ask(message, timeout=timeout)

    async def _ask(self, message: dict[str, Any], *, timeout: float, lane: ModernLane | None = None) -> dict[str, Any]:
        """Send a request of the proxy's own on the handshake lane (or on ``lane``) and wait for its result."""
        backend_id, method = message["id"], message["method"]
        event, box = anyio.Event(), list[dict[str, Any]]()
        self._internal[backend_id] = (event, box)
        try:
            if lane is None:
                await self._send(message)
            else:
                await lane.send(message, _NO_HEADERS)
            with anyio.move_on_after(timeout):
                await event.wait()
        finally:
            self._internal.pop(backend_id, None)
        if not box:
            raise BackendClosed(f"no answer to {method} within {timeout:g}s")
        if "error" in box[0]:
            raise RequestRefused(f"{method} failed: {box[0]['error'].get('message')}")
        result: dict[str, Any] = box[0].get("result") or {}
        return result

    async def ping(self, timeout: float = 2.0) -> bool:
        if not self.ready:
            return False
        try:
            await self.request("ping", None, timeout=timeout)
        except BackendClosed:
            return False
        return True

    async def _send(self, message: dict[str, Any], *, modern: bool = False,
                    headers: Mapping[str, str] = _NO_HEADERS) -> None:
        """Write to the handshake lane, or with ``modern`` to the modern lane."""
        if modern:
            if self._lane is None:
                raise BackendClosed(f"the 2026-07-28 lane is not up: {self.modern_unavailable or 'starting'}")
            await self._lane.send(message, headers)
            return
        if self._backend is None:
            raise BackendClosed("not connected")
        await self._backend.send(message)

    # ----- sessions --------------------------------------------------------------------------------

    def open_session(self, deliver: Deliver, *, session_id: str | None = None) -> ClientSession:
        session = ClientSession(session_id or secrets.token_hex(16), deliver)
        self.sessions[session.id] = session
        self.metrics.active_sessions = len(self.sessions)
        return session

    async def close_session(self, session: ClientSession) -> None:
        self.sessions.pop(session.id, None)
        self.metrics.active_sessions = len(self.sessions)
        self._turns.drop_session(session.id)
        for backend_id, pending in list(self._pending.items()):
            if pending.session is session:
                del self._pending[backend_id]
                await self._send_quietly({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                          "params": {"requestId": backend_id, "reason": "client session closed"}})
                await self._turn_over(backend_id)
        for token, (owner, _) in list(self._progress.items()):
            if owner is session:
                del self._progress[token]
        for backend_request in session.relayed.values():
            await self._send_quietly({"jsonrpc": "2.0", "id": backend_request,
                                      "error": {"code": NOT_READY, "message": "client session closed"}})
        for uri in self.subscriptions.drop_session(session.id):
            await self._unsubscribe_quietly(uri)

    async def _send_quietly(self, message: dict[str, Any], *, modern: bool = False) -> None:
        try:
            await self._send(message, modern=modern)
        except BackendClosed:
            pass

    # ----- client → server ---------------------------------------------------------------------------

    async def from_client(self, session: ClientSession, message: dict[str, Any],
                          context: RequestContext | None = None) -> None:
        method = message.get("method")
        if isinstance(method, str) and "id" in message:
            await self._client_request(session, message, method, context or RequestContext())
        elif isinstance(method, str):
            await self._client_notification(session, message, method)
        elif "id" in message:
            backend_id = session.relayed.pop(message["id"], None)
            if backend_id is not None:
                await self._send_quietly({**message, "id": backend_id})

    async def _client_request(self, session: ClientSession, message: dict[str, Any], method: str,
                              context: RequestContext, headers: Mapping[str, str] = _NO_HEADERS) -> None:
        """The one request path of both lanes: policy, guards, readiness, then the server."""
        params = message.get("params")
        pending = _Pending(session, message["id"], method, target_of(method, params), time.perf_counter(),
                           context.trace_id or secrets.token_hex(16), client=context.client, headers=headers)
        if method == "initialize" and not session.modern:
            await self._answer_initialize(session, pending, params if isinstance(params, dict) else {})
            return
        if method == "ping" and not session.modern:
            self._reply(pending, {"jsonrpc": "2.0", "id": pending.client_id, "result": {}}, "ok")
            return
        if method == "tools/call":
            refusal = check_tool_call(self.policy, self.limiter, params)
            if refusal is not None:
                self._reply_error(pending, refusal.code, refusal.message, outcome=refusal.outcome)
                return
        if self.guards:
            checked = guard_request(self.guards, method, params)
            if isinstance(checked, Refusal):
                self._reply_error(pending, checked.code, checked.message, outcome=checked.outcome)
                return
            if checked is not params:
                params = checked
                message = {**message, "params": params}
        if not self.ready:
            self._reply_error(pending, NOT_READY, "The MCP server is not ready (starting or "
                                          f"restarting): {self.last_error or 'initializing'}.", outcome="error")
            return
        if session.modern and self._lane is None and self._lane_factory is not None and not self._lane_refused:
            with anyio.move_on_after(_LANE_WAIT_S):  # the lane is starting or coming back: wait for it a little
                await self._lane_up.wait()
        if session.modern and self._lane is None:
            self._reply_error(pending, NOT_READY, "The MCP server's 2026-07-28 lane is not up: "
                                          f"{self.modern_unavailable or 'starting'}.", outcome="error")
            return
        if session.modern:
            pass  # the server holds a 2026-07-28 subscription itself: it is the subscriptions/listen request
        elif method in ("resources/subscribe", "resources/unsubscribe") and isinstance(pending.target, str):
            changes_server = (self.subscriptions.add if method == "resources/subscribe"
                              else self.subscriptions.remove)(pending.target, session.id)
            if not changes_server:  # another session holds the server's subscription: it stays as it is
                self._reply(pending, {"jsonrpc": "2.0", "id": pending.client_id, "result": {}}, "ok")
                return
        backend_id = next(self._ids)
        outgoing = {**message, "id": backend_id}
        token = _progress_token(params)
        if token is not None:
            # A 2026-07-28 request keeps its own token unless a running request already uses it: its params
            # reach the server as the client wrote them. A session's is always made unique, as before.
            routed = str(token) if session.modern and str(token) not in self._progress else f"{session.id}:{token}"
            pending.progress_token, pending.progress_route = token, routed
            self._progress[routed] = (session, token)
            if routed != str(token) or not isinstance(token, str | int):
                meta = {**params["_meta"], "progressToken": routed}  # type: ignore[index]
                outgoing["params"] = {**params, "_meta": meta}  # type: ignore[dict-item]
        if method in _TURN_METHODS and not session.modern \
                and any(question in session.capabilities for question in _QUESTIONS):
            if not self._turns.admit(session.id, backend_id, (pending, outgoing)):
                return  # another session's call may be asked something: this one starts when that is over
        await self._dispatch(backend_id, pending, outgoing)

    async def _dispatch(self, backend_id: int, pending: _Pending, outgoing: dict[str, Any]) -> None:
        self._pending[backend_id] = pending
        try:
            await self._send(outgoing, modern=pending.modern, headers=pending.headers)
        except BackendClosed as exc:
            self._pending.pop(backend_id, None)
            self._reply_error(pending, NOT_READY, f"The MCP server went away: {exc}", outcome="error")
            await self._turn_over(backend_id)
        except UnicodeEncodeError:
            # A lone surrogate cannot be written as UTF-8. The fronts refuse such bodies first; this keeps
            # any other way in from leaking the pending entry or failing the session.
            self._pending.pop(backend_id, None)
            self._reply_error(pending, INVALID_REQUEST, "Strings must be valid Unicode.", outcome="invalid")
            await self._turn_over(backend_id)
        except BaseException:
            self._pending.pop(backend_id, None)
            raise

    async def _turn_over(self, backend_id: int) -> None:
        """A call that may have been asked something is over: start the calls whose turn it is now."""
        for next_id, (pending, outgoing) in self._turns.finish(backend_id):
            await self._dispatch(next_id, pending, outgoing)

    async def _answer_initialize(self, session: ClientSession, pending: _Pending, params: dict[str, Any]) -> None:
        if not await self.wait_ready(30):
            self._reply_error(pending, NOT_READY, "The MCP server is not ready: "
                                          f"{self.last_error or 'initializing'}.", outcome="error")
            return
        raw_info = params.get("clientInfo")
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        session.client_name = info.get("name")
        session.client_version = info.get("version")
        session.capabilities = params.get("capabilities") or {}
        requested = params.get("protocolVersion")
        session.protocol_version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else BACKEND_PROTOCOL_VERSION
        result = {**(self.initialize_result or {}), "protocolVersion": session.protocol_version}
        self._reply(pending, {"jsonrpc": "2.0", "id": pending.client_id, "result": result}, "ok")

    async def _client_notification(self, session: ClientSession, message: dict[str, Any], method: str) -> None:
        if method == "notifications/initialized":
            return
        if method == "notifications/cancelled":
            params = message.get("params") or {}
            for backend_id, pending in list(self._pending.items()):
                # Request ids are only unique within a session: every client starts counting at 0 or 1.
                if pending.session is session and pending.client_id == params.get("requestId"):
                    # Recorded now: the server may answer late or never, and its answer goes nowhere.
                    del self._pending[backend_id]
                    if pending.progress_route is not None:
                        self._progress.pop(pending.progress_route, None)
                    self._record(pending, "cancelled")
                    await self._send_quietly({**message, "params": {**params, "requestId": backend_id}})
                    await self._turn_over(backend_id)
                    return
            for _, backend_id, (pending, _) in list(self._turns.waiting):
                if pending.session is session and pending.client_id == params.get("requestId"):
                    await self._turn_over(backend_id)  # never sent: the server need not hear of it
                    return
            return
        if self.ready:
            await self._send_quietly(message)

    # ----- server → client ---------------------------------------------------------------------------

    async def _from_backend(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if isinstance(method, str) and "id" in message:
            await self._server_request(message, method)
        elif isinstance(method, str):
            await self._server_notification(message, method)
        elif "id" in message:
            await self._server_response(message)

    async def _server_response(self, message: dict[str, Any]) -> None:
        backend_id = message.get("id")
        if not isinstance(backend_id, int):
            logger.warning("server answered an id the proxy never sent: %.100r", backend_id)
            return
        internal = self._internal.pop(backend_id, None)
        if internal is not None:
            internal[1].append(message)
            internal[0].set()
            return
        pending = self._pending.pop(backend_id, None)
        if pending is None:
            return
        await self._turn_over(backend_id)
        if pending.progress_route is not None:
            self._progress.pop(pending.progress_route, None)
        if pending.method == "resources/subscribe" and "error" in message and isinstance(pending.target, str):
            self.subscriptions.remove(pending.target, pending.session.id)
        reply = {**message, "id": pending.client_id}
        if pending.modern and subscription_of(reply) == backend_id:
            reply = with_subscription(reply, pending.client_id)
        if pending.method == "tools/list" and isinstance(message.get("result"), dict):
            result = message["result"]
            tools = result.get("tools")
            if isinstance(tools, list):
                self.metrics.tools_listed(t.get("name") for t in tools if isinstance(t, dict))
            if not self.policy.is_open:
                reply["result"] = {**result, "tools": self.policy.filter_tools(tools or [])}
        if self.guards and isinstance(reply.get("result"), dict):
            checked = guard_result(self.guards, pending.method, pending.target, reply["result"])
            if isinstance(checked, Refusal):
                self._reply_error(pending, checked.code, checked.message, outcome=checked.outcome)
                return
            reply["result"] = checked
        elif self.guards:
            guarded = guard_message(self.guards, reply)
            if guarded is None:
                self._reply_error(pending, SECRET_WITHHELD, f"The server's error answer to {pending.method} was "
                                  "withheld: it held a secret.", outcome="dlp_withheld")
                return
            reply = guarded
        self._reply(pending, reply, outcome_of(pending.method, message))

    async def _server_notification(self, message: dict[str, Any], method: str) -> None:
        screened = self._screen_notification(message, method)
        if screened is None:
            return
        message, params = screened
        if method == "notifications/cancelled":
            for session in list(self.sessions.values()):
                for front_id, backend_id in list(session.relayed.items()):
                    if backend_id == params.get("requestId"):
                        del session.relayed[front_id]
                        _deliver(session, {**message, "params": {**params, "requestId": front_id}}, None)
            return
        subscribers = (self.subscriptions.subscribers(str(params.get("uri")))
                       if method == "notifications/resources/updated" else frozenset())
        for session in list(self.sessions.values()):
            if not subscribers or session.id in subscribers:
                _deliver(session, message, None)

    def _screen_notification(self, message: dict[str, Any],
                             method: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A server notification as the guards let it through, with its params; None once it is dealt with
        (withheld by a guard, or a progress notification routed to its request). Either lane's first step."""
        if self.guards:
            guarded = guard_message(self.guards, message)
            if guarded is None:
                return None
            message = guarded
        params = message.get("params") or {}
        if method == "notifications/progress":
            self._route_progress(message, params)
            return None
        return message, params

    def _route_progress(self, message: dict[str, Any], params: dict[str, Any]) -> None:
        routed = self._progress.get(str(params.get("progressToken")))
        if routed is not None:
            session, token = routed
            related = next((p.client_id for p in self._pending.values()
                            if p.session is session and p.progress_token == token), None)
            _deliver(session, {**message, "params": {**params, "progressToken": token}}, related)

    async def _from_lane(self, message: dict[str, Any], related: Any) -> None:
        """Route what the modern lane's server sends: responses as on the handshake lane, notifications to
        the request they belong to (``related``, the backend id, when the lane knows it)."""
        method = message.get("method")
        if isinstance(method, str) and "id" in message:
            # The 2026-07-28 era has no server→client requests; a server that sends one gets no client.
            await self._send_quietly({"jsonrpc": "2.0", "id": message["id"], "error": {
                "code": METHOD_NOT_FOUND, "message": f"No client answers {method} in 2026-07-28."}}, modern=True)
        elif isinstance(method, str):
            await self._lane_notification(message, method, related)
        elif "id" in message:
            await self._server_response(message)

    async def _lane_notification(self, message: dict[str, Any], method: str, related: Any) -> None:
        screened = self._screen_notification(message, method)
        if screened is None:
            return
        message, params = screened
        subscription = subscription_of(message)
        if subscription is not None:
            listening = self._pending.get(subscription) if isinstance(subscription, int) else None
            if listening is not None and listening.modern:
                _deliver(listening.session, with_subscription(message, listening.client_id), listening.client_id)
            return
        if method == "notifications/cancelled":
            return  # the server gave up a request: its error response follows
        owner = self._pending.get(related) if isinstance(related, int) else self._only_modern_call()
        if owner is not None and owner.modern:
            _deliver(owner.session, message, owner.client_id)
        else:
            logger.debug("dropped a %s of the 2026-07-28 lane that belongs to no single request", method)

    def _only_modern_call(self) -> _Pending | None:
        """The request a stdio lane's log message belongs to: a stdio stream does not say, so it is known only
        while one request (not counting listen streams) runs on the lane; another client must never get it."""
        running = [p for p in self._pending.values() if p.modern and p.method != "subscriptions/listen"]
        return running[0] if len(running) == 1 else None

    async def _server_request(self, message: dict[str, Any], method: str) -> None:
        if method == "ping":
            await self._send_quietly({"jsonrpc": "2.0", "id": message["id"], "result": {}})
            return
        if self.guards:
            guarded = guard_message(self.guards, message)
            if guarded is None:
                await self._send_quietly({"jsonrpc": "2.0", "id": message["id"], "error": {
                    "code": SECRET_WITHHELD, "message": "mcpctl's proxy did not pass this request on: it held a "
                                                        "secret."}})
                return
            message = guarded
        capability = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation",
                      "roots/list": "roots"}.get(method)
        # The session whose request is running most recently is the one the server is working for.
        candidates = sorted(self._pending.values(), key=lambda p: p.started, reverse=True)
        for pending in candidates:
            session = pending.session
            if session.id not in self.sessions:
                continue
            if capability is not None and capability not in session.capabilities:
                continue
            front_id = session.next_id()
            session.relayed[front_id] = message["id"]
            _deliver(session, {**message, "id": front_id}, pending.client_id)
            return
        await self._send_quietly({"jsonrpc": "2.0", "id": message["id"], "error": {
            "code": METHOD_NOT_FOUND, "message": f"No connected client can answer {method}."}})

    # ----- replies and audit -------------------------------------------------------------------------

    def _reply(self, pending: _Pending, message: dict[str, Any], outcome: Outcome) -> None:
        self._record(pending, outcome)
        _deliver(pending.session, message, pending.client_id)

    def _reply_error(self, pending: _Pending, code: int, text: str, *, outcome: Outcome) -> None:
        self._reply(pending, {"jsonrpc": "2.0", "id": pending.client_id, "error": {"code": code, "message": text}},
                    outcome)

    def record_refusal(self, *, method: str, outcome: Outcome, session_id: str = "", trace_id: str = "") -> None:
        """Audit a request the front refused before it reached a session (bad origin, too large, not
        JSON-RPC): the method when the body named one, never a value from it. A session id the proxy did
        not issue is not recorded."""
        self.metrics.error(outcome)
        if self.audit is not None:
            session = self.sessions.get(session_id)
            self.audit.write(AuditRecord(
                time=AuditRecord.now(), server=self.server_name, client_name=session.client_name if session else None,
                client_version=session.client_version if session else None, session=session.id if session else "",
                method=method,
                target=None, duration_ms=0.0, outcome=outcome, trace_id=trace_id or secrets.token_hex(16)))

    def _record(self, pending: _Pending, outcome: Outcome) -> None:
        seconds = time.perf_counter() - pending.started
        self.metrics.observe(pending.method, outcome, seconds,
                             pending.target if pending.method == "tools/call" else None)
        if self.audit is not None:
            session = pending.session
            self.audit.write(AuditRecord(
                time=AuditRecord.now(), server=self.server_name, client_name=session.client_name,
                client_version=session.client_version, session=session.id, method=pending.method,
                target=pending.target, duration_ms=round(seconds * 1000, 3), outcome=outcome,
                trace_id=pending.trace_id, client=pending.client))


def _deliver(session: ClientSession, message: dict[str, Any], related: Any) -> None:
    try:
        session.deliver(message, related)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        logger.debug("session %s is gone; dropped %s", session.id, message.get("method") or "a response")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _progress_token(params: Any) -> Any:
    if not isinstance(params, dict):
        return None
    meta = params.get("_meta")
    if isinstance(meta, dict):
        return meta.get("progressToken")
    return None
