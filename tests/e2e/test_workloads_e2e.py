"""The core lifecycle's engine choice: every caller opens its engine through one opener, so the
``runtime.socket`` setting is honoured by `run`, `list` and `scan --fix --apply` alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.registry import minisign


@pytest.fixture
def vetted_test_server(tmp_path: Path) -> str:
    """A signed private registry whose `testsrv` is the test image: a vetted server scan can match by image."""
    pair = minisign.generate_keypair()
    (tmp_path / "v.pub").write_text(pair.public.to_file_text())
    write_signed(tmp_path / "v.json", {"testsrv": {"description": "test server", "image": MCP_SERVER_IMAGE}},
                 pair.secret)
    added = run_cli("registry", "add", "v", str(tmp_path / "v.json"), "--pubkey", str(tmp_path / "v.pub"))
    assert added.exit_code == 0, added.stderr
    return "testsrv"


def test_scan_fix_apply_honours_the_runtime_socket_setting(engine: Engine, workload: str, vetted_test_server: str,
                                                           isolated_home: Path) -> None:
    """With the engine chosen by setting only (no flag, no env), `scan --fix --apply` finds the managed server
    there and re-points the client at it. Auto-detection alone would ask rootful Podman first."""
    assert run_cli("config", "set", "runtime.socket", engine.base_url).exit_code == 0
    started = run_cli("run", vetted_test_server, "--name", workload, "--json")
    assert started.exit_code == 0, started.stderr
    url = started.json()["data"]["url"]
    assert workload in {w["name"] for w in run_cli("list", "--json").json()["data"]}
    config = isolated_home / ".cursor" / "mcp.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"mcpServers": {vetted_test_server: {
        "command": "docker", "args": ["run", "-i", "--rm", MCP_SERVER_IMAGE]}}}))

    applied = run_cli("scan", "--fix", "--apply", "--json", "--no-processes", "--no-containers")
    assert applied.exit_code == 0, applied.stderr
    [step] = [s for s in applied.json()["data"] if s["server"] == vetted_test_server]
    assert (step["action"], step["status"]) == ("repoint", "done")
    assert json.loads(config.read_text())["mcpServers"][vetted_test_server] == {"url": url}
