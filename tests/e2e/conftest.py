"""Fixtures for end-to-end tests: real Docker and Podman engines, the real Secret Service keyring.

scripts/test starts both engines and the keyring and builds the images in tests/e2e/images.py. When
something is missing, tests fail under CI (env CI set) and skip elsewhere with a pointer to scripts/test.
Podman here needs explicit ulimits (nofile, nproc) on every container; runc is its runtime.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import docker.errors
import pytest

from tests.e2e.images import MCP_SERVER_IMAGE

ENGINE_SOCKETS = {"docker": "unix:///var/run/docker.sock", "podman": "unix:///run/podman/podman.sock"}
TEST_LABEL = "io.mcpctl.test"
# The value names this test session: cleanup removes only its own containers, never those of another pytest run
# sharing the engine (a second session's teardown used to remove a running test's containers).
TEST_RUN = uuid.uuid4().hex[:12]
TEST_LABELS = {TEST_LABEL: TEST_RUN}


def unavailable(reason: str) -> None:
    """Fail under CI, skip on a developer machine."""
    message = f"{reason} (run `bash scripts/test`, which starts engines and the keyring)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Engine:
    name: str
    base_url: str


def _client(base_url: str) -> docker.DockerClient:
    client = docker.DockerClient(base_url=base_url, timeout=60)
    try:
        client.ping()
    except BaseException:
        client.close()
        raise
    return client


@pytest.fixture(scope="session", params=sorted(ENGINE_SOCKETS))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    name = str(request.param)
    base_url = ENGINE_SOCKETS[name]
    try:
        client = _client(base_url)
        client.images.get(MCP_SERVER_IMAGE)
    except (docker.errors.DockerException, OSError) as exc:
        unavailable(f"{name} engine or test image not available at {base_url}: {exc}")
    yield Engine(name, base_url)
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={TEST_RUN}"}):
        container.remove(force=True)
    client.close()


@pytest.fixture
def engine_client(engine: Engine) -> Iterator[docker.DockerClient]:
    client = _client(engine.base_url)
    yield client
    client.close()


@pytest.fixture
def secret_service() -> None:
    """Require a reachable, unlocked Secret Service on the session bus."""
    import keyring
    import keyring.errors

    try:
        keyring.get_password("mcpctl-test-probe", "probe")
    except keyring.errors.KeyringError as exc:
        unavailable(f"no Secret Service keyring: {exc}")


@pytest.fixture
def workload(engine: Engine) -> Iterator[str]:
    """A fresh workload name; whatever the test ran under it is removed afterwards (with its proxy)."""
    from tests.helpers import run_cli

    name = f"w-{engine.name}-{uuid.uuid4().hex[:6]}"
    yield name
    run_cli("rm", name, "--runtime-socket", engine.base_url)


def exec_in(client: docker.DockerClient, workload: str, *cmd: str) -> tuple[int, str]:
    """Run a command inside a workload's container, as the tests look at hardening from the inside."""
    code, output = client.containers.get(f"mcpctl-{workload}").exec_run(list(cmd))
    assert isinstance(output, bytes)  # not streamed
    return int(code or 0), output.decode()
