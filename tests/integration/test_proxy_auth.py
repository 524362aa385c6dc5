"""Who may use a live proxy: the owner with a client credential, nobody else. A real proxy process in front
of the routing test server, real HTTP on 127.0.0.1, a real mcp SDK client, credentials minted and revoked
through the real credentials module (hvac against the in-process Vault), and a second local user made with
``setpriv`` (uid 65534) running curl."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.conftest import start_proxy
from tests.integration.helpers import INIT, JSON_AND_SSE, audit_records
from toolhive_py import credentials as creds
from toolhive_py.config import Paths

WORKLOAD = "routing"
MCP_PATHS = ("/mcp", "/mcp/", "/sse", "/messages/")

needs_second_uid = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None
                                      or shutil.which("curl") is None,
                                      reason="needs root, setpriv and curl to act as a second local user")


@pytest.fixture
def paths(vault_paths: Paths) -> Paths:
    """mcpctl paths whose secret backend is Vault (real hvac, the in-process server), so tokens can be minted."""
    return vault_paths


@pytest.fixture
def token(paths: Paths) -> str:
    return creds.mint(paths, WORKLOAD, "claude-code")


@pytest.fixture
def authed(paths: Paths, token: str, tmp_path: Path) -> Iterator[str]:
    """A proxy started with the workload's credentials file (holding the claude-code client)."""
    yield from start_proxy(tmp_path, "--credentials", str(creds.credentials_file(paths, WORKLOAD)))


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def as_nobody(url: str, *headers: str) -> int:
    """The HTTP status curl gets as uid 65534 (a POST of an initialize request to ``url``)."""
    command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "curl", "-s", "-o", "/dev/null",
               "-w", "%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
               "-H", "Accept: application/json, text/event-stream", "--data", '{"jsonrpc":"2.0","id":1,'
               '"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},'
               '"clientInfo":{"name":"nobody","version":"0"}}}', "--max-time", "30"]
    for header in headers:
        command += ["-H", header]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv
    status = int(done.stdout) if done.stdout.isdigit() else 0
    assert status, f"curl as uid 65534 got no answer: {done.stdout!r} {done.stderr!r}"
    return status


async def call_echo(base: str, headers: dict[str, str] | None, statuses: list[int] | None = None) -> str:
    """Initialize and call ``echo`` with the mcp SDK's Streamable HTTP client, sending ``headers``; the HTTP
    status of every response goes to ``statuses``."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def seen(response: Any) -> None:
        if statuses is not None:
            statuses.append(int(response.status_code))

    async with create_mcp_http_client(headers=headers) as http:
        http.event_hooks = {"response": [seen]}
        async with streamable_http_client(base + "/mcp", http_client=http) as streams, \
                ClientSession(streams[0], streams[1]) as session:
            with anyio.fail_after(20):
                await session.initialize()
                result = await session.call_tool("echo", {"text": "hello"})
    content: Any = result.content[0]
    return str(content.text)


def sdk_refusal(base: str, headers: dict[str, str] | None) -> list[int]:
    """The HTTP statuses the SDK client saw on its way to failing (it reports a 401 as an MCPError)."""
    statuses: list[int] = []
    with pytest.raises(ExceptionGroup):  # the SDK raises its MCPError from inside its task groups
        anyio.run(call_echo, base, headers, statuses)
    return statuses


def test_the_owner_needs_a_valid_credential_on_every_mcp_endpoint(authed: str, token: str) -> None:
    for path in MCP_PATHS:
        missing = httpx.post(authed + path, json=INIT, headers=JSON_AND_SSE)
        assert missing.status_code == 401, path
        assert missing.headers["www-authenticate"] == 'Bearer realm="mcpctl"'
        wrong = httpx.post(authed + path, json=INIT, headers={**JSON_AND_SSE, **bearer(creds.new_token())})
        assert wrong.status_code == 401, path
        assert wrong.headers["www-authenticate"] == 'Bearer realm="mcpctl", error="invalid_token"'
    assert httpx.post(authed + "/mcp", json=INIT, headers={**JSON_AND_SSE, **bearer(token)}).status_code == 200


@needs_second_uid
def test_another_local_user_is_refused_with_the_token_or_without(authed: str, token: str) -> None:
    assert as_nobody(authed + "/mcp") == 403
    assert as_nobody(authed + "/mcp", f"Authorization: Bearer {token}") == 403
    assert as_nobody(authed + "/health/ready") == 403
    # the same calls as the owner: the token is what decides
    assert httpx.post(authed + "/mcp", json=INIT, headers=JSON_AND_SSE).status_code == 401
    assert httpx.post(authed + "/mcp", json=INIT, headers={**JSON_AND_SSE, **bearer(token)}).status_code == 200


@needs_second_uid
def test_an_allowed_uid_still_needs_a_credential(paths: Paths, token: str, tmp_path: Path) -> None:
    for base in start_proxy(tmp_path, "--credentials", str(creds.credentials_file(paths, WORKLOAD)),
                            "--allow-uid", "65534"):
        assert as_nobody(base + "/mcp") == 401
        assert as_nobody(base + "/mcp", f"Authorization: Bearer {token}") == 200


def test_the_sdk_client_reaches_a_tool_with_its_header_and_not_without_or_once_revoked(
        authed: str, token: str, paths: Paths) -> None:
    assert anyio.run(call_echo, authed, bearer(token)) == "hello"
    assert sdk_refusal(authed, None) == [401]
    other = creds.mint(paths, WORKLOAD, "vscode")
    assert creds.revoke(paths, WORKLOAD, "claude-code") == ["claude-code"]
    assert sdk_refusal(authed, bearer(token)) == [401]
    assert anyio.run(call_echo, authed, bearer(other)) == "hello"


def test_connecting_again_rotates_the_credential(authed: str, token: str, paths: Paths) -> None:
    rotated = creds.mint(paths, WORKLOAD, "claude-code")
    assert httpx.post(authed + "/mcp", json=INIT, headers={**JSON_AND_SSE, **bearer(token)}).status_code == 401
    assert httpx.post(authed + "/mcp", json=INIT, headers={**JSON_AND_SSE, **bearer(rotated)}).status_code == 200


def test_probes_tell_an_unauthenticated_caller_only_the_status(authed: str, token: str) -> None:
    assert httpx.get(authed + "/health/live").json() == {"status": "ok"}
    ready = httpx.get(authed + "/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    metrics = httpx.get(authed + "/metrics")
    assert (metrics.status_code, metrics.json()) == (401, {"status": "unauthorized"})
    full = httpx.get(authed + "/health/ready", headers=bearer(token)).json()
    assert full["status"] == "ready"
    assert full["server"] == "routing"
    assert "mcpctl_proxy" in httpx.get(authed + "/metrics", headers=bearer(token)).text


def test_each_audit_record_names_the_client_credential(authed: str, token: str, tmp_path: Path) -> None:
    assert anyio.run(call_echo, authed, bearer(token)) == "hello"
    httpx.post(authed + "/mcp", json=INIT, headers=JSON_AND_SSE)
    records = audit_records(tmp_path)
    calls = [r for r in records if r["method"] == "tools/call"]
    assert [(r["target"], r["outcome"], r["client"]) for r in calls] == [("echo", "ok", "claude-code")]
    assert {r["client"] for r in records if r["outcome"] == "ok"} == {"claude-code"}
    refused = [r for r in records if r["outcome"] == "unauthorized"]
    assert [(r["method"], r["client"]) for r in refused] == [("", "-")]
    assert token not in (tmp_path / "audit.jsonl").read_text()


def test_a_workload_without_a_credentials_file_runs_in_migration_mode(tmp_path: Path) -> None:
    for base in start_proxy(tmp_path, "--credentials", str(tmp_path / "never-written.json")):
        assert anyio.run(call_echo, base, None) == "hello"
        assert httpx.get(base + "/health/ready").json() == {"status": "ready"}
    calls = [r for r in audit_records(tmp_path) if r["method"] == "tools/call"]
    assert [(r["outcome"], r["client"]) for r in calls] == [("ok", "-")]


def test_an_open_sse_stream_ends_when_its_credential_is_revoked(authed: str, token: str, paths: Paths) -> None:
    with httpx.stream("GET", authed + "/sse", headers=bearer(token), timeout=15) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))  # the endpoint event: the session is open
        creds.revoke(paths, WORKLOAD, "claude-code")
        for _ in lines:  # ends (instead of timing out after 15 s) once the proxy closes the stream
            pass
    assert httpx.get(authed + "/sse", headers=bearer(token)).status_code == 401
