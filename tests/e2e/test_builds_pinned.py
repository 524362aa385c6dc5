"""Built-in entries pinned by hash, built with no image registry: `time` (uvx://, pip --require-hashes) and
`everything` (npx://, npm ci) are built and tools/list-ed through the proxy; a copy of each whose pins were
changed, re-signed with a test key, is refused at build time (exit 3) naming the file and both hashes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from mcp.client.client import Client

from tests.e2e.conftest import Engine
from tests.e2e.images import BASE_IMAGE, NODE_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.errors import ExitCode
from toolhive_py.registry import minisign
from toolhive_py.registry.store import builtin_registry_path

try:
    from tests.e2e.credentials import credentialed
except ImportError:  # the proxy credentials (issue 14) not in this tree yet: the proxy lets any local client in
    def credentialed(url: str) -> Any:  # type: ignore[misc]  # noqa: ANN401 - the same role, before it exists
        return url

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def local_bases() -> None:
    assert run_cli("config", "set", "build.python_image", BASE_IMAGE).exit_code == 0
    assert run_cli("config", "set", "build.node_image", NODE_IMAGE).exit_code == 0


def _builtin(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(builtin_registry_path().read_text())["servers"][name]
    return entry


async def _tools(url: str) -> set[str]:
    async with Client(credentialed(url), mode="legacy") as client:
        return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize(("server", "tool"), [("time", "get_current_time"), ("everything", "echo")])
async def test_pinned_builtin_entry_is_built_and_lists_its_tools(engine: Engine, engine_client: docker.DockerClient,
                                                                 workload: str, server: str, tool: str) -> None:
    entry = _builtin(server)
    assert entry["package_lock"], "the built-in entry is pinned by hash"
    result = run_cli("run", server, "--name", workload, "--json", "--secret-backend", "env",
                     "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert data["vetted"] is True
    assert data["image"].startswith("mcpctl-build/")
    assert engine_client.images.get(data["image"]).labels["io.mcpctl.build.package"] == entry["package"]
    assert tool in await _tools(data["url"])


def _tamper_pypi(entry: dict[str, Any]) -> tuple[str, str, str]:
    root = next(r for r in entry["package_lock"]["requirements"] if r["name"] == "mcp-server-time")
    original, root["sha256"] = root["sha256"][0], ["0" * 64]
    return f"mcp_server_time-{root['version']}-py3-none-any.whl", "sha256:" + "0" * 64, "sha256:" + original


def _tamper_npm(entry: dict[str, Any]) -> tuple[str, str, str]:
    record = entry["package_lock"]["npm"]["node_modules/zod"]
    forged = "sha512-" + "A" * 86 + "=="
    original, record["integrity"] = record["integrity"], forged
    return f"zod@{record['version']}", forged, original


@pytest.mark.parametrize(("server", "tamper"), [("time", _tamper_pypi), ("everything", _tamper_npm)])
def test_a_tampered_pin_is_refused_at_build(engine: Engine, engine_client: docker.DockerClient, workload: str,
                                            tmp_path: Path, server: str,
                                            tamper: Callable[[dict[str, Any]], tuple[str, str, str]]) -> None:
    entry = _builtin(server)
    entry.pop("image", None)  # only the package can be run: the build must happen
    file, expected, actual = tamper(entry)
    pair = minisign.generate_keypair()
    document = write_signed(tmp_path / "acme.json", {server: entry}, pair.secret)
    (tmp_path / "acme.pub").write_text(pair.public.to_file_text())
    added = run_cli("registry", "add", "acme", str(document), "--pubkey", str(tmp_path / "acme.pub"))
    assert added.exit_code == 0, added.stderr

    result = run_cli("run", f"acme/{server}", "--name", workload, "--secret-backend", "env",
                     "--runtime-socket", engine.base_url)
    assert result.exit_code == ExitCode.VERIFICATION, result.stderr
    message = " ".join(result.stderr.split())
    assert file in message
    assert f"expected {expected}" in message
    assert f"got {actual}" in message
    assert not engine_client.containers.list(all=True, filters={"name": f"mcpctl-{workload}"})


@pytest.mark.parametrize(("server", "settings", "advice"), [
    ("time", {"PIP_INDEX_URL": "http://127.0.0.1:9/simple/", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": "/dev/null",
              "PIP_RETRIES": "0", "PIP_NO_CACHE_DIR": "1"}, "pip config set global.index-url"),
    ("everything", {"npm_config_registry": "http://127.0.0.1:9/", "npm_config_fetch_retries": "0"},
     "npm config set registry"),
])
def test_an_unreachable_index_says_what_to_configure(engine: Engine, workload: str, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path, server: str, settings: dict[str, str],
                                                     advice: str) -> None:
    ca = tmp_path / "ca.pem"  # an input of the build's fingerprint: no image built before can stand in
    ca.write_text(f"# {uuid.uuid4()}\n")
    assert run_cli("config", "set", "build.ca_bundle", str(ca)).exit_code == 0
    for name, value in settings.items():  # nothing listens on port 9: an air-gapped machine without a mirror
        monkeypatch.setenv(name, value)
    result = run_cli("run", server, "--name", workload, "--secret-backend", "env", "--runtime-socket", engine.base_url)
    assert result.exit_code == ExitCode.ENGINE, result.stderr
    message = " ".join(result.stderr.split())
    assert "Could not fetch" in message
    assert advice in message
    assert "build.ca_bundle" in message
    assert "Air-gapped machines" in message
