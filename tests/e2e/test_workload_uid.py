"""Each workload runs as a uid:gid of its own, on Docker and Podman, seen from where an attacker stands: a host
process as uid 65534 (`nobody`, which the servers used to share) cannot read the server's environment, and two
workloads never get the same uid."""

from __future__ import annotations

import io
import subprocess
import uuid
from collections.abc import Iterator

import docker
import pytest
from mcp.client.client import Client

from tests.e2e.conftest import Engine
from tests.e2e.credentials import credentialed
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.e2e.test_proxy import _wait_ready
from tests.e2e.test_secret_injection import run_with_secret, server_pid
from tests.helpers import run_cli
from toolhive_py.runtime.uids import UID_BASE, UID_COUNT, host_reserved_ids

pytestmark = pytest.mark.anyio


@pytest.fixture
def second_workload(engine: Engine) -> Iterator[str]:
    name = f"w-{engine.name}-{uuid.uuid4().hex[:6]}"
    yield name
    run_cli("rm", name, "--runtime-socket", engine.base_url)


def read_as(uid: int, path: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",  # noqa: S603, S607
                           "cat", path], capture_output=True, check=False)


async def whoami(url: str) -> str:
    async with Client(credentialed(url), mode="legacy") as client:
        return str((await client.call_tool("whoami", {})).content[0].text)  # type: ignore[union-attr]


async def test_two_workloads_get_uids_of_their_own_that_no_host_account_has(
        engine: Engine, engine_client: docker.DockerClient, workload: str, second_workload: str) -> None:
    uids = []
    for name in (workload, second_workload):
        result = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", name, "--json",
                         "--runtime-socket", engine.base_url)
        assert result.exit_code == 0, result.stderr
        url = result.json()["data"]["url"]
        _wait_ready(url, 200)
        label = int(engine_client.containers.get(f"mcpctl-{name}").labels["io.mcpctl.uid"])
        assert await whoami(url) == f"{label}:{label}", "the server runs as the uid and gid on its label"
        uids.append(label)
    assert uids[0] != uids[1]
    host_ids, host_ranges = host_reserved_ids()
    for uid in uids:
        assert UID_BASE <= uid < UID_BASE + UID_COUNT
        assert uid not in host_ids
        assert not any(uid in r for r in host_ranges)

    assert run_cli("restart", workload, "--runtime-socket", engine.base_url).exit_code == 0
    _wait_ready(f"http://127.0.0.1:{engine_client.containers.get(f'mcpctl-{workload}').labels['io.mcpctl.proxy-port']}"
                "/mcp", 200)
    assert engine_client.api.inspect_container(f"mcpctl-{workload}")["Config"]["User"] == f"{uids[0]}:{uids[0]}"


@pytest.fixture
def root_image(engine_client: docker.DockerClient) -> Iterator[str]:
    """The test server with USER 0: what used to run as host uid 65534, shared with every `nobody` process."""
    tag = f"mcpctl-test/mcp-server-root:{uuid.uuid4().hex[:8]}"
    engine_client.images.build(fileobj=io.BytesIO(f"FROM {MCP_SERVER_IMAGE}\nUSER 0\n".encode()), tag=tag, rm=True)
    yield tag
    engine_client.images.remove(tag, force=True)


def test_a_host_nobody_process_cannot_read_the_servers_environment(
        engine: Engine, engine_client: docker.DockerClient, workload: str, root_image: str) -> None:
    value = f"tok-{uuid.uuid4().hex}"
    _wait_ready(str(run_with_secret(engine, workload, value, image=root_image)["url"]), 200)
    pid = server_pid(engine_client, workload)
    uid = int(engine_client.containers.get(f"mcpctl-{workload}").labels["io.mcpctl.uid"])
    as_nobody = read_as(65534, f"/proc/{pid}/environ")
    assert as_nobody.returncode != 0
    assert b"Permission denied" in as_nobody.stderr
    assert value.encode() not in as_nobody.stdout
    # The same check as the server's own uid reads it: what any process sharing that uid could do, as every
    # `nobody` process on the host could before.
    as_owner = read_as(uid, f"/proc/{pid}/environ")
    assert as_owner.returncode == 0, as_owner.stderr
    assert f"PROBE_TOKEN={value}".encode() in as_owner.stdout.split(b"\0")
