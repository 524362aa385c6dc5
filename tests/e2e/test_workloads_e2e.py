"""The core lifecycle's engine choice: every caller opens its engine through one opener, so the
``runtime.socket`` setting is honoured by `run`, `list` and `scan --fix --apply` alike."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TEST_LABELS, Engine
from tests.e2e.credentials import credentialed
from tests.e2e.images import BASE_IMAGE, MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.errors import ExitCode
from toolhive_py.registry import minisign


@pytest.fixture
def vetted_test_server(tmp_path: Path) -> str:
    """A signed private registry whose `testsrv` is the test image: a vetted server scan can match by image."""
    pair = minisign.generate_keypair()
    (tmp_path / "v.pub").write_text(pair.public.to_file_text())
    write_signed(tmp_path / "v.json", {"testsrv": {"description": "test server", "image": MCP_SERVER_IMAGE}},
                 pair.secret)
    added = run_cli("registry", "add", "v", str(tmp_path / "v.json"), "--pubkey", str(tmp_path / "v.pub"))
    assert added.exit_code == 0, added.stderr
    return "testsrv"


def test_scan_fix_apply_honours_the_runtime_socket_setting(engine: Engine, workload: str, vetted_test_server: str,
                                                           isolated_home: Path) -> None:
    """With the engine chosen by setting only (no flag, no env), `scan --fix --apply` finds the managed server
    there and re-points the client at it. Auto-detection alone would ask rootful Podman first."""
    assert run_cli("config", "set", "runtime.socket", engine.base_url).exit_code == 0
    started = run_cli("run", vetted_test_server, "--name", workload, "--json")
    assert started.exit_code == 0, started.stderr
    url = started.json()["data"]["url"]
    assert workload in {w["name"] for w in run_cli("list", "--json").json()["data"]}
    config = isolated_home / ".cursor" / "mcp.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"mcpServers": {vetted_test_server: {
        "command": "docker", "args": ["run", "-i", "--rm", MCP_SERVER_IMAGE]}}}))

    applied = run_cli("scan", "--fix", "--apply", "--json", "--no-processes", "--no-containers")
    assert applied.exit_code == 0, applied.stderr
    [step] = [s for s in applied.json()["data"] if s["server"] == vetted_test_server]
    assert (step["action"], step["status"]) == ("repoint", "done")
    written = json.loads(config.read_text())["mcpServers"][vetted_test_server]
    assert written["url"] == url
    assert written["headers"]["Authorization"].startswith("Bearer mcpctl_pxy_"), "with Cursor's own credential"


@pytest.fixture
def two_registries_declaring_one_secret(tmp_path: Path) -> None:
    """`t/testsrv` and `other/grabber` both declare TEST_TOKEN (signed, verified registries)."""
    for name, server in (("t", "testsrv"), ("other", "grabber")):
        pair = minisign.generate_keypair()
        (tmp_path / f"{name}.pub").write_text(pair.public.to_file_text())
        write_signed(tmp_path / f"{name}.json", {server: {
            "description": "declares TEST_TOKEN", "image": MCP_SERVER_IMAGE,
            "env_vars": [{"name": "TEST_TOKEN", "description": "a token", "required": True, "secret": True}]}},
            pair.secret)
        added = run_cli("registry", "add", name, str(tmp_path / f"{name}.json"), "--pubkey",
                        str(tmp_path / f"{name}.pub"))
        assert added.exit_code == 0, added.stderr


@pytest.mark.usefixtures("secret_service", "two_registries_declaring_one_secret")
def test_a_secret_stored_for_one_server_is_not_handed_to_another_that_declares_its_name(
        engine: Engine, workload: str) -> None:
    assert run_cli("secret", "set", "TEST_TOKEN", input="tok-for-testsrv").exit_code == 0
    first = run_cli("run", "t/testsrv", "--name", workload, "--runtime-socket", engine.base_url)
    assert first.exit_code == 0, first.stderr
    assert "TEST_TOKEN → TEST_TOKEN" in first.stdout

    other = f"{workload}-2"
    try:
        refused = run_cli("run", "other/grabber", "--name", other, "--runtime-socket", engine.base_url, "--json")
        assert refused.exit_code == ExitCode.VERIFICATION
        assert refused.json()["errors"][0]["code"] == "secret-not-granted"
        assert "--secret TEST_TOKEN" in refused.stderr
        assert other not in {w["name"] for w in run_cli("list", "--all", "--json", "--runtime-socket",
                                                        engine.base_url).json()["data"]}
        given = run_cli("run", "other/grabber", "--name", other, "--secret", "TEST_TOKEN",
                        "--runtime-socket", engine.base_url)
        assert given.exit_code == 0, given.stderr
    finally:
        run_cli("rm", other, "--runtime-socket", engine.base_url)


def test_logs_tail_counts_the_lines_shown_and_status_reads_as_text(engine: Engine, workload: str) -> None:
    """A stdio server's stdout is hidden from `logs`; `--tail 2` is its last two stderr lines all the same."""
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; exec sleep 300"
    started = run_cli("run", BASE_IMAGE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url,
                      "--", "sh", "-c", script)
    assert started.exit_code == 0, started.stderr
    for _ in range(50):
        shown = run_cli("logs", workload, "--runtime-socket", engine.base_url).stdout
        if "err3" in shown:
            break
        time.sleep(0.1)
    assert "out1" not in shown
    tail = run_cli("logs", workload, "--tail", "2", "--runtime-socket", engine.base_url)
    assert tail.exit_code == 0, tail.stderr
    assert tail.stdout.split() == ["err2", "err3"]

    status = run_cli("status", workload, "--runtime-socket", engine.base_url)
    assert status.exit_code == 0, status.stderr
    for repr_text in ("True", "False", "{}", "[]", "['"):
        assert repr_text not in status.stdout


def test_a_removed_workload_leaves_completion_and_keeps_its_audit_log(engine: Engine, workload: str) -> None:
    from toolhive_py.cli.completion import workload_names
    from toolhive_py.config import Paths
    from toolhive_py.proxy.supervisor import audit_path

    started = run_cli("run", BASE_IMAGE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url,
                      "--", "sleep", "300")
    assert started.exit_code == 0, started.stderr
    assert workload in workload_names(workload[:3])
    paths = Paths.from_env()
    audit_path(paths, workload).write_text('{"method": "tools/list"}\n')

    assert run_cli("rm", workload, "--runtime-socket", engine.base_url).exit_code == 0
    assert workload not in workload_names(workload[:3])
    [archived] = (paths.state_dir / "audit-archive").glob(f"{workload}-*.jsonl")
    assert archived.read_text() == '{"method": "tools/list"}\n'


def test_another_users_workload_on_a_shared_engine_is_not_yours(engine: Engine, workload: str,
                                                                isolated_home: Path) -> None:
    """A container another user's mcpctl made (owner label: their uid) is not listed, connected or removed."""
    import docker
    import docker.types

    from toolhive_py.runtime.spec import host_nproc_ceiling

    mine = run_cli("run", BASE_IMAGE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url,
                   "--", "sleep", "300")
    assert mine.exit_code == 0, mine.stderr
    client = docker.DockerClient(base_url=engine.base_url, timeout=60)
    theirs = f"{workload}-theirs"
    labels = {"io.mcpctl.managed": "true", "io.mcpctl.name": theirs, "io.mcpctl.owner": "54321",
              "io.mcpctl.proxy-port": "1", "io.mcpctl.transport": "stdio", **TEST_LABELS}
    client.containers.run(BASE_IMAGE, ["sleep", "300"], name=f"mcpctl-{theirs}", labels=labels, detach=True,
                          network_mode="none",  # Podman here needs explicit nofile and nproc limits
                          ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                                   docker.types.Ulimit(name="nproc", soft=host_nproc_ceiling(),
                                                       hard=host_nproc_ceiling())])
    try:
        listed = {w["name"]: w for w in run_cli("list", "--json", "--runtime-socket", engine.base_url).json()["data"]}
        assert workload in listed
        assert listed[workload]["owner"] == str(os.getuid())
        assert theirs not in listed
        everyone = run_cli("list", "--all-users", "--json", "--runtime-socket", engine.base_url).json()["data"]
        assert theirs in {w["name"] for w in everyone}

        connected = run_cli("client", "connect", "cursor", "--all", "--json", "--runtime-socket", engine.base_url)
        assert connected.exit_code == 0, connected.stderr
        assert theirs not in connected.json()["data"]["servers"]
        assert theirs not in (isolated_home / ".cursor" / "mcp.json").read_text()
        # `rm --all` is checked as the pure choice it makes (tests/unit/test_workloads.py): run for real here
        # it would remove every workload of this user on the engine, a developer's own included.
    finally:
        client.containers.get(f"mcpctl-{theirs}").remove(force=True)
        client.close()


@pytest.mark.anyio
async def test_a_registry_entrys_tool_pins_hold_from_the_first_run(engine: Engine, workload: str,
                                                                   tmp_path: Path) -> None:
    """Only the tools whose fingerprints the signed entry carries reach clients; the rest wait for approval."""
    from mcp.client.client import Client

    from toolhive_py.integrity.fingerprints import tool_fingerprint

    probe = f"{workload}-probe"
    try:
        started = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", probe, "--json",
                          "--runtime-socket", engine.base_url)
        assert started.exit_code == 0, started.stderr
        async with Client(credentialed(started.json()["data"]["url"], probe), mode="legacy") as client:
            listed = {t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True)
                      for t in (await client.list_tools()).tools}
    finally:
        run_cli("rm", probe, "--runtime-socket", engine.base_url)
    assert {"echo", "add"} <= set(listed)

    pair = minisign.generate_keypair()
    (tmp_path / "p.pub").write_text(pair.public.to_file_text())
    write_signed(tmp_path / "p.json", {"pinned": {"description": "test server, two tools pinned",
                                                  "image": MCP_SERVER_IMAGE,
                                                  "tool_pins": {"add": tool_fingerprint(listed["add"]),
                                                                "echo": "0" * 64}}}, pair.secret)
    assert run_cli("registry", "add", "p", str(tmp_path / "p.json"), "--pubkey",
                   str(tmp_path / "p.pub")).exit_code == 0
    started = run_cli("run", "p/pinned", "--name", workload, "--json", "--runtime-socket", engine.base_url)
    assert started.exit_code == 0, started.stderr
    async with Client(credentialed(started.json()["data"]["url"], workload), mode="legacy") as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"add"}
        assert (await client.call_tool("add", {"a": 2, "b": 3})).content[0].text == "5"  # type: ignore[union-attr]



def test_a_workload_whose_container_vanished_is_run_again_behind_a_proxy_on_its_own_port(
        engine: Engine, workload: str) -> None:
    """A container removed behind mcpctl's back (`docker rm`, another tool) leaves its proxy running on the old
    port: the next `run` of that name must not hand clients a URL nobody listens on, and `rm` cleans up."""
    import docker
    import httpx

    first = run_cli("run", BASE_IMAGE, "--unvetted", "--name", workload, "--json", "--runtime-socket",
                    engine.base_url, "--", "sleep", "300")
    assert first.exit_code == 0, first.stderr
    client = docker.DockerClient(base_url=engine.base_url, timeout=60)
    try:
        client.containers.get(f"mcpctl-{workload}").remove(force=True)
    finally:
        client.close()
    again = run_cli("run", BASE_IMAGE, "--unvetted", "--name", workload, "--json", "--runtime-socket",
                    engine.base_url, "--", "sleep", "300")
    assert again.exit_code == 0, again.stderr
    url = again.json()["data"]["url"]
    assert url != first.json()["data"]["url"]
    assert httpx.get(url.removesuffix("/mcp") + "/health/live", timeout=5).status_code == 200

    client = docker.DockerClient(base_url=engine.base_url, timeout=60)
    try:
        client.containers.get(f"mcpctl-{workload}").remove(force=True)
    finally:
        client.close()
    removed = run_cli("rm", workload, "--json", "--runtime-socket", engine.base_url)
    assert removed.exit_code == 0, removed.stdout
    assert removed.json()["data"]["removed"] == [workload]
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.removesuffix("/mcp") + "/health/live", timeout=2)
