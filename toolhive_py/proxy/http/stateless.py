"""Stateless Streamable HTTP on /mcp (2026-07-28): every request is self-contained, carrying the protocol
version, client info and capabilities in its ``_meta`` envelope; ``server/discover`` replaces the handshake and
``subscriptions/listen`` the standalone stream.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    unsupported_protocol_version_rejection,
    validate_mcp_param_headers,
)
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from toolhive_py.proxy.backends import BackendClosed
from toolhive_py.proxy.http.input_required import (
    INPUT_REQUEST_METHODS,
    ParkedCall,
    ParkedCalls,
    StateSealer,
    input_required_result,
    request_fingerprint,
)
from toolhive_py.proxy.http.wire import (
    AUDITED,
    CLIENT_SCOPE_KEY,
    SSE_HEADERS,
    UNPARSED,
    answer_one,
    jsonrpc_error,
    on_disconnect,
    respond,
    sse_event,
    trace_id,
)
from toolhive_py.proxy.jsonrpc import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NOT_READY,
    PARSE_ERROR,
)
from toolhive_py.proxy.mux import Multiplexer, RequestContext

__all__ = ["CACHEABLE_METHODS", "REMOVED_METHODS", "StatelessEndpoint", "is_stateless", "modernize"]

logger = logging.getLogger(__name__)


def is_stateless(request: Request) -> bool:
    """A request of the stateless revision: it names a protocol version the handshake era does not have."""
    version = request.headers.get("mcp-protocol-version")
    return version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS


_MODERN_META_KEYS = (PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY)


class StatelessEndpoint:
    """/mcp for 2026-07-28 clients: one self-contained exchange per request."""

    def __init__(self, mux: Multiplexer, settings: TransportSecuritySettings,
                 task_group: Callable[[], anyio.abc.TaskGroup], *, input_timeout: float = 120.0) -> None:
        self.mux = mux
        self.security = TransportSecurityMiddleware(settings)
        self.task_group = task_group
        self.sealer = StateSealer(ttl=input_timeout)
        self.parked = ParkedCalls()
        self._schemas: dict[str, Any] = {}
        self._schemas_read = -math.inf

    async def handle(self, request: Request, decoded: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """One self-contained request of the stateless revision, answered as JSON.

        The server behind the proxy stays in its handshake session; this translates the envelope:
        ``server/discover`` is answered from the server's initialize result, other requests are relayed
        with the per-request ``_meta`` envelope removed and come back stamped the way the revision wants.
        """
        rejection = await self.security.validate_request(request, is_post=request.method == "POST")
        if rejection is not None:
            await respond(rejection, scope, receive, send)
            return
        if request.method != "POST":
            await respond(Response(status_code=405, headers={"Allow": "POST"}), scope, receive, send)
            return
        has_json, _ = check_accept_headers(request)
        if not has_json:
            await respond(Response(status_code=406), scope, receive, send)
            return
        if decoded is UNPARSED:
            await respond(jsonrpc_error(None, PARSE_ERROR, "Parse error"), scope, receive, send)
            return
        if isinstance(decoded, dict) and "id" not in decoded and isinstance(decoded.get("method"), str):
            unsupported = unsupported_protocol_version_rejection(request.headers.get("mcp-protocol-version", ""))
            response = (Response(status_code=202) if unsupported is None
                        else jsonrpc_error(None, unsupported.code, unsupported.message, unsupported.data))
            await respond(response, scope, receive, send)
            return
        if not (isinstance(decoded, dict) and isinstance(decoded.get("method"), str)
                and isinstance(decoded.get("id"), str | int) and not isinstance(decoded.get("id"), bool)):
            await respond(jsonrpc_error(None, INVALID_REQUEST, "Body must be a single JSON-RPC request or "
                                          "notification object"), scope, receive, send)
            return
        request_id, method = decoded["id"], decoded["method"]
        if method in REMOVED_METHODS:
            await respond(jsonrpc_error(request_id, METHOD_NOT_FOUND, f"Method not found: {method} does not exist "
                                        "in the stateless revision.", status=404), scope, receive, send)
            return
        duplicated = find_duplicated_routing_header(request.headers.items())
        # Field values are compared without the optional whitespace around them (RFC 9110 §5.5).
        headers = {name: value.strip(" \t") for name, value in request.headers.items()}
        verdict = (InboundLadderRejection(code=HEADER_MISMATCH, message=f"{duplicated} header appears more than once")
                   if duplicated is not None else classify_inbound_request(decoded, headers=headers))
        if not isinstance(verdict, InboundLadderRejection) and method == "tools/call":
            verdict = await self._check_param_headers(decoded.get("params"), headers) or verdict
        if isinstance(verdict, InboundLadderRejection):
            await respond(jsonrpc_error(request_id, verdict.code, verdict.message, verdict.data),
                          scope, receive, send)
            return
        if method == "server/discover":
            await respond(await self._discover(request_id, verdict.protocol_version), scope, receive, send)
            return
        _, accepts_sse = check_accept_headers(request)
        self._sweep()
        if method == "subscriptions/listen" and not accepts_sse:
            await respond(jsonrpc_error(request_id, INVALID_REQUEST, "subscriptions/listen answers with a stream: "
                                        "send Accept: text/event-stream."), scope, receive, send)
            return
        # Readiness comes with the handshake lane; whether the other one is there is known a moment later.
        if await self.mux.wait_probed(30) and self.mux.speaks_modern:
            await self._relay_native(request, decoded, accepts_sse, receive, send)
            return
        if method == "subscriptions/listen":
            params = decoded.get("params")
            await self._listen(request_id, params if isinstance(params, dict) else {}, accepts_sse, scope, receive,
                               send)
            return
        await self._relay_one(request, decoded, verdict, accepts_sse, receive, send)

    async def _check_param_headers(self, params: Any, headers: dict[str, str]) -> InboundLadderRejection | None:
        """The ``Mcp-Param-*`` headers of a ``tools/call`` against the arguments, for the tool whose input
        schema names them (``x-mcp-header``): an intermediary routes on those headers, so they must agree."""
        params = params if isinstance(params, dict) else {}
        name, arguments = params.get("name"), params.get("arguments")
        schema = await self._tool_schema(name) if isinstance(name, str) else None
        if schema is None:
            return None
        return validate_mcp_param_headers(schema, arguments if isinstance(arguments, dict) else {}, headers)

    async def _tool_schema(self, name: str) -> Any:
        """A tool's input schema, from the server's tool list (read again when a name is not in it, at most
        every few seconds, so a client naming tools that do not exist costs the server nothing)."""
        if name not in self._schemas and time.monotonic() - self._schemas_read > _SCHEMA_REFRESH_S:
            self._schemas_read = time.monotonic()
            schemas: dict[str, Any] = {}
            cursor: Any = None
            try:
                for _ in range(_TOOL_PAGES):
                    listed = await self.mux.request("tools/list", {"cursor": cursor} if cursor else None, timeout=10)
                    for tool in listed.get("tools") or []:
                        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                            schemas[tool["name"]] = tool.get("inputSchema")
                    cursor = listed.get("nextCursor")
                    if not isinstance(cursor, str) or not cursor:
                        break
            except BackendClosed as exc:
                logger.info("could not list the server's tools to check Mcp-Param headers: %s", exc)
            else:
                self._schemas = schemas
        return self._schemas.get(name)

    def _sweep(self) -> None:
        """Close the parked calls that expired (their server's request is cancelled)."""
        self._close(self.parked.evicted())

    def _close(self, calls: list[ParkedCall]) -> None:
        for stale in calls:
            stale.events[0].close()
            self.task_group().start_soon(self.mux.close_session, stale.session)

    async def _relay_native(self, request: Request, decoded: dict[str, Any], accepts_sse: bool, receive: Receive,
                            send: Send) -> None:
        """Relay one request to a server that speaks 2026-07-28 itself: envelope, results, input requests and
        request state are the server's; the proxy adds nothing but the multiplexing. Notifications (progress,
        log messages, a subscription's stream) reach a client that accepts SSE."""
        request.scope[AUDITED] = True
        request_id = decoded["id"]
        events_in, events_out = anyio.create_memory_object_stream[dict[str, Any]](math.inf)

        def deliver(message: dict[str, Any]) -> None:
            if "method" not in message or accepts_sse:
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    events_in.send_nowait(message)

        def finish(answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
            if "error" in answer:
                code = int(answer["error"].get("code", INTERNAL_ERROR))
                return {**answer, "id": request_id}, ERROR_CODE_HTTP_STATUS.get(code, 200)
            return {**answer, "id": request_id}, 200

        context = RequestContext(trace_id=trace_id(request), client=request.scope.get(CLIENT_SCOPE_KEY, "-"))
        async with anyio.create_task_group() as tg:
            async def relay() -> None:
                try:
                    await self.mux.modern(decoded, context, deliver, headers=request.headers)
                finally:
                    events_in.close()

            tg.start_soon(relay)
            tg.start_soon(on_disconnect, receive, tg.cancel_scope.cancel)
            await answer_one(send, events_out, finish, [])
            tg.cancel_scope.cancel()

    async def _listen(self, request_id: Any, params: dict[str, Any], accepts_sse: bool, scope: Scope,
                      receive: Receive, send: Send) -> None:
        """``subscriptions/listen``: the response is a stream of the notifications the client opted in to,
        acknowledged first and each stamped with the subscription id (the request's id).

        It ends when the client hangs up, or with its result when the server behind the proxy goes away:
        what the server knew of the subscription is gone then, and the revision's answer to a dropped
        stream is that the client listens again and refetches.
        """
        if not await self.mux.wait_ready(30):
            await respond(jsonrpc_error(request_id, NOT_READY, f"The MCP server is not ready: {self.mux.last_error}."),
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
                await respond(jsonrpc_error(request_id, NOT_READY, f"Subscribing failed: {exc}"), scope, receive, send)
                return
            self.task_group().start_soon(on_disconnect, receive, events_in.close)
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            await send({"type": "http.response.body", "more_body": True, "body": sse_event({
                "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                "params": {"notifications": honored, "_meta": meta}})})
            async for message in events_out:
                stamped = dict(message.get("params") or {})
                stamped["_meta"] = {**(stamped.get("_meta") or {}), **meta}
                await send({"type": "http.response.body", "more_body": True, "body": sse_event({
                    "jsonrpc": "2.0", "method": message["method"], "params": stamped})})
            await send({"type": "http.response.body", "more_body": False, "body": sse_event({
                "jsonrpc": "2.0", "id": request_id, "result": {"resultType": "complete", "_meta": meta}})})
        finally:
            events_in.close()
            with anyio.CancelScope(shield=True):
                await self.mux.close_session(session)

    async def _discover(self, request_id: Any, version: str) -> Response:
        if not await self.mux.wait_ready(30):
            return jsonrpc_error(request_id, NOT_READY, f"The MCP server is not ready: {self.mux.last_error}.")
        initialized = self.mux.initialize_result or {}
        # A server that speaks 2026-07-28 itself says what it offers in that revision (list_changed through
        # subscriptions/listen, for one); else what it said in the handshake is all there is.
        native = self.mux.discover_result if await self.mux.wait_probed(30) and self.mux.speaks_modern else None
        result: dict[str, Any] = {
            "supportedVersions": [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS],
            "capabilities": (native or initialized).get("capabilities", {}),
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
        """Relay one stateless request to the session-era server. Its progress notifications, when the client
        accepts SSE, are streamed before the result; a request that produces none is answered with plain JSON.

        A question the server asks meanwhile (elicitation, sampling, roots) ends the exchange with an
        ``InputRequiredResult``; the call stays parked until the client retries with its answers.
        """
        request.scope[AUDITED] = True  # by the multiplexer, whatever HTTP status its answer maps to
        method, version, request_id = decoded["method"], verdict.protocol_version, decoded["id"]
        params = dict(decoded.get("params") or {})
        client = request.scope.get(CLIENT_SCOPE_KEY, "-")
        fingerprint = request_fingerprint(method, params)

        def finish(answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
            return self._modern_body(method, version, {**answer, "id": request_id})

        if "requestState" in params:
            call = self._resumed(params, client=client, fingerprint=fingerprint)
            if call is None:
                await respond(jsonrpc_error(request_id, INVALID_PARAMS, "requestState failed verification: it is "
                                            "not one this proxy issued for this request, or it expired."),
                              request.scope, receive, send)
                return
        else:
            call = await self._start(request, decoded, params, verdict, accepts_sse)
        events = _Questions(self, call, client=client, fingerprint=fingerprint)
        self.task_group().start_soon(on_disconnect, receive, events.hang_up)
        try:
            await answer_one(send, events, finish, [])
        finally:
            events.hang_up()
            if not events.parked:
                with anyio.CancelScope(shield=True):
                    await self.mux.close_session(call.session)

    async def _start(self, request: Request, decoded: dict[str, Any], params: dict[str, Any], verdict: Any,
                     accepts_sse: bool) -> ParkedCall:
        """Send a new request to the server on a session of its own; its messages queue on the call."""
        params.pop("inputResponses", None)
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
            wanted = ("method" not in message and message.get("id") == decoded["id"]) or (
                message.get("method") in INPUT_REQUEST_METHODS and "id" in message) or (
                accepts_sse and message.get("method") == "notifications/progress")
            if wanted:
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    events_in.send_nowait(message)

        session = self.mux.open_session(deliver)
        client_info, capabilities = verdict.client_info, verdict.client_capabilities
        if isinstance(client_info, dict):
            session.client_name, session.client_version = client_info.get("name"), client_info.get("version")
        # The server may ask only what this client can answer (the multiplexer routes by these).
        session.capabilities = {k: v for k, v in capabilities.items()} if isinstance(capabilities, dict) else {}
        call = ParkedCall(session=session, events=(events_in, events_out), asked={}, questions={})
        await self.mux.from_client(session, outgoing, RequestContext(trace_id=trace_id(request),
                                                                     client=request.scope.get(CLIENT_SCOPE_KEY, "-")))
        return call

    def _resumed(self, params: dict[str, Any], *, client: str, fingerprint: str) -> ParkedCall | None:
        """The parked call a retry resumes, its answers handed to the server; None for a state that fails."""
        park_id = self.sealer.open(params.get("requestState"), client=client, fingerprint=fingerprint)
        call = self.parked.take(park_id) if park_id is not None else None
        if call is None:
            return None
        responses = params.get("inputResponses")
        answers = responses if isinstance(responses, dict) else {}
        unanswered = {key: front_id for key, front_id in call.asked.items() if key not in answers}
        for key, front_id in call.asked.items():
            if key in answers:
                self.task_group().start_soon(self.mux.from_client, call.session,
                                             {"jsonrpc": "2.0", "id": front_id, "result": answers[key]})
        call.asked = unanswered
        call.questions = {key: call.questions[key] for key in unanswered}
        return call

    def park(self, call: ParkedCall, *, client: str, fingerprint: str) -> str:
        """Park a call whose server asked something; the sealed state that resumes it."""
        park_id, evicted = self.parked.park(call, self.sealer.ttl)
        self._close(evicted)
        # Swept when it expires even if no 2026-07-28 request comes by: a parked call keeps its turn.
        self.task_group().start_soon(self._sweep_after, self.sealer.ttl + 1)
        return self.sealer.seal(park_id, client=client, fingerprint=fingerprint)

    async def _sweep_after(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        self._sweep()

    def _modern_body(self, method: str, version: str, answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The stateless revision's response body for a relayed answer, and its HTTP status."""
        if "error" in answer:
            error = answer["error"]
            code = int(error.get("code", INTERNAL_ERROR))
            return {"jsonrpc": "2.0", "id": answer["id"], "error": error}, ERROR_CODE_HTTP_STATUS.get(code, 200)
        result = modernize(method, dict(answer.get("result") or {}))
        server_info = (self.mux.initialize_result or {}).get("serverInfo", {})
        result["_meta"] = {**(result.get("_meta") or {}), SERVER_INFO_META_KEY: server_info}
        return {"jsonrpc": "2.0", "id": answer["id"], "result": result}, 200


class _Questions:
    """A call's messages as the client sees them: progress and the final answer pass; the server's questions
    become one ``InputRequiredResult`` (every question already waiting is asked at once), which parks the
    call. ``receive`` is what ``answer_one`` reads."""

    def __init__(self, endpoint: StatelessEndpoint, call: ParkedCall, *, client: str, fingerprint: str) -> None:
        self.endpoint, self.call, self.client, self.fingerprint = endpoint, call, client, fingerprint
        self.parked = False

    def hang_up(self) -> None:
        """The client is gone (or its answer is complete): stop waiting, unless the call is parked."""
        if not self.parked:
            self.call.events[0].close()

    async def receive(self) -> dict[str, Any]:
        call = self.call
        if call.questions:  # a retry that left questions unanswered: ask them again
            return self._ask()
        message = call.backlog.pop(0) if call.backlog else await call.events[1].receive()
        if message.get("method") not in INPUT_REQUEST_METHODS:
            return message
        self._add(message)
        while True:
            try:
                waiting = call.events[1].receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            if waiting.get("method") in INPUT_REQUEST_METHODS:
                self._add(waiting)
            else:
                call.backlog.append(waiting)
        return self._ask()

    def _add(self, question: dict[str, Any]) -> None:
        key = str(question["id"])  # the proxy's own id of the server's request: unique within the call
        self.call.asked[key] = question["id"]
        self.call.questions[key] = question

    def _ask(self) -> dict[str, Any]:
        self.parked = True
        state = self.endpoint.park(self.call, client=self.client, fingerprint=self.fingerprint)
        return {"jsonrpc": "2.0", "id": None, "result": input_required_result(self.call.questions, state)}



# Methods of the session era that the stateless revision removed: HTTP 404 with "method not found".
REMOVED_METHODS = frozenset({"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})
_SCHEMA_REFRESH_S = 5.0
_TOOL_PAGES = 20

# Results a 2026-07-28 client may cache, which therefore carry ``ttlMs`` and ``cacheScope``.
CACHEABLE_METHODS = frozenset({"tools/list", "prompts/list", "resources/list", "resources/templates/list",
                               "resources/read", "server/discover"})


def modernize(method: str, result: dict[str, Any]) -> dict[str, Any]:
    """Shape a session-era result for the stateless revision, keeping every field the server sent:
    ``resultType`` always, and where the result is cacheable, the cache hints the server gave or else
    ``ttlMs`` 0 and ``private`` (a proxy cannot know better than "fresh, and for this client only")."""
    shaped = {"resultType": "complete", **result}
    if method in CACHEABLE_METHODS and shaped["resultType"] == "complete":
        shaped.setdefault("ttlMs", 0)
        shaped.setdefault("cacheScope", "private")
    return shaped


# subscriptions/listen: the notification kinds a client can opt in to, by the filter key that asks for them.
_LISTEN_KINDS = {"notifications/tools/list_changed": "toolsListChanged",
                 "notifications/prompts/list_changed": "promptsListChanged",
                 "notifications/resources/list_changed": "resourcesListChanged"}
