"""The proxy's HTTP face as one ASGI app: Streamable HTTP on /mcp (session-era and stateless 2026-07-28
clients, each served by its own module), legacy SSE on /sse + /messages/, health and metrics, all behind
Host/Origin checks, a body limit and the audit of every refusal.

The session-era path never loads the MCP SDK (its import costs ~60 MB and most of a second of start-up):
``stateless``, which builds on the SDK, is imported on the first 2026-07-28 request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.abc

from toolhive_py.proxy.audit import refusal_outcome
from toolhive_py.proxy.auth import protect
from toolhive_py.proxy.http.checks import (
    AUDITED,
    DEFAULT_MAX_BODY_SIZE,
    METHOD,
    UNPARSED,
    BodyLimit,
    allowed_hosts,
    allowed_origins,
    decode,
    header,
    host_origin_refusal,
    is_stateless,
    plain_response,
    read_body,
    refused_body,
    scope_trace_id,
)
from toolhive_py.proxy.http.sessions import SessionEndpoint, SessionLimits, SessionTable
from toolhive_py.proxy.http.sse import SseEndpoint
from toolhive_py.proxy.mux import Multiplexer

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["build_app", "security_settings"]


def security_settings(port: int) -> TransportSecuritySettings:
    """The SDK's form of the front's Host/Origin rules (``checks.allowed_hosts``/``allowed_origins``), for
    the 2026-07-28 endpoint, which validates with the SDK's middleware."""
    from mcp.server.transport_security import TransportSecuritySettings

    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts(port),
                                     allowed_origins=allowed_origins(port))


_MCP_PATHS = frozenset({"/mcp", "/mcp/", "/sse", "/messages", "/messages/"})


def _audit_refusals(app: ASGIApp, mux: Multiplexer) -> ASGIApp:
    """Audit every request the front refuses with an HTTP error (foreign Host or Origin, too large, not
    JSON-RPC, unknown session, the transports' own 4xx, a full session table): one record each, with the
    method when the body named one and nothing else from the body. Health and metrics probes are audited
    only when refused for their Host or Origin, so a readiness probe of a stopped server does not fill the log."""

    async def audited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope.get(AUDITED):
                status = int(message["status"])
                outcome = refusal_outcome(status)
                if status >= 400 and (scope["path"] in _MCP_PATHS or outcome in ("refused", "too_large")):
                    scope[AUDITED] = True
                    mux.record_refusal(method=scope.get(METHOD, ""), outcome=outcome,
                                       session_id=(header(scope, b"mcp-session-id") or "")[:64],
                                       trace_id=scope_trace_id(scope))
            await send(message)

        await app(scope, receive, watch)

    return audited



def build_app(mux: Multiplexer, *, port: int, task_group: Callable[[], anyio.abc.TaskGroup],
              max_body_size: int = DEFAULT_MAX_BODY_SIZE, limits: SessionLimits | None = None,
              credentials: Path | None = None, allowed_uids: Sequence[int] = (), peer_check: bool = True) -> ASGIApp:
    """The whole ASGI app: routing by path, then Host/Origin validation and the body limit on everything."""
    hosts, origins = frozenset(allowed_hosts(port)), frozenset(allowed_origins(port))
    limits = limits or SessionLimits()
    table = SessionTable(mux, limits, task_group)
    sessions = SessionEndpoint(table)
    sse = SseEndpoint(table)
    stateless: list[Any] = []

    def modern() -> Any:
        if not stateless:
            from toolhive_py.proxy.http.stateless import StatelessEndpoint

            stateless.append(StatelessEndpoint(mux, security_settings(port), task_group,
                                               input_timeout=limits.input_timeout))
        return stateless[0]

    async def streamable(scope: Scope, receive: Receive, send: Send) -> None:
        """/mcp: the body read once, refused when it is no relayable JSON-RPC, then served by its era."""
        body, decoded = b"", UNPARSED
        if scope["method"] == "POST":
            body = await read_body(receive)
            decoded = decode(body)
            if isinstance(decoded, dict) and isinstance(decoded.get("method"), str):
                scope[METHOD] = decoded["method"][:200]
            if await refused_body(mux, body, decoded, header(scope, b"mcp-session-id"), scope, send):
                return
        if is_stateless(scope):
            from starlette.requests import Request

            from toolhive_py.proxy.http import wire

            await modern().handle(Request(scope, wire.replay(body, receive)), decoded, scope, receive, send)
        else:
            await sessions.handle(body, decoded, decoded is UNPARSED, scope, receive, send)

    async def live(scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, {"status": "ok"})

    async def ready(scope: Scope, receive: Receive, send: Send) -> None:
        answering = await mux.ping(timeout=2.0)
        body = {"status": "ready" if answering else "not ready", "server": mux.server_name,
                "backend": mux.factory.description, "error": None if answering else mux.last_error}
        await _json(send, 200 if answering else 503, body)

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        text = mux.metrics.render().encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                                (b"content-length", str(len(text)).encode())]})
        await send({"type": "http.response.body", "body": text})

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
        refusal = host_origin_refusal(scope, hosts, origins)
        if refusal is not None:
            await plain_response(send, *refusal)
            return
        handler = routes.get(scope["path"])
        if handler is None:
            await plain_response(send, 404, "Not found")
            return
        await handler(scope, receive, send)

    return _audit_refusals(protect(BodyLimit(app, max_body_size), credentials=credentials,
                                   allowed_uids=allowed_uids, peer_check=peer_check), mux)


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
