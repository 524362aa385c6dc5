"""Signing in to a remote: the SDK's flow driven once against the server, with a person answering the
authorization request, in a browser (the redirect comes back to a loopback listener on the server's stable
port, RFC 8252 §7.3) or headless (the URL is shown, the redirect URL or code is read back).

Core code: nothing here prints; ``show`` and ``ask`` are the CLI's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio
import anyio.abc
import anyio.to_thread

from toolhive_py.auth.client import build_oauth
from toolhive_py.auth.flow import REDIRECT_PATH, redirect_port, redirect_uri
from toolhive_py.auth.storage import MemoryTokenStorage
from toolhive_py.errors import MCPCTLError, UsageError

__all__ = ["LOGIN_TIMEOUT", "AuthLoginError", "login"]

LOGIN_TIMEOUT: Final = 300.0
_PAGE: Final = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                b"Cache-Control: no-store\r\n\r\n<!doctype html><title>mcpctl</title>"
                b"<p>Signed in. You can close this window and return to the terminal.</p>")
_NOT_FOUND: Final = b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_INIT: Final = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mcpctl", "version": "auth"}}}


class AuthLoginError(MCPCTLError):
    default_code = "login-failed"


async def _loopback_answer(port: int, url: str, show: Callable[[str], None]) -> str:
    """Listen on the server's redirect port, show the URL (open the browser), return the redirect's URL."""
    try:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    except OSError as exc:
        raise AuthLoginError(f"Port {port} on 127.0.0.1 (this server's sign-in redirect) is in use.",
                             hint="Close what listens there, or sign in with --headless.", port=port) from exc
    found: list[str] = []
    async with listener:
        show(url)
        with anyio.move_on_after(LOGIN_TIMEOUT):
            while not found:
                inner = listener.listeners[0]
                assert isinstance(inner, anyio.abc.SocketListener)  # noqa: S101 - create_tcp_listener's own type
                stream = await inner.accept()
                async with stream:
                    head = b""
                    with anyio.move_on_after(10):
                        while b"\r\n" not in head and len(head) < 16384:
                            head += await stream.receive(4096)
                    parts = head.split(b"\r\n", 1)[0].decode(errors="replace").split(" ")
                    path = parts[1] if len(parts) >= 3 and parts[0] == "GET" else ""
                    if path.startswith(REDIRECT_PATH + "?"):
                        await stream.send(_PAGE)
                        found.append(f"http://127.0.0.1:{port}{path}")
                    else:
                        await stream.send(_NOT_FOUND)
    if not found:
        raise AuthLoginError(f"No sign-in came back within {LOGIN_TIMEOUT:g} s.",
                             hint="Run `mcpctl auth login NAME` again, or with --headless.", code="login-timeout")
    return found[0]


async def login(url: str, storage: MemoryTokenStorage, *, name: str, show: Callable[[str], None],
                ask: Callable[[str], str] | None = None, ca_bundle: Path | None = None,
                client_id: str | None = None, client_secret: str | None = None,
                client_metadata_url: str | None = None) -> None:
    """Sign in to the remote at ``url``: tokens (and the client registration) end in ``storage``. With ``ask``
    (headless) the URL goes to ``ask``, which returns the redirect URL or the code; else to ``show`` (which
    opens a browser) and the redirect comes back to the loopback listener."""
    import httpx2

    from toolhive_py.proxy.backends import BackendClosed
    from toolhive_py.proxy.remote import RemoteBackendFactory

    port = redirect_port(name)

    async def authorize(authorization_url: str) -> str:
        if ask is not None:
            return await anyio.to_thread.run_sync(ask, authorization_url)
        return await _loopback_answer(port, authorization_url, show)

    storage.state.tokens = None  # a login always asks again (after a revoke, the stored token is dead)
    oauth = build_oauth(url, storage, redirect=redirect_uri(port), authorize=authorize, workload=name,
                        client_id=client_id, client_secret=client_secret, client_metadata_url=client_metadata_url)
    factory = RemoteBackendFactory(url, oauth=oauth, ca_bundle=ca_bundle)
    try:
        async with factory.http_client() as client:
            response = await client.post(url, json=_INIT, headers={
                "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"})
            session = response.headers.get("mcp-session-id")
            if session:  # leave no session behind on the server
                await client.delete(url, headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    except (httpx2.HTTPError, OSError, BackendClosed) as exc:
        raise AuthLoginError(f"Could not reach {url}: {exc}", hint="Check the URL and your network.") from exc
    except UsageError:
        raise
    except Exception as exc:  # the SDK's OAuthFlowError and friends: the server's or authorization server's fault
        raise AuthLoginError(f"Signing in to {url} failed: {exc}", hint="Run `mcpctl auth login` again; "
                             "`--debug` shows the flow.") from exc
    if storage.state.tokens is None:
        raise AuthLoginError(f"{url} did not ask for a sign-in (it answered HTTP {response.status_code}).",
                             hint="It needs no OAuth; a static token goes in a --header.", code="no-oauth")
    if response.status_code >= 400:
        raise AuthLoginError(f"Signed in, but {url} still answered HTTP {response.status_code}.",
                             hint="The account may lack access to this server.", code="login-refused")
