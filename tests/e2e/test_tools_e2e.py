"""`mcpctl tools` against a workload `mcpctl run` started on Docker and Podman: the CLI finds the workload's
proxy, lists the server's tools (pinned on first use by that proxy), calls them through it, and gets the
proxy's refusals as errors."""

from __future__ import annotations

import json

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import CLIResult, run_cli
from toolhive_py.errors import ExitCode


def mcpctl(engine: Engine, *args: str) -> CLIResult:
    return run_cli(*args, "--runtime-socket", engine.base_url)


def test_list_and_call_the_tools_of_a_running_workload(engine: Engine, workload: str) -> None:
    started = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload, "--deny-tools", "whoami")
    assert started.exit_code == 0, started.stderr

    listed = mcpctl(engine, "tools", "list", workload, "--json")
    assert listed.exit_code == 0, listed.stderr
    data = listed.json()["data"]
    tools = {t["name"]: t for t in data["tools"]}
    assert {"echo", "add", "get_env"} <= {name for name, t in tools.items() if t["visible"]}
    assert "whoami" not in {name for name, t in tools.items() if t["visible"]}
    assert data["pinning"] is True
    assert tools["add"]["pin"] == "approved"
    assert tools["add"]["description"] == "Add two integers."
    assert tools["echo"]["findings"] == []

    added = mcpctl(engine, "tools", "call", workload, "add", "--args", '{"a": 2, "b": 40}')
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)["content"][0]["text"] == "42"

    echoed = mcpctl(engine, "tools", "call", workload, "echo", "--args", '{"text": "through the proxy"}', "--json")
    assert echoed.exit_code == 0, echoed.stderr
    assert echoed.json()["data"]["result"]["content"][0]["text"] == "through the proxy"

    denied = mcpctl(engine, "tools", "call", workload, "whoami")
    assert denied.exit_code == ExitCode.VERIFICATION
    assert "whoami" in denied.stderr

    assert run_cli("tools", "diff", workload).stdout.strip().endswith("no tool changes waiting for approval.")


def test_tools_of_an_unknown_workload_is_not_found(engine: Engine) -> None:
    result = mcpctl(engine, "tools", "list", "no-such-workload")
    assert result.exit_code == ExitCode.NOT_FOUND
