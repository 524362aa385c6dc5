"""Run one proxy: the multiplexer plus the HTTP front on a loopback socket we bind ourselves."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Sequence
from pathlib import Path

import anyio
import uvicorn

from toolhive_py.errors import ConflictError
from toolhive_py.proxy import HOST
from toolhive_py.proxy.audit import AuditLog
from toolhive_py.proxy.backends import BackendFactory
from toolhive_py.proxy.guard import Guard
from toolhive_py.proxy.http.app import build_app
from toolhive_py.proxy.mux import Multiplexer
from toolhive_py.proxy.policy import ToolPolicy

__all__ = ["bind_loopback", "serve"]

logger = logging.getLogger(__name__)


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
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


async def serve(factory: BackendFactory, *, server_name: str, port: int, policy: ToolPolicy | None = None,
                audit_path: Path | None = None, sock: socket.socket | None = None,
                guards: Sequence[Guard] = ()) -> None:
    """Serve until SIGINT/SIGTERM; the backend is (re)connected in the background all along."""
    listener = sock or bind_loopback(port)
    audit = AuditLog(audit_path) if audit_path else None
    mux = Multiplexer(factory, server_name=server_name, policy=policy, audit=audit, guards=guards)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.run)
            app = build_app(mux, port=listener.getsockname()[1], task_group=lambda: tg)
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                    timeout_graceful_shutdown=3)
            await uvicorn.Server(config).serve(sockets=[listener])
            mux.stop()
            tg.cancel_scope.cancel()
    finally:
        listener.close()
        if audit is not None:
            audit.close()
