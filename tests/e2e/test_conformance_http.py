"""The conformance suite's 2026-07-28 requirement set against our conformance server over Streamable HTTP in a
container, directly (its published port) and through the proxy in front of it: the proxy loses no check."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.conformance.runner import NEXT, SERVER, free_port, run_requirements
from tests.e2e.conftest import TEST_LABELS, Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from toolhive_py.runtime.spec import host_nproc_ceiling


def _answers(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the proxy exited"
        try:
            if httpx.get(url, timeout=2).status_code in (200, 400, 405, 406):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def server_container(engine: Engine, engine_client: docker.DockerClient) -> Iterator[tuple[str, str]]:
    """(container name, its direct URL): the conformance server, mounted read-only into the test image."""
    name, port = f"mcpctl-conformance-{uuid.uuid4().hex[:8]}", free_port()
    container = engine_client.containers.run(
        MCP_SERVER_IMAGE, ["--transport", "streamable-http", "--host", "0.0.0.0", "--port", "8080"],  # noqa: S104
        entrypoint=["/opt/server/bin/python", "/conformance/server.py"], name=name, detach=True,
        labels=TEST_LABELS, volumes={str(SERVER.parent): {"bind": "/conformance", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", port)},
        # Podman here needs explicit nofile and nproc limits
        ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                 docker.types.Ulimit(name="nproc", soft=host_nproc_ceiling(), hard=host_nproc_ceiling())])
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        _answers(url)
        yield name, url
    finally:
        container.remove(force=True)


@pytest.fixture
def proxy_in_front(engine: Engine, server_container: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    name, _ = server_container
    port = free_port()
    log = (tmp_path / "proxy.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--name", "conformance",  # noqa: S603
                                "--container", name, "--engine", engine.base_url, "--upstream", "streamable-http",
                                "--target-port", "8080"], stdout=log, stderr=log)
    try:
        _answers(f"http://127.0.0.1:{port}/health/ready", process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_a_streamable_http_container_loses_no_2026_07_28_check_through_the_proxy(
        server_container: tuple[str, str], proxy_in_front: str) -> None:
    if not NEXT.exists():
        pytest.fail("the 2026-07-28 conformance suite is not installed (bash scripts/lib/node-tools)")
    direct = run_requirements(server_container[1], "2026-07-28")
    proxied = run_requirements(proxy_in_front, "2026-07-28")
    passed_directly = {check for check, status in direct.items() if status == "SUCCESS"}
    passed_proxied = {check for check, status in proxied.items() if status == "SUCCESS"}
    print(f"conformance 2026-07-28 over HTTP in a container: direct {len(passed_directly)}/{len(direct)}, "  # noqa: T201
          f"through the proxy {len(passed_proxied)}/{len(proxied)}")
    assert len(passed_directly) > 100, direct
    assert passed_directly - passed_proxied == set(), "checks the proxy loses"
