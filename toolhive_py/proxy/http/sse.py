"""/sse and /messages/: the 2024-11-05 HTTP+SSE transport, still what some clients speak."""

from __future__ import annotations

from mcp.server.sse import SseServerTransport
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from toolhive_py.proxy.http.sessions import relay
from toolhive_py.proxy.http.wire import decode, refused_body, replay
from toolhive_py.proxy.mux import Multiplexer

__all__ = ["SseEndpoint"]


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
        if await refused_body(self.mux, body, decode(body), None, scope, receive, send):
            return
        await self.transport.handle_post_message(scope, replay(body, receive), send)
