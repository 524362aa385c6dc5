"""An OAuth-protected remote over its whole token lifetime, on 127.0.0.1 (``oauth_server.py``: the mcp SDK's
authorization and resource server in one, access tokens of 3 s): `mcpctl run URL`, `mcpctl auth login
--headless`, a client with its proxy credential calls a tool through the workload's proxy, calls again after
the access token expired and after the server revoked it (the proxy refreshed it: the authorization server
saw a refresh_token grant), and,
once the authorization server revoked every token, gets a JSON-RPC error naming `mcpctl auth login NAME`.
The tokens are in the keyring and in no file of HOME, the proxy's argv or environment, or mcpctl's output."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import run_cli
from tests.integration.conformance_cli_driver import _login
from tests.integration.oauth_server import serve_oauth
from toolhive_py.config import Paths

TTL = 3  # seconds an access token of the test's authorization server lives


def _stats(base: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(base + "/_test/stats", timeout=5).json()
    return found


def _past_expiry(base: str, token: str) -> None:
    """Wait until the resource server refuses ``token`` (its expiry is the server's clock, whole seconds)."""
    deadline = time.monotonic() + 10 * TTL
    while httpx.post(base + "/mcp", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code != 401:
        assert time.monotonic() < deadline, "the access token never expired"
        time.sleep(0.5)


async def _echo(paths: Paths, name: str, text: str) -> str:
    """The echo tool called through the workload's proxy by a client with its credential; a JSON-RPC error
    comes back as ``error: MESSAGE``."""
    from mcp.client.client import Client
    from mcp.shared.exceptions import MCPError
    from mcp.types import TextContent

    from tests.e2e.credentials import credentialed
    from toolhive_py.proxy.supervisor import running_proxy

    state = running_proxy(paths, name)
    assert state is not None
    async with Client(credentialed(state.url, name), mode="legacy") as client:
        try:
            result = await client.call_tool("echo", {"text": text})
        except MCPError as exc:
            return f"error: {exc}"
    assert not result.is_error, result
    (content,) = result.content
    assert isinstance(content, TextContent)
    return content.text


@pytest.mark.anyio
async def test_a_signed_in_remote_refreshes_its_token_and_names_the_login_after_a_revoke(
        keyring_paths: Paths, tmp_path: Path) -> None:
    from toolhive_py.auth.storage import load_state
    from toolhive_py.proxy.supervisor import proxy_log_path, running_proxy
    from toolhive_py.secrets import open_provider

    with serve_oauth(tmp_path / "oauth.log", ttl=TTL) as base:
        url = base + "/mcp"
        outputs: list[str] = []
        ran = run_cli("run", url, "--name", "orf", "--json")
        outputs.append(ran.stdout + ran.stderr)
        try:
            assert ran.exit_code == 0, ran.stdout + ran.stderr
            login = _login("orf")
            outputs.append(login["stdout"] + login["stderr"])
            assert login["rc"] == 0, login
            status = run_cli("auth", "status", "orf", "--json")
            outputs.append(status.stdout + status.stderr)
            assert (status.json()["data"]["auth"], status.json()["data"]["signed_in"]) == ("oauth", True)
            assert _stats(base)["grants"]["authorization_code"] == 1
            (signed_in,) = _stats(base)["issued"][:1]

            assert await _echo(keyring_paths, "orf", "one") == "oauth:one"
            before = _stats(base)
            # the proxy's token (the newest issued: only the proxy refreshes) expires; the next call refreshes it
            _past_expiry(base, before["issued"][-2])
            assert await _echo(keyring_paths, "orf", "two") == "oauth:two"
            grants = _stats(base)["grants"]
            assert grants.get("refresh_token", 0) > before["grants"].get("refresh_token", 0), (before, grants)
            assert grants["authorization_code"] == 1
            assert "refresh_token_refused" not in grants

            # a token refused before it expired by the proxy's clock (here: revoked) is refreshed too
            assert httpx.post(base + "/_test/revoke?only=access", timeout=5).status_code == 200
            assert await _echo(keyring_paths, "orf", "three") == "oauth:three"
            assert _stats(base)["grants"]["refresh_token"] == grants["refresh_token"] + 1

            assert httpx.post(base + "/_test/revoke", timeout=5).status_code == 200
            refused = await _echo(keyring_paths, "orf", "four")
            assert refused.startswith("error: "), refused
            assert "mcpctl auth login orf" in refused, refused

            tokens: list[str] = _stats(base)["issued"]
            held = load_state(open_provider(keyring_paths, "keyring"), url).tokens or {}
            assert held.get("access_token") == signed_in  # the login's tokens are in the keyring
            assert held.get("refresh_token") in tokens
            proxy = running_proxy(keyring_paths, "orf")
            assert proxy is not None
            seen = Path(f"/proc/{proxy.pid}/cmdline").read_bytes() + Path(f"/proc/{proxy.pid}/environ").read_bytes()
            logs = run_cli("logs", "orf", "--tail", "200")
            outputs.append(logs.stdout + logs.stderr)
            listed = run_cli("list", "--json")
            outputs.append(listed.stdout + listed.stderr)
            assert proxy_log_path(keyring_paths, "orf").stat().st_size > 0
            home = Path(os.environ["HOME"])
            for token in tokens:
                assert token.encode() not in seen
                assert [p for p in home.rglob("*") if p.is_file() and token.encode() in p.read_bytes()] == []
                assert [text for text in outputs if token in text] == []
        finally:
            run_cli("rm", "orf")
