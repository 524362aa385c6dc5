"""Stateless Streamable HTTP on /mcp (2026-07-28): every request is self-contained, carrying the protocol
version, client info and capabilities in its ``_meta`` envelope; ``server/discover`` replaces the handshake and
``subscriptions/listen`` the standalone stream.
"""

from __future__ import annotations

import logging
import math
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
)
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
)
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from toolhive_py.proxy.backends import BackendClosed
from toolhive_py.proxy.http.wire import (
    AUDITED,
    SSE_HEADERS,
    UNPARSED,
    answer_one,
    jsonrpc_error,
    on_disconnect,
    respond,
    sse_event,
    trace_id,
)
from toolhive_py.proxy.jsonrpc import HEADER_MISMATCH, INTERNAL_ERROR, INVALID_REQUEST, NOT_READY, PARSE_ERROR
from toolhive_py.proxy.mux import Multiplexer, RequestContext

__all__ = ["StatelessEndpoint", "is_stateless"]

logger = logging.getLogger(__name__)


def is_stateless(request: Request) -> bool:
    """A request of the stateless revision: it names a protocol version the handshake era does not have."""
    version = request.headers.get("mcp-protocol-version")
    return version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS


_MODERN_META_KEYS = (PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY)


class StatelessEndpoint:
    """/mcp for 2026-07-28 clients: one self-contained exchange per request."""

    def __init__(self, mux: Multiplexer, settings: TransportSecuritySettings,
                 task_group: Callable[[], anyio.abc.TaskGroup]) -> None:
        self.mux = mux
        self.security = TransportSecurityMiddleware(settings)
        self.task_group = task_group

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
        request_id = decoded["id"]
        duplicated = find_duplicated_routing_header(request.headers.items())
        verdict = (InboundLadderRejection(code=HEADER_MISMATCH, message=f"{duplicated} header appears more than once")
                   if duplicated is not None else classify_inbound_request(decoded, headers=dict(request.headers)))
        if isinstance(verdict, InboundLadderRejection):
            await respond(jsonrpc_error(request_id, verdict.code, verdict.message, verdict.data),
                           scope, receive, send)
            return
        method = decoded["method"]
        if method == "server/discover":
            await respond(await self._discover(request_id, verdict.protocol_version), scope, receive, send)
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
            await respond(jsonrpc_error(request_id, INVALID_REQUEST, "subscriptions/listen answers with a "
                                          "stream: send Accept: text/event-stream."), scope, receive, send)
            return
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
        request.scope[AUDITED] = True  # by the multiplexer, whatever HTTP status its answer maps to
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
        self.task_group().start_soon(on_disconnect, receive, events_in.close)
        try:
            await self.mux.from_client(session, outgoing, RequestContext(trace_id=trace_id(request)))
            await answer_one(send, events_out, lambda answer: self._modern_body(method, version, answer), [])
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

