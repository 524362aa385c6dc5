"""Package sources built into local images on Docker and Podman: a real PyPI MCP server (mcp-server-time)
built from `uvx://` and a real npm server (@modelcontextprotocol/server-everything) built from `npx://`
(packages fetched on the host, images built without network), run hardened behind the proxy; a registry
entry whose image cannot be pulled falls back to its package."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest
from mcp.client.client import Client

from tests.e2e.conftest import Engine, exec_in
from tests.e2e.credentials import credentialed
from tests.e2e.images import BASE_IMAGE, NODE_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.registry import minisign

pytestmark = pytest.mark.anyio
SOURCE = "uvx://mcp-server-time==2026.10.19"
NPM_SOURCE = "npx://@modelcontextprotocol/server-everything@2026.8.31"


@pytest.fixture(autouse=True)
def local_bases() -> None:
    assert run_cli("config", "set", "build.python_image", BASE_IMAGE).exit_code == 0
    assert run_cli("config", "set", "build.node_image", NODE_IMAGE).exit_code == 0


async def test_npx_source_from_npm_is_built_and_run_hardened(engine: Engine, engine_client: docker.DockerClient,
                                                             workload: str) -> None:
    result = run_cli("run", NPM_SOURCE, "--unvetted", "--name", workload, "--json", "-e", "PLAIN=1",
                     "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert data["image"] == "mcpctl-build/modelcontextprotocol-server-everything:2026.8.31"
    async with Client(credentialed(data["url"]), mode="legacy") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "echo" in tools
        echoed = await client.call_tool("echo", {"message": "from npm"})
    assert "from npm" in echoed.content[0].text  # type: ignore[union-attr]

    code, uid = exec_in(engine_client, workload, "id", "-u")
    assert code == 0
    assert uid.strip() != "0"
    code, _ = exec_in(engine_client, workload, "sh", "-c", "echo x > /probe")
    assert code != 0, "the root filesystem must be read-only"
    _, status = exec_in(engine_client, workload, "grep", "CapEff", "/proc/self/status")
    assert status.split()[1] == "0000000000000000"
    _, netdev = exec_in(engine_client, workload, "cat", "/proc/net/dev")
    assert {line.split(":")[0].strip() for line in netdev.splitlines()[2:]} == {"lo"}


async def _current_time(url: str) -> str:
    async with Client(credentialed(url), mode="legacy") as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"get_current_time", "convert_time"}
        result = await client.call_tool("get_current_time", {"timezone": "UTC"})
        return str(result.structured_content["timezone"])


async def test_uvx_source_is_built_and_run_hardened(engine: Engine, engine_client: docker.DockerClient,
                                                    workload: str) -> None:
    result = run_cli("run", SOURCE, "--unvetted", "--name", workload, "--json", "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert data["vetted"] is False
    assert data["image"] == "mcpctl-build/mcp-server-time:2026.10.19"
    assert await _current_time(data["url"]) == "UTC"
    image = engine_client.images.get(data["image"])
    assert image.labels["io.mcpctl.build.package"] == SOURCE
    attrs = engine_client.containers.get(f"mcpctl-{workload}").attrs
    assert attrs["Image"] == image.id, "the container runs exactly the image that was built"
    if engine.name == "docker":  # Podman reports the image's name here even for a container created by ID
        assert attrs["Config"]["Image"] == image.id, "created by image ID, not by a tag that could move"
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert attrs["Config"]["User"] not in ("", "0", "root")

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    again = run_cli("run", SOURCE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url)
    assert again.exit_code == 0
    assert "building" not in again.stderr, "an unchanged source is not rebuilt"


def test_package_source_needs_unvetted() -> None:
    result = run_cli("run", SOURCE)
    assert result.exit_code == 3
    assert "--unvetted" in result.stderr


async def test_unpullable_registry_image_falls_back_to_its_package(engine: Engine, workload: str,
                                                                   tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    (tmp_path / "p.pub").write_text(pair.public.to_file_text())
    # A registry on a loopback port nothing listens on: what an offline machine sees of every registry.
    write_signed(tmp_path / "p.json", {"time": {"description": "time", "image": "127.0.0.1:1/mcp/time:1.0",
                                                "package": SOURCE}}, pair.secret)
    assert run_cli("registry", "add", "p", str(tmp_path / "p.json"), "--pubkey", str(tmp_path / "p.pub")).exit_code == 0
    # --pull always: ask the registry even when an earlier test left a build of this package behind.
    result = run_cli("run", "p/time", "--name", workload, "--json", "--pull", "always",
                     "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    assert "cannot pull 127.0.0.1:1/mcp/time:1.0 (registry unreachable); building it locally from " \
           "uvx://mcp-server-time" in result.stderr
    assert result.json()["data"]["vetted"] is True
    assert await _current_time(result.json()["data"]["url"]) == "UTC"

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    again = run_cli("run", "p/time", "--name", workload, "--json", "--runtime-socket", engine.base_url)
    assert again.exit_code == 0, again.stderr
    assert "cannot pull" not in again.stderr, "the local build is used without a pull attempt"
    assert again.json()["data"]["image"] == "mcpctl-build/mcp-server-time:2026.10.19"


def test_an_offline_machine_without_the_base_image_is_told_which_setting_to_change(engine: Engine,
                                                                                  workload: str) -> None:
    base = "127.0.0.1:1/mcpctl-test/python:absent"  # not on the engine, and its registry cannot be reached
    assert run_cli("config", "set", "build.python_image", base).exit_code == 0
    result = run_cli("run", SOURCE, "--unvetted", "--name", workload, "--json", "--runtime-socket", engine.base_url)
    assert result.exit_code == 4, result.stdout
    error = result.json()["errors"][0]
    assert error["code"] == "image-unavailable"
    assert error["message"] == (f"Cannot build locally: the base image {base} is not on {engine.name} and cannot be "
                                "pulled (registry unreachable).")
    assert "`mcpctl config set build.python_image IMAGE`" in error["hint"]


def test_extra_ca_joins_the_system_roots(engine: Engine, engine_client: docker.DockerClient, workload: str,
                                         tmp_path: Path) -> None:
    """The configured CA is trusted in addition to the public roots, never instead of them."""
    ca = tmp_path / "extra-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",  # noqa: S607
                    "/CN=mcpctl test extra CA", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(ca)], check=True, capture_output=True)
    assert run_cli("config", "set", "build.ca_bundle", str(ca)).exit_code == 0
    result = run_cli("run", SOURCE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    probe = ("import ssl; names = [dict(p[0] for p in c['subject']).get('commonName') "
             "for c in ssl.create_default_context().get_ca_certs()]; "
             "print(len(names), 'mcpctl test extra CA' in names)")
    code, output = exec_in(engine_client, workload, "/opt/mcp/bin/python", "-c", probe)
    assert code == 0, output
    count, has_extra = output.split()
    assert has_extra == "True"
    assert int(count) > 50, "the public roots are still trusted"
    code, path = exec_in(engine_client, workload, "printenv", "NODE_EXTRA_CA_CERTS")
    assert code == 0
    assert exec_in(engine_client, workload, "cat", path.strip()) == (0, ca.read_text())
