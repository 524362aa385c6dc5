"""Both uvicorn protocols the proxy may run (httptools when installed, h11 otherwise) drop a connection whose
request head is not finished within the deadline, keep one that finished its head, and re-arm the deadline
after a response on a kept-alive connection (tests/integration/test_proxy_bounds.py drives the live proxy)."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from toolhive_py.proxy.server import ConnectionLimits, _h11_protocol, _protocol, bind_loopback

BOUNDS = ConnectionLimits(header_timeout=0.5, keep_alive=1)


async def _app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=[_protocol, _h11_protocol], ids=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    import uvicorn

    listener = bind_loopback(0)
    config = uvicorn.Config(_app, log_level="warning", access_log=False, lifespan="off",
                            http=request.param(BOUNDS), timeout_keep_alive=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable and sock.recv(4096) == b"":
            return True
    return False


def test_an_unfinished_head_is_dropped_after_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        assert _closed_within(sock, 10)


def test_a_kept_alive_connection_is_served_then_dropped_when_its_next_head_never_comes(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while not answer.endswith(b"ok"):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET / HTTP/1.1\r\n")  # a second head, never finished: uvicorn stops its keep-alive timer
        assert _closed_within(sock, 10), "the deadline was re-armed after the response"
