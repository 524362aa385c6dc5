"""Entries mcpctl writes into client configs really work: an SDK client built from Cursor's entry reaches
the server through the proxy, and Claude Desktop's entry, run as that client would, works through
`mcpctl connect`. No written file holds the secret; `mcpctl rm` takes the entries away again."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli

pytestmark = pytest.mark.anyio


@pytest.mark.usefixtures("secret_service")
async def test_written_entries_reach_the_server_and_hold_no_secret(engine: Engine, workload: str,
                                                                   isolated_home: Path) -> None:
    value = f"sk-client-{uuid.uuid4().hex}"
    assert run_cli("secret", "set", "client_probe", input=value).exit_code == 0
    result = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload, "--secret", "client_probe:TOKEN",
                     "--client", "cursor,claude-desktop,vscode", "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr

    cursor_entry = json.loads((isolated_home / ".cursor" / "mcp.json").read_text())["mcpServers"][workload]
    async with Client(cursor_entry["url"], mode="legacy") as client:
        # The proxy's DLP withholds a result holding the server's own injected secret: the refusal shows the
        # value reached the server, and the client gets no copy.
        with pytest.raises(MCPError) as withheld:
            await client.call_tool("get_env", {"name": "TOKEN"})
    assert withheld.value.code == -32006
    assert value not in withheld.value.message

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
