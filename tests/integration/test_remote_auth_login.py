"""The browser sign-in's loopback redirect (RFC 8252 §7.3): the listener on the server's stable port takes the
browser's redirect, answers it with a page, ignores other requests, and refuses a port already in use."""

from __future__ import annotations

import socket
import threading

import anyio
import httpx
import pytest

from toolhive_py.auth.flow import redirect_port
from toolhive_py.auth.login import AuthLoginError, _loopback_answer


def _browser(port: int, paths: list[str], seen: list[int]) -> None:
    for path in paths:
        seen.append(httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code)


@pytest.mark.anyio
async def test_the_loopback_listener_returns_the_redirect_the_browser_follows() -> None:
    port = redirect_port("loopback-test")
    seen: list[int] = []
    shown: list[str] = []

    def show(url: str) -> None:  # "opens the browser", which lands on the redirect after a stray request
        shown.append(url)
        threading.Thread(target=_browser, args=(port, ["/favicon.ico", "/callback?code=C&state=S"], seen)).start()

    answer = await _loopback_answer(port, "https://as.example/authorize?state=S", show)
    assert answer == f"http://127.0.0.1:{port}/callback?code=C&state=S"
    assert shown == ["https://as.example/authorize?state=S"]
    for _ in range(50):
        if len(seen) == 2:
            break
        await anyio.sleep(0.1)
    assert seen == [404, 200]


@pytest.mark.anyio
async def test_a_redirect_port_in_use_fails_with_the_headless_hint() -> None:
    port = redirect_port("busy-test")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(AuthLoginError) as caught:
            await _loopback_answer(port, "https://as.example/authorize", lambda url: None)
    assert "--headless" in (caught.value.hint or "")
