"""Entries mcpctl writes into client configs really work: an SDK client built from Cursor's entry (its URL and
the credential in its headers) reaches the server through the proxy and gets 401 without the credential or
once it is revoked; Claude Code's headersHelper, run through the shell as Claude Code runs it, gives headers
that work; Claude Desktop's entry, run as that client would, works through `mcpctl connect` with no token in
any file. No written file holds the secret; `mcpctl rm` takes the entries away and revokes every credential."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli
from toolhive_py import credentials
from toolhive_py.config import Paths

pytestmark = pytest.mark.anyio


async def _call(url: str, headers: Mapping[str, str], tool: str, arguments: dict[str, str]) -> str | MCPError:
    """One tool call by the mcp SDK client over Streamable HTTP, sending ``headers`` as a client's entry says: its
    text, or the JSON-RPC error it got (caught inside the session, before its task group wraps it)."""
    async with create_mcp_http_client(headers=dict(headers)) as http, \
            streamable_http_client(url, http_client=http) as (read, write, *_), ClientSession(read, write) as session:
        await session.initialize()
        try:
            return str((await session.call_tool(tool, arguments)).content[0].text)  # type: ignore[union-attr]
        except MCPError as error:
            return error


def _initialize_status(url: str, headers: Mapping[str, str]) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
    return httpx.post(url, json=message, headers={"Accept": "application/json, text/event-stream", **headers},
                      timeout=10, trust_env=False)


@pytest.mark.usefixtures("secret_service")
async def test_written_entries_reach_the_server_and_hold_no_secret(engine: Engine, workload: str,
                                                                   isolated_home: Path) -> None:
    value = f"sk-client-{uuid.uuid4().hex}"
    assert run_cli("secret", "set", "client_probe", input=value).exit_code == 0
    result = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload, "--secret", "client_probe:TOKEN",
                     "--client", "cursor,claude-desktop,vscode", "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr

    cursor_entry = json.loads((isolated_home / ".cursor" / "mcp.json").read_text())["mcpServers"][workload]
    assert await _call(cursor_entry["url"], cursor_entry["headers"], "echo", {"text": "cursor"}) == "cursor"
    # The proxy's DLP withholds a result holding the server's own injected secret: the refusal shows the
    # value reached the server, and the client gets no copy.
    withheld = await _call(cursor_entry["url"], cursor_entry["headers"], "get_env", {"name": "TOKEN"})
    assert isinstance(withheld, MCPError)
    assert withheld.code == -32006
    assert value not in withheld.message

    desktop = isolated_home / ".config" / "Claude" / "claude_desktop_config.json"
    entry = json.loads(desktop.read_text())["mcpServers"][workload]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert (await session.call_tool("echo", {"text": "desktop"})).content[0].text == "desktop"  # type: ignore[union-attr]

    status = run_cli("client", "status", "vscode", "--json").json()["data"]
    assert [(s["name"], s["managed"]) for s in status["servers"]] == [(workload, True)]
    assert not [p for p in isolated_home.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    assert not (isolated_home / ".cursor" / "mcp.json").exists()
    assert not desktop.exists()


def test_connect_names_an_unknown_server_and_client(engine: Engine) -> None:
    unknown_server = run_cli("client", "connect", "cursor", "nope", "--runtime-socket", engine.base_url)
    assert unknown_server.exit_code == 4
    assert "No managed server named 'nope'" in unknown_server.stderr
    unknown_client = run_cli("client", "connect", "cursr", "--all", "--runtime-socket", engine.base_url)
    assert unknown_client.exit_code == 4
    assert "Did you mean: cursor" in unknown_client.stderr


@pytest.mark.usefixtures("secret_service")
async def test_only_connected_clients_get_in_and_revocation_is_immediate(engine: Engine, workload: str,
                                                                         isolated_home: Path) -> None:
    result = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload,
                     "--client", "cursor,claude-desktop,claude-code", "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    paths = Paths.from_env()
    entry = json.loads((isolated_home / ".cursor" / "mcp.json").read_text())["mcpServers"][workload]
    url, headers = entry["url"], entry["headers"]
    assert await _call(url, headers, "echo", {"text": "in"}) == "in"

    refused = _initialize_status(url, {})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert _initialize_status(url, {"Authorization": "Bearer " + credentials.new_token()}).status_code == 401

    # Claude Code runs its headersHelper through the shell and sends what it prints.
    code = json.loads((isolated_home / ".claude.json").read_text())["mcpServers"][workload]
    assert "headers" not in code
    helper = subprocess.run(code["headersHelper"], shell=True, capture_output=True, text=True,  # noqa: S602 - as Claude Code runs it
                            timeout=60, check=True, env=dict(os.environ))
    assert await _call(code["url"], json.loads(helper.stdout), "echo", {"text": "code"}) == "code"

    # Claude Desktop: the bridge finds its token in the keyring; no file under HOME holds it.
    desktop_token = credentials.token(paths, workload, "claude-desktop")
    assert desktop_token is not None
    assert not [p for p in isolated_home.rglob("*") if p.is_file() and desktop_token.encode() in p.read_bytes()]
    desktop = json.loads((isolated_home / ".config" / "Claude" / "claude_desktop_config.json").read_text())
    bridge = desktop["mcpServers"][workload]
    params = StdioServerParameters(command=bridge["command"], args=bridge["args"], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert (await session.call_tool("echo", {"text": "desktop"})).content[0].text == "desktop"  # type: ignore[union-attr]

    # Revoked: the running proxy refuses the old token at once; the other clients keep theirs.
    assert run_cli("client", "revoke", "cursor", workload).exit_code == 0
    assert _initialize_status(url, headers).status_code == 401
    assert await _call(code["url"], json.loads(helper.stdout), "echo", {"text": "still"}) == "still"
    # Connecting again rotates: a new token that works, in the rewritten entry.
    assert run_cli("client", "connect", "cursor", workload, "--runtime-socket", engine.base_url).exit_code == 0
    rotated = json.loads((isolated_home / ".cursor" / "mcp.json").read_text())["mcpServers"][workload]["headers"]
    assert rotated != headers
    assert await _call(url, rotated, "echo", {"text": "again"}) == "again"

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    assert credentials.clients_of(paths, workload) == []
    assert credentials.token(paths, workload, "claude-desktop") is None


@pytest.mark.usefixtures("secret_service")
async def test_upgrade_ends_migration_mode_and_gives_old_entries_a_credential(engine: Engine, workload: str,
                                                                               isolated_home: Path) -> None:
    from toolhive_py.clients.api import ManagedServer, connect, resolve_target

    result = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url,
                     "--json")
    assert result.exit_code == 0, result.stderr
    url = result.json()["data"]["url"]
    # As a workload and an entry from before credentials: no credentials file when its proxy starts, and an
    # entry without one.
    paths = Paths.from_env()
    assert run_cli("stop", workload, "--runtime-socket", engine.base_url).exit_code == 0
    credentials.credentials_file(paths, workload).unlink()
    assert run_cli("start", workload, "--runtime-socket", engine.base_url).exit_code == 0
    connect(paths, resolve_target("cursor"), [ManagedServer(workload, url)])
    assert _initialize_status(url, {}).status_code == 200, "migration mode: the old entry still works"
    doctor = run_cli("doctor", "--json", "--runtime-socket", engine.base_url).json()["data"]["checks"]
    warned = {c["name"] for c in doctor if c["status"] == "warn"}
    assert {f"client cursor {workload}", f"credentials {workload}"} <= warned

    # Connecting one client ends migration mode, and says so: the old entry stops working.
    connected = run_cli("client", "connect", "claude-code", workload, "--json", "--runtime-socket", engine.base_url)
    assert connected.json()["data"]["ended_migration"] == [workload]
    assert _initialize_status(url, {}).status_code == 401
    again = run_cli("client", "connect", "claude-code", workload, "--json", "--runtime-socket", engine.base_url)
    assert again.json()["data"]["ended_migration"] == []

    upgraded = run_cli("client", "upgrade", "--json", "--runtime-socket", engine.base_url)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert workload not in upgraded.json()["data"]["secured"], upgraded.stdout
    entry = json.loads((isolated_home / ".cursor" / "mcp.json").read_text())["mcpServers"][workload]
    assert _initialize_status(url, {}).status_code == 401, "the entry without a credential no longer gets in"
    assert await _call(url, entry["headers"], "echo", {"text": "upgraded"}) == "upgraded"
    doctor = run_cli("doctor", "--json", "--runtime-socket", engine.base_url).json()["data"]["checks"]
    assert not {f"client cursor {workload}", f"credentials {workload}"} & {c["name"] for c in doctor
                                                                             if c["status"] == "warn"}
