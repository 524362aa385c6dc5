"""Egress allowlists enforced, on Docker and Podman, against the project's own test hosts only: the server
reaches the allowed host through mcpctl's filter, is refused the other one, and cannot go around the
filter (its network is internal). The filter keeps working however many processes its uid has on the host,
and `doctor` names a filter that is not running."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from tests.e2e.conftest import TEST_LABEL, TEST_LABELS, TEST_RUN, Engine
from tests.e2e.images import BASE_IMAGE, MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.registry import minisign
from toolhive_py.runtime.engine import connect
from toolhive_py.runtime.spec import host_nproc_ceiling

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
            name=name, detach=True, labels=TEST_LABELS, network=network,
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                     docker.types.Ulimit(name="nproc", soft=512, hard=512)])
        container = engine_client.containers.get(name)
        container.reload()
        hosts[role] = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    time.sleep(1.0)
    yield hosts
    for container in engine_client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={TEST_RUN}"}):
        if (container.name or "").startswith("egress-"):
            container.remove(force=True)


def _add_limited_entry(tmp_path: Path, allowed: str) -> None:
    """A signed registry whose `limited` entry is the test server, allowed to reach ``allowed``:8000 only."""
    assert run_cli("config", "set", "build.python_image", BASE_IMAGE).exit_code == 0
    pair = minisign.generate_keypair()
    (tmp_path / "e.pub").write_text(pair.public.to_file_text())
    write_signed(tmp_path / "e.json", {"limited": {
        "description": "may reach one host", "image": MCP_SERVER_IMAGE,
        "permissions": {"network": {"outbound": {"allow_host": [allowed], "allow_port": [8000]}}},
    }}, pair.secret)
    assert run_cli("registry", "add", "e", str(tmp_path / "e.json"), "--pubkey", str(tmp_path / "e.pub")).exit_code == 0


def _fetch(server: Container, ip: str, via: str) -> str:
    _, output = server.exec_run(["python3", "-c", _FETCH, f"http://{ip}:8000/", via])
    assert isinstance(output, bytes)  # not streamed
    return output.decode().strip()


def test_only_the_allowed_host_is_reachable(engine: Engine, engine_client: docker.DockerClient, workload: str,
                                            test_hosts: dict[str, str], tmp_path: Path) -> None:
    _add_limited_entry(tmp_path, test_hosts["allowed"])
    result = run_cli("run", "limited", "--name", workload, "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    assert "egress filter" in result.stderr

    server = engine_client.containers.get(f"mcpctl-{workload}")

    def fetch(ip: str, via: str) -> str:
        return _fetch(server, ip, via)

    assert fetch(test_hosts["allowed"], "proxy") == "allowed"
    assert "403" in fetch(test_hosts["denied"], "proxy")
    assert fetch(test_hosts["allowed"], "direct").startswith("FAILED"), "no way around the filter"
    assert fetch(test_hosts["denied"], "direct").startswith("FAILED")

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    assert not engine_client.containers.list(all=True, filters={"label": f"io.mcpctl.egress-for={workload}"})
    assert not engine_client.networks.list(filters={"label": f"io.mcpctl.egress-for={workload}"})


_THREADS = ("import sys, threading, time\n"
            "threading.stack_size(65536)\n"
            "for _ in range(int(sys.argv[1])):\n"
            "    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
            "print('ready', flush=True)\n"
            "time.sleep(3600)\n")


@pytest.fixture
def busy_uids(engine_client: docker.DockerClient) -> Iterator[None]:
    """600 threads of uid 65534 (the filter's) and of uid 1000 (the test server's) elsewhere on the host, as ten
    other workloads or any other program of those users would have."""
    hogs = []
    for uid in ("65534", "1000"):
        hogs.append(engine_client.containers.run(
            BASE_IMAGE, ["python3", "-c", _THREADS, "600"], user=f"{uid}:{uid}", detach=True, network_mode="none",
            labels=TEST_LABELS, pids_limit=1000,
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                     docker.types.Ulimit(name="nproc", soft=host_nproc_ceiling(), hard=host_nproc_ceiling())]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(b"ready" in hog.logs() for hog in hogs):
        time.sleep(0.5)
    assert all(b"ready" in hog.logs() for hog in hogs), [hog.logs()[-500:] for hog in hogs]
    yield
    for hog in hogs:
        hog.remove(force=True)


@pytest.mark.usefixtures("busy_uids")
def test_the_filter_runs_whatever_its_uid_runs_elsewhere_and_doctor_checks_it(
    engine: Engine, engine_client: docker.DockerClient, workload: str, test_hosts: dict[str, str], tmp_path: Path,
) -> None:
    from toolhive_py.runtime.egress import sidecar_state

    _add_limited_entry(tmp_path, test_hosts["allowed"])
    result = run_cli("run", "limited", "--name", workload, "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    sidecar = engine_client.containers.get(f"mcpctl-{workload}-egress-filter")
    server = engine_client.containers.get(f"mcpctl-{workload}")
    for container in (sidecar, server):
        host_config = container.attrs["HostConfig"]
        limits = {u["Name"]: u["Soft"] for u in host_config["Ulimits"]}
        assert limits.get("nproc", host_nproc_ceiling()) >= host_nproc_ceiling(), "no per-uid process bound"
        assert 0 < host_config["PidsLimit"] <= 256, "processes are bounded by the container's own cgroup"
    assert _fetch(server, test_hosts["allowed"], "proxy") == "allowed"
    time.sleep(2)  # a filter that cannot start is restarted by the engine: give a crash loop time to show
    with connect(flag=engine.base_url) as core_engine:
        assert sidecar_state(core_engine, workload) == "running"
    checks = {c["name"]: c for c in run_cli("doctor", "--json", "--runtime-socket", engine.base_url)
              .json()["data"]["checks"]}
    assert checks[f"egress filter {workload}"]["status"] == "ok"
    status = run_cli("status", workload, "--json", "--runtime-socket", engine.base_url).json()["data"]
    assert status["egress_filter"] == "running"

    sidecar.stop(timeout=1)
    with connect(flag=engine.base_url) as core_engine:
        assert sidecar_state(core_engine, workload) == "exited"
        assert sidecar_state(core_engine, "no-such-workload") is None
    doctor = run_cli("doctor", "--json", "--runtime-socket", engine.base_url)
    assert doctor.exit_code == 1
    check = {c["name"]: c for c in doctor.json()["data"]["checks"]}[f"egress filter {workload}"]
    assert check["status"] == "fail"
    assert "exited" in check["detail"]
    assert f"mcpctl start {workload}" in check["fix"]
    shown = run_cli("status", workload, "--runtime-socket", engine.base_url).stdout
    assert "egress_filter" in shown
    assert "exited" in shown
