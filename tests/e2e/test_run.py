"""`mcpctl run` on real Docker and Podman: hardening seen from inside the container, secret injection
and containment, lifecycle, and the errors users hit."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import Engine, exec_in
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.e2e.test_secret_injection import server_env_value
from tests.helpers import CLIResult, run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.errors import ExitCode
from toolhive_py.registry import minisign


def mcpctl(engine: Engine, *args: str, env: dict[str, str] | None = None) -> CLIResult:
    return run_cli(*args, "--runtime-socket", engine.base_url, env=env)


@pytest.fixture
def workload_name(engine: Engine) -> Iterator[str]:
    name = f"t-{engine.name}-{uuid.uuid4().hex[:6]}"
    yield name
    run_cli("rm", name, "--runtime-socket", engine.base_url)


@pytest.fixture
def private_registry(tmp_path: Path) -> None:
    """A signed registry whose `testsrv` entry is the test image with one secret env var."""
    pair = minisign.generate_keypair()
    pub = tmp_path / "t.pub"
    pub.write_text(pair.public.to_file_text())
    servers = {
        "testsrv": {
            "description": "mcpctl test server",
            "image": MCP_SERVER_IMAGE,
            "env_vars": [{"name": "TEST_TOKEN", "description": "a token", "required": True, "secret": True}],
        },
        "pinned": {"description": "pinned to a digest it does not have", "image": MCP_SERVER_IMAGE,
                   "digest": "sha256:" + "0" * 64},
        # A registry on a loopback port nothing listens on: what an offline machine sees of every registry.
        "unpullable": {"description": "an image this machine cannot pull", "image": "127.0.0.1:1/mcp/unpullable:1"},
    }
    write_signed(tmp_path / "t.json", servers, pair.secret)
    assert run_cli("registry", "add", "t", str(tmp_path / "t.json"), "--pubkey", str(pub)).exit_code == 0


def test_unvetted_image_runs_hardened(engine: Engine, engine_client: docker.DockerClient, workload_name: str) -> None:
    result = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload_name, "--json")
    assert result.exit_code == 0, result.stderr
    assert "UNVETTED" in result.stderr
    assert result.json()["data"]["vetted"] is False

    code, uid = exec_in(engine_client, workload_name, "id", "-u")
    assert code == 0
    assert uid.strip() != "0"
    code, _ = exec_in(engine_client, workload_name, "sh", "-c", "echo x > /probe")
    assert code != 0, "the root filesystem must be read-only"
    _, status = exec_in(engine_client, workload_name, "grep", "CapEff", "/proc/self/status")
    assert status.split()[1] == "0000000000000000"
    _, status = exec_in(engine_client, workload_name, "grep", "NoNewPrivs", "/proc/self/status")
    assert status.split()[1] == "1"
    _, netdev = exec_in(engine_client, workload_name, "cat", "/proc/net/dev")
    interfaces = {line.split(":")[0].strip() for line in netdev.splitlines()[2:]}
    assert interfaces == {"lo"}, "profile none means no network interfaces but loopback"
    code, _ = exec_in(engine_client, workload_name, "sh", "-c", "echo x > /tmp/probe")
    assert code == 0, "/tmp is a writable tmpfs"

    attrs = engine_client.containers.get(f"mcpctl-{workload_name}").attrs
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert attrs["HostConfig"]["PidsLimit"] == 256
    assert attrs["HostConfig"]["Memory"] == 512 * 1024 * 1024


def test_lifecycle_list_stop_start_status_rm(engine: Engine, workload_name: str) -> None:
    assert mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload_name).exit_code == 0
    rows = {w["name"]: w for w in mcpctl(engine, "list", "--json").json()["data"]}
    assert rows[workload_name]["status"] == "running"
    assert mcpctl(engine, "stop", workload_name).exit_code == 0
    assert workload_name not in {w["name"] for w in mcpctl(engine, "list", "--json").json()["data"]}
    assert workload_name in {w["name"] for w in mcpctl(engine, "list", "--all", "--json").json()["data"]}
    assert mcpctl(engine, "start", workload_name).exit_code == 0
    assert mcpctl(engine, "status", workload_name, "--json").json()["data"]["status"] == "running"
    assert mcpctl(engine, "rm", workload_name).exit_code == 0
    assert mcpctl(engine, "status", workload_name).exit_code == ExitCode.NOT_FOUND


def test_vetted_server_gets_its_keyring_secret_and_the_secret_goes_nowhere_else(
    engine: Engine, engine_client: docker.DockerClient, workload_name: str, private_registry: None,
    isolated_home: Path, secret_service: None,
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    stored = run_cli("secret", "set", "TEST_TOKEN", input=secret + "\n")
    assert stored.exit_code == 0, stored.stderr
    result = mcpctl(engine, "run", "t/testsrv", "--name", workload_name, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["data"]["vetted"] is True
    value = server_env_value(engine_client, workload_name, "TEST_TOKEN")  # the launcher's, not in `docker exec`
    assert value.strip() == secret

    outputs = [stored.stdout, stored.stderr, result.stdout, result.stderr]
    for args in (("list", "--json"), ("status", workload_name, "--json"), ("status", workload_name)):
        listed = mcpctl(engine, *args)
        outputs += [listed.stdout, listed.stderr]
    assert all(secret not in text for text in outputs)
    labels = engine_client.containers.get(f"mcpctl-{workload_name}").labels
    assert secret not in repr(labels)
    assert labels["io.mcpctl.secret-env"] == "TEST_TOKEN"
    for path in isolated_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert secret.encode() not in cmdline.read_bytes(), cmdline
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def test_missing_secret_in_a_non_interactive_run_names_the_command(
    engine: Engine, workload_name: str, private_registry: None, secret_service: None
) -> None:
    run_cli("secret", "delete", "TEST_TOKEN")
    result = mcpctl(engine, "run", "t/testsrv", "--name", workload_name)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "`mcpctl secret set TEST_TOKEN`" in result.stderr


def test_env_backend_secret_is_injected(
    engine: Engine, engine_client: docker.DockerClient, workload_name: str, private_registry: None
) -> None:
    env = {"MCPCTL_SECRET_TEST_TOKEN": "from-env-backend"}
    result = mcpctl(engine, "run", "t/testsrv", "--name", workload_name, "--secret-backend", "env", env=env)
    assert result.exit_code == 0, result.stderr
    value = server_env_value(engine_client, workload_name, "TEST_TOKEN")  # the launcher's, not in `docker exec`
    assert value.strip() == "from-env-backend"


def test_the_detached_proxy_does_not_inherit_the_clis_secrets(
    engine: Engine, engine_client: docker.DockerClient, workload_name: str, private_registry: None
) -> None:
    env = {"MCPCTL_SECRET_TEST_TOKEN": "from-env-backend", "VAULT_TOKEN": "hvs.not-for-the-proxy",
           "OPENAI_API_KEY": "sk-not-for-the-proxy", "LC_ALL": "C.UTF-8"}
    result = mcpctl(engine, "run", "t/testsrv", "--name", workload_name, "--secret-backend", "env", env=env)
    assert result.exit_code == 0, result.stderr
    from toolhive_py.config import Paths
    from toolhive_py.proxy.supervisor import running_proxy

    state = running_proxy(Paths.from_env(), workload_name)
    assert state is not None
    environ = dict(entry.split("=", 1) for entry in
                   Path(f"/proc/{state.pid}/environ").read_text().split("\0") if "=" in entry)
    assert not {"MCPCTL_SECRET_TEST_TOKEN", "VAULT_TOKEN", "OPENAI_API_KEY"} & set(environ)
    assert not [value for value in environ.values() if "not-for-the-proxy" in value or value == "from-env-backend"]
    assert environ["LC_ALL"] == "C.UTF-8"
    assert "PATH" in environ
    value = server_env_value(engine_client, workload_name, "TEST_TOKEN")  # the launcher's, not in `docker exec`
    assert value.strip() == "from-env-backend", "the workload still gets its secret"


def test_digest_mismatch_is_refused(engine: Engine, workload_name: str, private_registry: None) -> None:
    result = mcpctl(engine, "run", "t/pinned", "--name", workload_name)
    assert result.exit_code == ExitCode.VERIFICATION
    assert "pinned" in result.stderr


def test_an_image_that_cannot_be_pulled_is_one_error_on_both_engines_with_the_recipe(
    engine: Engine, workload_name: str, private_registry: None
) -> None:
    """Not "start an engine" (the engine is up), the same code on Docker and Podman, and what to do instead."""
    result = mcpctl(engine, "run", "t/unpullable", "--name", workload_name, "--json")
    assert result.exit_code == ExitCode.NOT_FOUND, result.stdout
    error = result.json()["errors"][0]
    assert error["code"] == "image-unavailable"
    assert error["message"] == "Cannot pull 127.0.0.1:1/mcp/unpullable:1: 127.0.0.1:1 cannot be reached from this machine."
    assert "unpullable has no package source" in error["hint"]
    assert f"`{engine.name} load -i image.tar`" in error["hint"]
    assert "Start an engine" not in result.stdout


def test_name_already_in_use(engine: Engine, workload_name: str) -> None:
    assert mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload_name).exit_code == 0
    again = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload_name)
    assert again.exit_code == ExitCode.CONFLICT
    assert f"mcpctl rm {workload_name}" in again.stderr


def test_unvetted_image_without_flag_is_refused(engine: Engine) -> None:
    result = mcpctl(engine, "run", MCP_SERVER_IMAGE)
    assert result.exit_code == ExitCode.VERIFICATION
    assert "--unvetted" in result.stderr


def test_unknown_server(engine: Engine) -> None:
    result = mcpctl(engine, "run", "no-such-server")
    assert result.exit_code == ExitCode.NOT_FOUND


def test_invalid_permission_profile(engine: Engine, tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{"network": {"outbound": {"allow_host": "not-a-list"}}}')
    result = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--permission-profile", str(profile))
    assert result.exit_code == ExitCode.USAGE
    assert "allow_host" in result.stderr


def test_engine_down_names_the_socket_and_the_fix(tmp_path: Path) -> None:
    dead = tmp_path / "dead.sock"
    result = run_cli("list", "--runtime-socket", f"unix://{dead}")
    assert result.exit_code == ExitCode.ENGINE
    assert str(dead) in result.stderr
    assert "dockerd" in result.stderr


def test_runtime_status_reports_engine_and_provenance(engine: Engine) -> None:
    data = mcpctl(engine, "runtime", "status", "--json").json()["data"]
    assert data["engine"] == engine.name
    assert data["source"] == "--runtime-socket"


@pytest.mark.usefixtures("secret_service", "private_registry")
def test_an_interactive_run_prompts_hidden_for_a_missing_secret_and_stores_it(engine: Engine,
                                                                              workload_name: str) -> None:
    import os
    import pty
    import select
    import sys
    import termios
    import time

    exe = str(Path(sys.executable).with_name("mcpctl"))
    argv = [exe, "run", "testsrv", "--name", workload_name, "--runtime-socket", engine.base_url]
    pid, primary = pty.fork()  # the child gets the pty as its controlling terminal, as in a real shell
    if pid == 0:
        os.execve(exe, argv, dict(os.environ))  # noqa: S606
    transcript = b""
    deadline = time.monotonic() + 90
    answered = False
    status = None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            transcript += chunk
        # Type only once the prompt has turned echo off: getpass flushes input typed before that.
        if not answered and b"Secret TEST_TOKEN" in transcript and not termios.tcgetattr(primary)[3] & termios.ECHO:
            os.write(primary, b"typed-at-the-prompt\n")
            answered = True
    status = None
    for _ in range(100):
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
        time.sleep(0.3)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("mcpctl run did not finish: " + transcript.decode(errors="replace")[-2000:])
    os.close(primary)
    assert answered, transcript.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, transcript.decode(errors="replace")
    assert b"typed-at-the-prompt" not in transcript, "the prompt must not echo the value"
    assert run_cli("secret", "get", "TEST_TOKEN", "--reveal").stdout.strip() == "typed-at-the-prompt"


_ACCOUNTS_IMAGE = "mcpctl-test/user-accounts:latest"


def _build(client: docker.DockerClient, tag: str, dockerfile: str) -> str:
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, network_mode="none")
    return tag


@pytest.fixture
def user_images(engine_client: docker.DockerClient) -> dict[str, str]:
    """The test server under several USER lines, on an image whose passwd has a second uid-0 name and an app user."""
    _build(engine_client, _ACCOUNTS_IMAGE, f"FROM {MCP_SERVER_IMAGE}\nUSER root\n"
           "RUN echo 'toor:x:0:0:another root:/root:/bin/sh' >> /etc/passwd "
           "&& echo 'app:x:1234:1235::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1235:' >> /etc/group\n")
    users = {"00": "00", "0-0": "0:0", "toor": "toor", "ghost": "ghost", "big": "4294967296", "app": "app"}
    return {key: _build(engine_client, f"mcpctl-test/user-{key}:latest", f"FROM {_ACCOUNTS_IMAGE}\nUSER {user}\n")
            for key, user in users.items()}


def test_every_image_user_runs_as_the_workloads_own_uid(engine: Engine, engine_client: docker.DockerClient,
                                                         user_images: dict[str, str]) -> None:
    """USER 00, 0:0, a second uid-0 name, an unknown name, a uid that wraps to 0 and an app user all run as the
    workload's own uid:gid (label io.mcpctl.uid), never uid 0 nor the image's accounts."""
    seen = {}
    for key, image in user_images.items():
        name = f"u-{engine.name}-{key}-{uuid.uuid4().hex[:4]}"
        try:
            result = mcpctl(engine, "run", image, "--unvetted", "--name", name)
            assert result.exit_code == 0, result.stderr
            code, uid = exec_in(engine_client, name, "id", "-u")
            assert code == 0, uid
            _, gid = exec_in(engine_client, name, "id", "-g")
            container = engine_client.containers.get(f"mcpctl-{name}")
            own = container.labels["io.mcpctl.uid"]
            seen[key] = (uid.strip(), gid.strip(), container.attrs["Config"]["User"], own)
        finally:
            run_cli("rm", name, "--runtime-socket", engine.base_url)
    assert all((uid, gid, configured) == (own, own, f"{own}:{own}") for uid, gid, configured, own in seen.values())
    assert len({own for *_, own in seen.values()}) == len(seen)
