"""A registry server that speaks Streamable HTTP or SSE inside its container: the proxy reaches it on the
loopback port the engine published, and clients still see only the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client.client import Client

from tests.e2e.conftest import Engine
from tests.e2e.credentials import credentialed
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.registry import minisign

pytestmark = pytest.mark.anyio


@pytest.fixture
def http_registry(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    (tmp_path / "h.pub").write_text(pair.public.to_file_text())
    servers = {
        "httpsrv": {
            "description": "the test server over Streamable HTTP", "image": MCP_SERVER_IMAGE,
            "transport": "streamable-http", "target_port": 8080,
            "args": ["--transport", "streamable-http", "--port", "8080"],
            "permissions": {"network": {"outbound": {"insecure_allow_all": True}}},
        },
    }
    write_signed(tmp_path / "h.json", servers, pair.secret)
    assert run_cli("registry", "add", "h", str(tmp_path / "h.json"), "--pubkey", str(tmp_path / "h.pub")).exit_code == 0




@pytest.mark.usefixtures("http_registry")
async def test_streamable_http_server_behind_the_proxy(engine: Engine, workload: str) -> None:
    result = run_cli("run", "httpsrv", "--name", workload, "--deny-tools", "whoami", "--json",
                     "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert data["transport"] == "streamable-http"
    async with Client(credentialed(data["url"]), mode="legacy") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "echo" in tools
        assert "whoami" not in tools, "policy applies to HTTP servers too"
        assert (await client.call_tool("echo", {"text": "over http"})).content[0].text == "over http"  # type: ignore[union-attr]
    records = run_cli("audit", workload, "--json").json()["data"]
    assert ("tools/call", "echo", "ok") in {(r["method"], r["target"], r["outcome"]) for r in records}
