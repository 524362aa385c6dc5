"""Every built-in entry pinned by hash is built here, with no image registry, run hardened and tools/list-ed
(`pytest tests/e2e/test_builds_registry.py -m registry -k docker`; slow, so it runs only when selected).
REGISTRY_RUN_REPORT=FILE appends one JSON line per entry (build seconds, tools or the error) for docs/registry.md."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client

from tests.e2e.conftest import Engine
from tests.e2e.images import BASE_IMAGE, NODE_IMAGE
from tests.helpers import run_cli
from toolhive_py.registry.store import builtin_registry_path
from toolhive_py.secrets.base import ENV_PREFIX, env_var_for

try:
    from tests.e2e.credentials import credentialed
except ImportError:  # the proxy credentials (issue 14) not in this tree yet: the proxy lets any local client in
    def credentialed(url: str) -> Any:  # type: ignore[misc]  # noqa: ANN401 - the same role, before it exists
        return url

pytestmark = [pytest.mark.anyio, pytest.mark.registry]
_SERVERS: dict[str, dict[str, Any]] = json.loads(builtin_registry_path().read_text())["servers"]
PINNED = sorted(name for name, entry in _SERVERS.items() if entry.get("package_lock"))
REPORT = os.environ.get("REGISTRY_RUN_REPORT")  # read before the isolation fixtures clean the environment
PLACEHOLDER = "mcpctl-registry-run-placeholder"
# Values a server parses at start: a placeholder of the right shape (nothing listens on port 9)
# (and the settings without which a server offers no tools, as mcp-atlassian does with no site configured)
SHAPED = {"MDB_MCP_CONNECTION_STRING": "mongodb://127.0.0.1:9/placeholder", "STRIPE_SECRET_KEY": "rk_test_placeholder",
          "JIRA_URL": "https://placeholder.atlassian.net", "JIRA_USERNAME": "placeholder@example.com",
          "CONFLUENCE_URL": "https://placeholder.atlassian.net/wiki", "CONFLUENCE_USERNAME": "placeholder@example.com"}


@pytest.fixture(autouse=True)
def selected(request: pytest.FixtureRequest) -> None:
    if "registry" not in (request.config.option.markexpr or ""):
        pytest.skip("builds every pinned entry: select with -m registry")
    assert run_cli("config", "set", "build.python_image", BASE_IMAGE).exit_code == 0
    assert run_cli("config", "set", "build.node_image", NODE_IMAGE).exit_code == 0


def _record(line: dict[str, Any]) -> None:
    if REPORT:
        with Path(REPORT).open("a", encoding="utf-8") as report:
            report.write(json.dumps(line) + "\n")


@pytest.mark.parametrize("server", PINNED)
async def test_pinned_entry_builds_and_lists_its_tools(engine: Engine, workload: str, server: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _SERVERS[server]
    options: list[str] = []
    for var in entry.get("env_vars", []):
        if var.get("secret"):  # `run` needs every secret; servers that check for a key at start still start
            monkeypatch.setenv(ENV_PREFIX + env_var_for(var["name"]), SHAPED.get(var["name"], PLACEHOLDER))
        elif var["name"] in SHAPED or (var.get("required") and not var.get("default")):
            options += ["-e", f"{var['name']}={SHAPED.get(var['name'], PLACEHOLDER)}"]
    if entry.get("transport", "stdio") != "stdio":  # docs/runtime.md, "Not yet": the proxy reaches it over a network
        options += ["--permission-profile", "network"]
    if server == "filesystem":  # it serves the directories it is given, which must exist: mount one
        (tmp_path / "projects").mkdir()
        options += ["-v", f"{tmp_path / 'projects'}:/projects:rw"]
    started = time.monotonic()
    result = run_cli("run", server, "--name", workload, "--secret-backend", "env", "--json", *options,
                     "--runtime-socket", engine.base_url)
    built = round(time.monotonic() - started, 1)
    if result.exit_code != 0:
        _record({"server": server, "engine": engine.name, "ok": False, "seconds": built, "error": result.stderr[-400:]})
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    try:
        async with Client(credentialed(data["url"]), mode="legacy") as client:
            tools = sorted(tool.name for tool in (await client.list_tools()).tools)
    except Exception as error:
        _record({"server": server, "engine": engine.name, "ok": False, "seconds": built, "error": repr(error)[-400:],
                 "logs": run_cli("logs", workload).stdout[-1500:]})
        raise
    _record({"server": server, "engine": engine.name, "ok": bool(tools), "seconds": built,
             "package": entry["package"], "image": data["image"], "tools": tools})
    assert tools
