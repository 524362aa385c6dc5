"""Run one proxy: the multiplexer plus the HTTP front on a loopback socket we bind ourselves, with bounds on
what any one client can hold: connections (concurrency), header size, the time to send a request's headers,
and keep-alive idle time."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio

from toolhive_py.errors import ConflictError
from toolhive_py.proxy import HOST
from toolhive_py.proxy.audit import AuditLog
from toolhive_py.proxy.backends import BackendFactory
from toolhive_py.proxy.guard import Guard
from toolhive_py.proxy.http.app import build_app
from toolhive_py.proxy.http.sessions import SessionLimits
from toolhive_py.proxy.mux import Multiplexer
from toolhive_py.proxy.policy import ToolPolicy

__all__ = ["ConnectionLimits", "bind_loopback", "serve"]

logger = logging.getLogger(__name__)

_BACKLOG: Final = 512


@dataclass(frozen=True)
class ConnectionLimits:
    """uvicorn's bounds: ``concurrency`` connections or requests at once (beyond: 503), ``header_bytes`` per
    request head, ``header_timeout`` seconds to send a complete head (a slow-loris connection is dropped),
    ``keep_alive`` seconds a kept-alive connection may sit idle between requests."""

    concurrency: int = 1000
    header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    keep_alive: float = 5.0


def bind_loopback(port: int) -> socket.socket:
    """Bind 127.0.0.1:PORT now, so a taken port is a clear error rather than a log line from uvicorn."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConflictError(f"Port {port} on {HOST} is already in use.",
                                hint="Pick another with --port, or stop whatever listens there "
                                     f"(`ss -ltnp 'sport = :{port}'` shows it).", port=port) from exc
        raise
    # Accepted sockets inherit this on Linux: without it, Nagle plus delayed ACK held every response on a
    # kept-alive connection for ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(_BACKLOG)
    sock.set_inheritable(True)
    return sock


class _HeadDeadline:
    """A deadline for each request head, mixed into either uvicorn protocol (before it in the bases): armed at
    connect and after each response, disarmed once the head is complete; when it fires, the connection is
    closed if its head is still unfinished (``_head_unfinished``)."""

    _head_timer: asyncio.TimerHandle | None = None
    _header_timeout: float = ConnectionLimits.header_timeout
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    timeout_keep_alive: int

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(seconds, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_unfinished(self) -> bool:
        return True  # the timer is disarmed as soon as a head is complete

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._head_unfinished() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm(self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():  # the keep-alive timer covers the idle part
            self._arm(self.timeout_keep_alive + self._header_timeout)


def _protocol(bounds: ConnectionLimits) -> type[Any]:
    """uvicorn's HTTP protocol (httptools when installed, else h11) with a deadline for each request head and,
    under httptools, a bound on its size: uvicorn has neither there, so a client that never finished its
    headers held its connection (and a file descriptor) forever."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return _h11_protocol(bounds)

    class BoundedHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
        _header_timeout = bounds.header_timeout
        _head_bytes = 0

        def on_message_begin(self) -> None:
            self._head_bytes = 0
            super().on_message_begin()

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > bounds.header_bytes:
                raise ValueError("request head too large")  # the parser's error: uvicorn answers 400 and closes

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return BoundedHttpToolsProtocol


def _h11_protocol(bounds: ConnectionLimits) -> type[Any]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(_HeadDeadline, H11Protocol):
        _header_timeout = bounds.header_timeout

        def _head_unfinished(self) -> bool:
            return self.conn.their_state is h11.IDLE

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

    return HeaderTimeoutH11Protocol


async def serve(factory: BackendFactory, *, server_name: str, port: int, policy: ToolPolicy | None = None,
                audit_path: Path | None = None, sock: socket.socket | None = None,
                guards: Sequence[Guard] = (), limits: SessionLimits | None = None,
                connections: ConnectionLimits | None = None, credentials: Path | None = None,
                allowed_uids: Sequence[int] = ()) -> None:
    """Serve until SIGINT/SIGTERM; the backend is (re)connected in the background all along."""
    import uvicorn

    bounds = connections or ConnectionLimits()
    listener = sock or bind_loopback(port)
    audit = AuditLog(audit_path) if audit_path else None
    mux = Multiplexer(factory, server_name=server_name, policy=policy, audit=audit, guards=guards)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.run)
            app = build_app(mux, port=listener.getsockname()[1], task_group=lambda: tg, limits=limits,
                            credentials=credentials, allowed_uids=allowed_uids)
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=3, http=_protocol(bounds),
                                    limit_concurrency=bounds.concurrency, backlog=_BACKLOG,
                                    h11_max_incomplete_event_size=bounds.header_bytes,
                                    timeout_keep_alive=int(bounds.keep_alive) or 1)
            await uvicorn.Server(config).serve(sockets=[listener])
            mux.stop()
            tg.cancel_scope.cancel()
    finally:
        listener.close()
        if audit is not None:
            audit.close()
