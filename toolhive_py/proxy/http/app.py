"""The proxy's HTTP face as one ASGI app: Streamable HTTP on /mcp (session-era and stateless 2026-07-28
clients, each served by its own module), legacy SSE on /sse + /messages/, health and metrics, all behind
Host/Origin checks, a body limit and the audit of every refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.abc
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolhive_py.proxy.audit import refusal_outcome
from toolhive_py.proxy.http.sessions import SessionEndpoint
from toolhive_py.proxy.http.sse import SseEndpoint
from toolhive_py.proxy.http.stateless import StatelessEndpoint, is_stateless
from toolhive_py.proxy.http.wire import AUDITED, METHOD, UNPARSED, decode, refused_body, respond, trace_id
from toolhive_py.proxy.mux import Multiplexer

__all__ = ["build_app", "security_settings"]


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
            if message["type"] == "http.response.start" and not scope.get(AUDITED):
                status = int(message["status"])
                outcome = refusal_outcome(status)
                if status >= 400 and (scope["path"] in _MCP_PATHS or outcome in ("refused", "too_large")):
                    scope[AUDITED] = True
                    request = Request(scope)
                    mux.record_refusal(method=scope.get(METHOD, ""), outcome=outcome,
                                       session_id=request.headers.get("mcp-session-id", "")[:64],
                                       trace_id=trace_id(request))
            await send(message)

        await app(scope, receive, watch)

    return audited


def build_app(mux: Multiplexer, *, port: int, task_group: Callable[[], anyio.abc.TaskGroup],
              max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE) -> ASGIApp:
    """The whole ASGI app: routing by path, then Host/Origin validation and the body limit on everything."""
    settings = security_settings(port)
    guard = TransportSecurityMiddleware(settings)
    sessions = SessionEndpoint(mux, settings, task_group)
    stateless = StatelessEndpoint(mux, settings, task_group)
    sse = SseEndpoint(mux, settings)

    async def streamable(scope: Scope, receive: Receive, send: Send) -> None:
        """/mcp: the body read once, refused when it is no relayable JSON-RPC, then served by its era."""
        request = Request(scope, receive)
        body, decoded = b"", UNPARSED
        if request.method == "POST":
            body = await request.body()
            decoded = decode(body)
            if isinstance(decoded, dict) and isinstance(decoded.get("method"), str):
                scope[METHOD] = decoded["method"][:200]
            if await refused_body(mux, body, decoded, request.headers.get("mcp-session-id"), scope, receive, send):
                return
        if is_stateless(request):
            await stateless.handle(request, decoded, scope, receive, send)
        else:
            await sessions.handle(request, body, decoded, scope, receive, send)

    async def live(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(JSONResponse({"status": "ok"}), scope, receive, send)

    async def ready(scope: Scope, receive: Receive, send: Send) -> None:
        answering = await mux.ping(timeout=2.0)
        body = {"status": "ready" if answering else "not ready", "server": mux.server_name,
                "backend": mux.factory.description, "error": None if answering else mux.last_error}
        await respond(JSONResponse(body, status_code=200 if answering else 503), scope, receive, send)

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(PlainTextResponse(mux.metrics.render(), media_type="text/plain; version=0.0.4"),
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
            await respond(rejection, scope, receive, send)
            return
        handler = routes.get(scope["path"])
        if handler is None:
            await respond(PlainTextResponse("Not found", status_code=404), scope, receive, send)
            return
        await handler(scope, receive, send)

    return _audit_refusals(RequestBodyLimitMiddleware(app, max_body_size), mux)

