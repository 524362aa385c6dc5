"""The engine itself restarts under a running workload: the proxy reports not-ready while it is gone and
re-attaches when it is back, and clients can call tools again.

Docker stops the container with the daemon and its on-failure policy starts it again. Podman's containers
outlive its API service, but the server's stdin closes with the attach connection, so the server exits 0;
the proxy starts it again (see `lost_its_stdin`)."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.e2e.conftest import Engine
from tests.e2e.test_proxy import _echo, _run, _wait_ready

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
SERVICE = {"docker": ["dockerd"], "podman": ["-f", "podman system service"]}
ENSURE = {"docker": "ensure_dockerd", "podman": "ensure_podman"}


def restart_engine(engine: Engine, url: str) -> None:
    """Stop the engine (and see the proxy go not-ready), then start it the way scripts/test does."""
    match = SERVICE[engine.name]
    subprocess.run(["pkill", "-TERM", *(["-x"] if engine.name == "docker" else []), *match], check=True)  # noqa: S603, S607
    deadline = time.monotonic() + 60
    while subprocess.run(["pgrep", *(["-x"] if engine.name == "docker" else []), *match],  # noqa: S603, S607
                         capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, f"{engine.name} did not stop"
        time.sleep(0.2)
    _wait_ready(url, 503, timeout=15)
    common = ROOT / "scripts" / "lib" / "common.sh"
    subprocess.run(["bash", "-c", f"source '{common}' && {ENSURE[engine.name]}"], cwd="/",  # noqa: S603, S607
                   check=True, env=daemon_environment(), timeout=120)


def _diagnosis(engine: Engine, workload: str) -> str:
    """What the proxy logged and the state the engine reports, for a failure worth reading."""
    log = Path(os.environ["HOME"]) / ".local" / "state" / "mcpctl" / "workloads" / workload / "proxy.log"
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no proxy log)"
    client = docker.DockerClient(base_url=engine.base_url, timeout=30)
    try:
        state = client.api.inspect_container(f"mcpctl-{workload}").get("State")
    except docker.errors.DockerException as exc:
        state = f"inspect failed: {exc}"
    finally:
        client.close()
    return f"container state: {state}\nproxy log (tail):\n{tail}"


def daemon_environment() -> dict[str, str]:
    """A clean environment for an engine that outlives the test, like the one scripts/test starts it with.

    Inheriting the test's was wrong: Podman would keep state under the temporary HOME/XDG dirs, and with
    the test session's D-Bus address its restart-policy cleanup waited on a bus that is not systemd's (a
    crashing server was no longer restarted in time). The working directory is / for the same reason
    (common.sh also starts the daemons there): conmon fails once the service's directory is deleted.
    """
    kept = {name: os.environ[name] for name in ("PATH", "LANG", "TERM") if name in os.environ}
    return {**kept, "HOME": str(REAL_HOME)}


async def test_the_proxy_comes_back_after_the_engine_restarts(engine: Engine, workload: str) -> None:
    url = str(_run(engine, workload)["url"])
    _wait_ready(url, 200)
    assert await _echo(url, workload, "legacy", "before") == "before"
    time.sleep(11)  # a server that exits 0 sooner than 10 s after starting counts as broken, not orphaned
    restart_engine(engine, url)
    try:
        _wait_ready(url, 200, timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_diagnosis(engine, workload)}") from None
    assert await _echo(url, workload, "legacy", "after the engine restarted") == "after the engine restarted"
    assert await _echo(url, workload, "auto", "stateless too") == "stateless too"
