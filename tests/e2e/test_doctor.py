"""`mcpctl doctor` on real engines: all green when everything is up, and a stopped engine or a dead proxy
named with its fix."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli


@pytest.mark.usefixtures("secret_service")
def test_everything_up_is_all_green_and_a_dead_proxy_is_named(engine: Engine, workload: str) -> None:
    assert run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload,
                   "--runtime-socket", engine.base_url).exit_code == 0
    result = run_cli("doctor", "--json", "--runtime-socket", engine.base_url)
    checks = {c["name"]: c for c in result.json()["data"]["checks"]}
    # Other homes' workloads on a shared engine are warnings, never failures.
    assert result.exit_code == 0, result.stdout
    assert {c["status"] for c in checks.values() if "another mcpctl home" not in c["detail"]} == {"ok"}
    assert checks["container engine"]["detail"].startswith(engine.name)
    assert "ready on http://127.0.0.1:" in checks[f"proxy {workload}"]["detail"]
    assert checks["secret backend"]["detail"].startswith("keyring answers")

    state = Path(os.environ["HOME"]) / ".local" / "state" / "mcpctl" / "workloads" / workload / "proxy.json"
    os.kill(json.loads(state.read_text())["pid"], signal.SIGKILL)
    result = run_cli("doctor", "--runtime-socket", engine.base_url)
    assert result.exit_code == 1
    # Docker keeps the server running without its proxy; Podman 4 closes its stdin, so it exits too.
    assert (f"✗ proxies   proxy {workload}: not running" in result.stdout
            or f"✗ proxies   proxy {workload}: the server stopped unexpectedly" in result.stdout)
    assert f"fix: mcpctl start {workload}" in result.stdout


def test_a_stopped_engine_is_named_with_the_fix(tmp_path: Path) -> None:
    dead = tmp_path / "engine.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as leftover:
        leftover.bind(str(dead))  # what a stopped daemon leaves behind: a socket file nobody listens on
        result = run_cli("doctor", "--json", "--runtime-socket", f"unix://{dead}")
    assert result.exit_code == 1
    engine_check = next(c for c in result.json()["data"]["checks"] if c["name"] == "container engine")
    assert engine_check["status"] == "fail"
    assert str(dead) in engine_check["detail"]
    assert "Connection refused" in engine_check["detail"]
    assert "dockerd" in engine_check["fix"]
    assert result.json()["status"] == "error"
