"""Secrets reach the server without a copy in the engine, on Docker and Podman: the launcher takes them from the
proxy on stdin, so neither `inspect` nor any file under the engine's data root holds the value, and a restart of
the container (`docker restart` / `podman restart`) gets them again from the proxy."""

from __future__ import annotations

import io
import json
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest
from mcp.client.client import Client

from tests.e2e.conftest import Engine
from tests.e2e.credentials import credentialed
from tests.e2e.images import BASE_IMAGE, MCP_SERVER_IMAGE
from tests.e2e.test_proxy import _wait_ready
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.errors import ExitCode
from toolhive_py.registry import minisign
from toolhive_py.runtime.launcher import is_launcher_argv

pytestmark = pytest.mark.anyio

DATA_ROOT_QUERY = {"docker": ["docker", "info", "-f", "{{.DockerRootDir}}"],
                   "podman": ["podman", "info", "-f", "{{.Store.GraphRoot}}"]}
INSPECT = {"docker": ["docker", "inspect"], "podman": ["podman", "inspect"]}


def run_with_secret(engine: Engine, name: str, value: str, *extra: str,
                    image: str = MCP_SERVER_IMAGE) -> dict[str, object]:
    """The test server with one secret from the env backend; DLP off, so its own ``get_env`` returns the value."""
    result = run_cli("run", image, "--unvetted", "--name", name, "--secret-backend", "env",
                     "--secret", "probe:PROBE_TOKEN", "--dlp", "off", "--json", *extra,
                     "--runtime-socket", engine.base_url, env={"MCPCTL_SECRET_PROBE": value})
    assert result.exit_code == 0, result.stderr
    data: dict[str, object] = result.json()["data"]
    return data


async def server_env(url: str, name: str) -> str:
    async with Client(credentialed(url), mode="legacy") as client:
        return str((await client.call_tool("get_env", {"name": name})).content[0].text)  # type: ignore[union-attr]


def server_pid(client: docker.DockerClient, workload: str) -> int:
    """The host PID of the server: the child of the container's init, once the launcher has exec'd into it (its
    proxy sent the frame)."""
    init = int(client.api.inspect_container(f"mcpctl-{workload}")["State"]["Pid"])
    for _ in range(300):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
                if int(text[text.rindex(")") + 2:].split()[1]) != init:
                    continue
                argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if not is_launcher_argv(argv):
                return int(stat.parent.name)
        time.sleep(0.1)
    raise AssertionError(f"no server process under init {init}")


def copies_in_engine(engine: Engine, client: docker.DockerClient, workload: str, value: str) -> list[str]:
    """Where the engine holds the value: its API's and CLI's inspect output, and any file under its data root."""
    found = []
    if value in json.dumps(client.api.inspect_container(f"mcpctl-{workload}")):
        found.append("API inspect")
    inspected = subprocess.run([*INSPECT[engine.name], f"mcpctl-{workload}"], capture_output=True, text=True,  # noqa: S603
                               check=True)
    if value in inspected.stdout:
        found.append("CLI inspect")
    root = subprocess.run(DATA_ROOT_QUERY[engine.name], capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603
    assert root.startswith("/var/lib/"), root
    grep = subprocess.run(["grep", "-rlF", "--", value, root], capture_output=True, text=True, check=False)  # noqa: S603, S607
    found += grep.stdout.split()
    return found


def environ_of_server(client: docker.DockerClient, workload: str) -> list[bytes]:
    return Path(f"/proc/{server_pid(client, workload)}/environ").read_bytes().split(b"\0")


def server_env_value(client: docker.DockerClient, workload: str, name: str) -> str:
    """An env var of the server process itself (`docker exec` sees only the stored config, not the launcher's)."""
    prefix = f"{name}=".encode()
    return next((e[len(prefix):].decode() for e in environ_of_server(client, workload) if e.startswith(prefix)), "")


async def test_the_secret_reaches_the_server_across_restarts_with_no_copy_in_the_engine(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    """Checked in the server process's environment first: a tool result that carries the value is the server's
    stdout, which the engine writes to its container log (a copy of every result, not of the configuration)."""
    value = f"tok-{uuid.uuid4().hex}"
    url = str(run_with_secret(engine, workload, value)["url"])
    labels = engine_client.containers.get(f"mcpctl-{workload}").labels
    assert labels["io.mcpctl.secret-injection"] == "stdin"
    assert labels["io.mcpctl.secrets"] == "probe=PROBE_TOKEN"
    _wait_ready(url, 200)
    assert f"PROBE_TOKEN={value}".encode() in environ_of_server(engine_client, workload)

    engine_client.containers.get(f"mcpctl-{workload}").restart(timeout=10)  # `docker restart` / `podman restart`
    _wait_ready(url, 200)
    assert f"PROBE_TOKEN={value}".encode() in environ_of_server(engine_client, workload), \
        "the restarted server got its secret from the proxy"
    assert copies_in_engine(engine, engine_client, workload, value) == []
    assert await server_env(url, "PROBE_TOKEN") == value, "and the server's own tool reads it"


async def test_a_proxy_started_again_resends_nothing_to_a_running_server_and_still_holds_the_secret(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    """`mcpctl restart` with the proxy gone: the CLI resolves the secret again and hands it to the new proxy."""
    from toolhive_py.config import Paths
    from toolhive_py.proxy.supervisor import stop_proxy

    value = f"tok-{uuid.uuid4().hex}"
    url = str(run_with_secret(engine, workload, value)["url"])
    _wait_ready(url, 200)
    assert await server_env(url, "PROBE_TOKEN") == value
    assert stop_proxy(Paths.from_env(), workload)
    result = run_cli("start", workload, "--runtime-socket", engine.base_url, env={"MCPCTL_SECRET_PROBE": value})
    assert result.exit_code == 0, result.stderr
    _wait_ready(url, 200)
    assert await server_env(url, "PROBE_TOKEN") == value, "the running server kept its environment, undisturbed"
    result = run_cli("restart", workload, "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    _wait_ready(url, 200)
    assert await server_env(url, "PROBE_TOKEN") == value, "the new proxy sent it to the restarted launcher"


def test_an_image_without_python3_or_sh_is_refused_with_the_way_out(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    tag = f"mcpctl-test/no-shell:{uuid.uuid4().hex[:8]}"
    engine_client.images.build(fileobj=io.BytesIO(b'FROM scratch\nCMD ["/server"]\n'), tag=tag, rm=True)
    try:
        result = run_cli("run", tag, "--unvetted", "--name", workload, "--secret-backend", "env",
                         "--secret", "probe:PROBE_TOKEN", "--runtime-socket", engine.base_url,
                         env={"MCPCTL_SECRET_PROBE": "x-value"})
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert "no python3 and no POSIX sh" in result.stderr
        assert "--allow-env-secrets" in result.stderr
        assert not engine_client.containers.list(all=True, filters={"name": f"mcpctl-{workload}"})
    finally:
        engine_client.images.remove(tag, force=True)


def test_an_image_with_only_a_shell_gets_its_secret_through_the_sh_launcher(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    """No python3 in the image: the POSIX sh launcher reads the frame (the process is not an MCP server, so the
    check is its environment on the host)."""
    tag = f"mcpctl-test/sh-only:{uuid.uuid4().hex[:8]}"
    engine_client.images.build(fileobj=io.BytesIO(
        f"FROM {BASE_IMAGE}\nRUN rm -f /usr/bin/python3*\nCMD [\"sleep\", \"600\"]\n".encode()),
        tag=tag, rm=True, network_mode="none")
    value = "sh 'quoted' $X `y` é\\n" + uuid.uuid4().hex
    try:
        run_with_secret(engine, workload, value, image=tag)
        labels = engine_client.containers.get(f"mcpctl-{workload}").labels
        assert labels["io.mcpctl.secret-injection"] == "stdin"
        assert engine_client.api.inspect_container(f"mcpctl-{workload}")["Config"]["Entrypoint"][0] == "/bin/sh"
        assert server_env_value(engine_client, workload, "PROBE_TOKEN") == value
        assert copies_in_engine(engine, engine_client, workload, value) == []
    finally:
        run_cli("rm", workload, "--runtime-socket", engine.base_url)
        engine_client.images.remove(tag, force=True)


@pytest.fixture
def http_registry(tmp_path: Path) -> None:
    """A signed registry whose server speaks Streamable HTTP in its container and declares one secret."""
    pair = minisign.generate_keypair()
    (tmp_path / "s.pub").write_text(pair.public.to_file_text())
    servers = {"httpsecret": {
        "description": "the test server over Streamable HTTP, with a secret", "image": MCP_SERVER_IMAGE,
        "transport": "streamable-http", "target_port": 8080, "args": ["--transport", "streamable-http", "--port", "8080"],
        "permissions": {"network": {"outbound": {"insecure_allow_all": True}}},
        "env_vars": [{"name": "PROBE_TOKEN", "description": "a token", "required": True, "secret": True}],
    }}
    write_signed(tmp_path / "s.json", servers, pair.secret)
    assert run_cli("registry", "add", "s", str(tmp_path / "s.json"), "--pubkey", str(tmp_path / "s.pub")).exit_code == 0


@pytest.mark.usefixtures("http_registry")
async def test_a_streamable_http_server_gets_its_secret_from_a_proxy_that_attaches_just_for_the_frame(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    value = f"tok-{uuid.uuid4().hex}"
    result = run_cli("run", "s/httpsecret", "--name", workload, "--secret-backend", "env", "--dlp", "off", "--json",
                     "--runtime-socket", engine.base_url, env={"MCPCTL_SECRET_PROBE_TOKEN": value})
    assert result.exit_code == 0, result.stderr
    url = result.json()["data"]["url"]
    _wait_ready(url, 200)
    assert server_env_value(engine_client, workload, "PROBE_TOKEN") == value
    engine_client.containers.get(f"mcpctl-{workload}").restart(timeout=10)
    _wait_ready(url, 200)
    assert server_env_value(engine_client, workload, "PROBE_TOKEN") == value
    assert copies_in_engine(engine, engine_client, workload, value) == []
    assert await server_env(url, "PROBE_TOKEN") == value


async def test_the_secret_survives_an_engine_restart(engine: Engine, engine_client: docker.DockerClient,
                                                     workload: str) -> None:
    """Docker restarts the container with its daemon; Podman's server loses its stdin and the proxy starts it
    again: either way a new launcher waits, and the proxy sends it the frame."""
    from tests.e2e.test_engine_restart import restart_engine

    value = f"tok-{uuid.uuid4().hex}"
    url = str(run_with_secret(engine, workload, value)["url"])
    _wait_ready(url, 200)
    before = server_pid(engine_client, workload)
    time.sleep(11)  # a server that exits 0 sooner than 10 s after starting counts as broken, not orphaned
    restart_engine(engine, url)
    _wait_ready(url, 200, timeout=90)
    client = docker.DockerClient(base_url=engine.base_url, timeout=60)
    try:
        assert server_pid(client, workload) != before, "a new server process"
        assert server_env_value(client, workload, "PROBE_TOKEN") == value
        assert copies_in_engine(engine, client, workload, value) == []
    finally:
        client.close()
    assert await server_env(url, "PROBE_TOKEN") == value
