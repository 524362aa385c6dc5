"""Egress allowlists enforced, on Docker and Podman, against the project's own test hosts only: the server
reaches the allowed host through mcpctl's filter, is refused the other one, and cannot go around the
filter (its network is internal)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import TEST_LABEL, Engine
from tests.e2e.images import BASE_IMAGE, MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.registry import minisign

_FETCH = ("import sys, urllib.request\n"
          "opener = urllib.request.build_opener() if sys.argv[2] == 'proxy' else "
          "urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
          "try:\n"
          "    print(opener.open(sys.argv[1], timeout=5).read().decode().strip())\n"
          "except Exception as exc:\n"
          "    print(f'FAILED {exc}')\n")


@pytest.fixture
def test_hosts(engine: Engine, engine_client: docker.DockerClient) -> Iterator[dict[str, str]]:
    """Two HTTP servers on the engine's default network, each answering with its own name: {name: ip}."""
    network = "podman" if engine.name == "podman" else "bridge"
    hosts = {}
    for role in ("allowed", "denied"):
        name = f"egress-{role}-{uuid.uuid4().hex[:6]}"
        engine_client.containers.run(
            BASE_IMAGE, ["sh", "-c", f"mkdir -p /tmp/w && echo {role} > /tmp/w/index.html && cd /tmp/w && "
                                     "exec python3 -m http.server 8000"],
            name=name, detach=True, labels={TEST_LABEL: "1"}, network=network,
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                     docker.types.Ulimit(name="nproc", soft=512, hard=512)])
        container = engine_client.containers.get(name)
        container.reload()
        hosts[role] = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    time.sleep(1.0)
    yield hosts
    for container in engine_client.containers.list(all=True, filters={"label": TEST_LABEL}):
        if container.name.startswith("egress-"):
            container.remove(force=True)


def test_only_the_allowed_host_is_reachable(engine: Engine, engine_client: docker.DockerClient, workload: str,
                                            test_hosts: dict[str, str], tmp_path: Path) -> None:
    assert run_cli("config", "set", "build.python_image", BASE_IMAGE).exit_code == 0
    pair = minisign.generate_keypair()
    (tmp_path / "e.pub").write_text(pair.public.to_file_text())
    write_signed(tmp_path / "e.json", {"limited": {
        "description": "may reach one host", "image": MCP_SERVER_IMAGE,
        "permissions": {"network": {"outbound": {"allow_host": [test_hosts["allowed"]], "allow_port": [8000]}}},
    }}, pair.secret)
    assert run_cli("registry", "add", "e", str(tmp_path / "e.json"), "--pubkey", str(tmp_path / "e.pub")).exit_code == 0
    result = run_cli("run", "limited", "--name", workload, "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    assert "egress filter" in result.stderr

    server = engine_client.containers.get(f"mcpctl-{workload}")

    def fetch(ip: str, via: str) -> str:
        _, output = server.exec_run(["python3", "-c", _FETCH, f"http://{ip}:8000/", via])
        return str(output.decode().strip())

    assert fetch(test_hosts["allowed"], "proxy") == "allowed"
    assert "403" in fetch(test_hosts["denied"], "proxy")
    assert fetch(test_hosts["allowed"], "direct").startswith("FAILED"), "no way around the filter"
    assert fetch(test_hosts["denied"], "direct").startswith("FAILED")

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    assert not engine_client.containers.list(all=True, filters={"label": f"io.mcpctl.egress-for={workload}"})
    assert not engine_client.networks.list(filters={"label": f"io.mcpctl.egress-for={workload}"})
