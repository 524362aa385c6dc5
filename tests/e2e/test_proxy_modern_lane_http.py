"""The modern lane of a containerized Streamable HTTP server: the multiplexer finds the port the engine
published, probes it with server/discover and relays 2026-07-28 requests to it as POSTs, natively."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.proxy.backends import HttpBackendFactory
from toolhive_py.proxy.lanes import CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY, PROTOCOL_VERSION_KEY
from toolhive_py.proxy.mux import Multiplexer, RequestContext
from toolhive_py.proxy.policy import ToolPolicy
from toolhive_py.registry import minisign

pytestmark = pytest.mark.anyio

META = {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_INFO_KEY: {"name": "e2e", "version": "1"},
        CLIENT_CAPABILITIES_KEY: {}}


@pytest.fixture
def http_registry(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    (tmp_path / "h.pub").write_text(pair.public.to_file_text())
    servers = {"httpsrv": {
        "description": "the test server over Streamable HTTP", "image": MCP_SERVER_IMAGE,
        "transport": "streamable-http", "target_port": 8080, "args": ["--transport", "streamable-http", "--port", "8080"],
        "permissions": {"network": {"outbound": {"insecure_allow_all": True}}}}}
    write_signed(tmp_path / "h.json", servers, pair.secret)
    assert run_cli("registry", "add", "h", str(tmp_path / "h.json"), "--pubkey", str(tmp_path / "h.pub")).exit_code == 0


@pytest.mark.usefixtures("http_registry")
async def test_a_streamable_http_container_is_relayed_natively_on_the_modern_lane(engine: Engine, workload: str) -> None:
    result = run_cli("run", "httpsrv", "--name", workload, "--json", "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    factory = HttpBackendFactory(engine.base_url, f"mcpctl-{workload}", 8080, "streamable-http")
    mux = Multiplexer(factory, server_name=workload, policy=ToolPolicy.from_options(None, "whoami", None))
    answers: list[list[dict[str, Any]]] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(mux.run)
        assert await mux.wait_probed(60)
        assert mux.speaks_modern, mux.modern_unavailable
        assert mux.backend_versions[-1] == "2026-07-28"
        for request_id, name, arguments in ((1, "echo", {"text": "over the modern lane"}), (1, "whoami", {})):
            got: list[dict[str, Any]] = []
            with anyio.fail_after(30):
                await mux.modern({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {
                    "name": name, "arguments": arguments, "_meta": META}}, RequestContext(), got.append)
            answers.append(got)
        mux.stop()
        tg.cancel_scope.cancel()
    echoed, denied = answers[0][-1], answers[1][-1]
    assert echoed["id"] == 1
    assert echoed["result"]["content"][0]["text"] == "over the modern lane"
    assert echoed["result"]["resultType"] == "complete"
    assert echoed["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcpctl-test-server"
    assert denied["error"]["code"] == -32003, "the tool policy decides for the modern lane too"
