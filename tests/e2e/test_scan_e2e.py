"""`mcpctl scan` against real processes and containers, and `--fix --apply` end to end on Docker and
Podman: the secret lands in the real keyring, the entry points at the managed server, a backup exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import docker
import docker.errors
import jsonschema
import psutil
import pytest
import yaml

from tests.e2e.conftest import ENGINE_SOCKETS, TEST_LABELS, Engine, unavailable
from tests.e2e.images import BASE_IMAGE, MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.clients.jsonc import loads as jsonc_loads
from toolhive_py.registry import minisign

TOKEN = "ghp_" + "Z9" * 18
SARIF_SCHEMA = Path(__file__).parents[1] / "fixtures" / "scan" / "sarif-schema-2.1.0.json"
ARG_TOKEN = "ghp_" + "Y8" * 18


@pytest.fixture
def fake_client_processes(tmp_path: Path) -> Iterator[int]:
    """A parent that looks like Cursor, running a child whose command line is `npx -y …server-github`.

    Both are real processes (python scripts named like the programs); nothing from a config is launched.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    server = tmp_path / "_npx" / "node_modules" / "@modelcontextprotocol" / "server-github" / "dist" / "index.js"
    server.parent.mkdir(parents=True)
    server.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(120)\n")
    server.chmod(0o755)
    npx = bin_dir / "npx"  # like the real npx: runs the package's bin as a child
    npx.write_text(f"#!{sys.executable}\nimport subprocess\nsubprocess.run([{str(server)!r}])\n")
    npx.chmod(0o755)
    cursor = bin_dir / "Cursor"
    cursor.write_text(f"#!{sys.executable}\nimport subprocess, sys\n"
                      f"subprocess.run([{str(npx)!r}, '-y', '@modelcontextprotocol/server-github', '--token', "
                      f"{TOKEN!r}])\n")
    cursor.chmod(0o755)
    parent = subprocess.Popen([str(cursor)])  # noqa: S603
    time.sleep(1.0)
    yield parent.pid
    for child in psutil.Process(parent.pid).children(recursive=True):
        child.kill()
    parent.kill()
    parent.wait()


def test_processes_that_look_like_mcp_servers_are_found_and_attributed(fake_client_processes: int) -> None:
    report = json.loads(run_cli("scan", "--format", "json", "--no-containers").stdout)
    processes = [f for f in report["findings"] if f["source"] == "process" and "server-github" in f["name"]]
    assert len(processes) == 1
    launcher = psutil.Process(fake_client_processes).children()[0]
    [server] = launcher.children()
    assert server.pid not in {f["pid"] for f in report["findings"]}, "npx's child folds into npx"
    found = processes[0]
    assert found["client"] == "cursor"
    assert found["package"] == "@modelcontextprotocol/server-github"
    assert found["pinned"] is False
    assert [s["location"] for s in found["secrets"]] == ["arg:3"]
    assert "unconfigured-process" in {r["code"] for r in found["reasons"]}
    assert TOKEN not in json.dumps(report)


def test_containers_are_found_mcpctl_ones_as_managed(engine: Engine, engine_client: docker.DockerClient,
                                                     workload: str) -> None:
    assert run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload,
                   "--runtime-socket", engine.base_url).exit_code == 0
    name = f"stray-{uuid.uuid4().hex[:6]}"
    engine_client.containers.run(MCP_SERVER_IMAGE, name=name, detach=True, stdin_open=True, network_mode="none",
                                 labels=TEST_LABELS, environment={"GITHUB_TOKEN": TOKEN},
                                 ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                                          docker.types.Ulimit(name="nproc", soft=512, hard=512)])
    try:
        report = json.loads(run_cli("scan", "--format", "json", "--no-processes", "--runtime-socket",
                                    engine.base_url).stdout)
    finally:
        engine_client.containers.get(name).remove(force=True)
    containers = {f["container"]: f for f in report["findings"] if f["source"] == "container"}
    assert containers[f"mcpctl-{workload}"]["status"] == "managed"
    assert containers[f"mcpctl-{workload}"]["secrets"] == []
    stray = containers[name]
    assert stray["status"] == "unvetted"
    assert [(s["provider"], s["location"]) for s in stray["secrets"]] == [("github-token", "env:GITHUB_TOKEN")]


@pytest.fixture
def node_and_python_servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real node process running a script under mcp-server-notes/, and a real `python -m mcp_server_clock`.

    Both only sleep; their command lines are what MCP servers look like (one with a token and `/`).
    """
    script = tmp_path / "servers" / "mcp-server-notes" / "index.js"
    script.parent.mkdir(parents=True)
    script.write_text("setTimeout(() => {}, 120000);\n")
    module = tmp_path / "pkgs" / "mcp_server_clock"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "__main__.py").write_text("import time\ntime.sleep(120)\n")
    node = subprocess.Popen(["node", str(script), "--root", "/", "--api-key", ARG_TOKEN])  # noqa: S603, S607
    python = subprocess.Popen([sys.executable, "-m", "mcp_server_clock"],  # noqa: S603
                              env={**os.environ, "PYTHONPATH": str(tmp_path / "pkgs")})
    time.sleep(1.0)
    yield node.pid, python.pid
    for process in (node, python):
        process.kill()
        process.wait()


def test_node_and_python_server_processes_are_found_by_their_command_lines(
        node_and_python_servers: tuple[int, int], isolated_home: Path) -> None:
    node_pid, python_pid = node_and_python_servers
    (isolated_home / ".cursor").mkdir()
    (isolated_home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "clock": {"command": sys.executable, "args": ["-m", "mcp_server_clock"]}}}))
    report = json.loads(run_cli("scan", "--format", "json", "--no-containers").stdout)
    by_pid = {f["pid"]: f for f in report["findings"] if f["source"] == "process"}
    node, python = by_pid[node_pid], by_pid[python_pid]
    assert node["name"] == "node …/mcp-server-notes/index.js"
    assert {r["code"] for r in node["reasons"]} == {"plaintext-secret", "broad-filesystem", "unvetted",
                                                    "unconfigured-process"}
    assert [(s["provider"], s["location"]) for s in node["secrets"]] == [("github-token", "arg:4")]
    assert node["level"] == "critical"
    assert python["name"] == f"{Path(sys.executable).name.lower()} -m mcp_server_clock"
    assert python["secrets"] == []
    assert "unconfigured-process" not in {r["code"] for r in python["reasons"]}, "its command line is configured"
    assert ARG_TOKEN not in json.dumps(report)


def _debian(client: docker.DockerClient, labels: dict[str, str], env: dict[str, str], *args: str) -> str:
    name = f"scan-{uuid.uuid4().hex[:8]}"
    client.containers.run(BASE_IMAGE, ["sh", "-c", "sleep 300", "sh", *args], name=name, detach=True, network_mode="none",
                          labels={**TEST_LABELS, **labels}, environment=env,
                          ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
                                   docker.types.Ulimit(name="nproc", soft=512, hard=512)])
    return name


def test_containers_are_found_by_mcp_labels_not_by_any_label(engine: Engine,
                                                             engine_client: docker.DockerClient) -> None:
    """A plain Debian image is an MCP server when a known MCP label says so; our own test label does not."""
    labelled = _debian(engine_client, {"io.modelcontextprotocol.server.name": "io.github.example/notes"},
                       {"NOTES_API_KEY": TOKEN, "LANG": "C.UTF-8"}, "--api-key", ARG_TOKEN)
    toolhive = _debian(engine_client, {"toolhive": "true", "toolhive-name": "fetch"}, {})
    plain = _debian(engine_client, {"io.mcpctl.test.note": "not an MCP server"}, {"GITHUB_TOKEN": TOKEN})
    try:
        report = json.loads(run_cli("scan", "--format", "json", "--no-processes", "--runtime-socket",
                                    engine.base_url).stdout)
        sarif = json.loads(run_cli("scan", "--format", "sarif", "--no-processes", "--runtime-socket",
                                   engine.base_url).stdout)
    finally:
        for name in (labelled, toolhive, plain):
            engine_client.containers.get(name).remove(force=True)
    containers = {f["container"]: f for f in report["findings"] if f["source"] == "container"}
    assert labelled in containers
    assert toolhive in containers
    assert plain not in containers
    found = containers[labelled]
    assert (found["kind"], found["package"], found["status"]) == ("image", "mcpctl-test/debian", "unvetted")
    assert [(s["provider"], s["location"]) for s in found["secrets"]] == [("github-token", "env:NOTES_API_KEY"),
                                                                        ("github-token", "arg:5")]
    assert found["level"] == "critical"
    assert TOKEN not in json.dumps(report)
    assert ARG_TOKEN not in json.dumps(report)
    jsonschema.validate(report, json.loads(resources.files("toolhive_py.scan").joinpath(
        "scan-report.schema.json").read_text()))
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    located = [r for r in sarif["runs"][0]["results"] if labelled in r["message"]["text"]]
    assert {r["ruleId"] for r in located} == {"plaintext-secret", "unvetted", "unpinned"}
    assert all(r["locations"][0]["logicalLocations"][0]["name"] == f"container {labelled}" for r in located)


@pytest.fixture
def registry_with_the_test_image(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    (tmp_path / "v.pub").write_text(pair.public.to_file_text())
    servers = {"ghsrv": {"description": "a GitHub-like server", "image": MCP_SERVER_IMAGE,
                         "env_vars": [{"name": "GITHUB_PERSONAL_ACCESS_TOKEN", "description": "token",
                                       "required": True, "secret": True}]}}
    write_signed(tmp_path / "v.json", servers, pair.secret)
    assert run_cli("registry", "add", "v", str(tmp_path / "v.json"), "--pubkey", str(tmp_path / "v.pub")).exit_code == 0


def _fix_homes(home: Path) -> dict[str, tuple[Path, str, str, str]]:
    """The same leaky `github` entry in a JSONC (Cursor), a TOML (Codex) and a YAML (Goose) config, each
    among other entries and comments: client → (config, original text, bytes before it, bytes after it)."""
    args = ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", MCP_SERVER_IMAGE, "--api-key", ARG_TOKEN]
    cursor = ('{\n  // mine\n  "mcpServers": {\n    "notes": {"command": "npx", "args": ["-y", "mcp-notes@1.0.0"]},\n'
              '    "github": {\n      "command": "docker",\n      "args": ' + json.dumps(args) + ',\n      "env": '
              f'{{"GITHUB_PERSONAL_ACCESS_TOKEN": "{TOKEN}"}}\n    }},\n    "shady": {{"command": "npx", "args": '
              '["-y", "shady-mcp"], "env": {"API_KEY": "Xq9!vL2#pR7wZ4tB"}}\n  }\n}\n')
    codex = ('# my Codex\nmodel = "gpt-5-codex"\n\n[mcp_servers.notes]\ncommand = "npx"\nargs = ["-y", '
             '"mcp-notes@1.0.0"]\n\n[mcp_servers.github]   # pasted from the README\ncommand = "docker"\nargs = '
             + json.dumps(args) + f'\n\n[mcp_servers.github.env]\nGITHUB_PERSONAL_ACCESS_TOKEN = "{TOKEN}"\n\n'
             '# keep this\n[profiles.fast]\nmodel = "gpt-5-mini"\n')
    goose = ('GOOSE_PROVIDER: anthropic\nextensions:\n  # mine\n  github:\n    cmd: docker\n    args: '
             + json.dumps(args) + f'\n    envs:\n      GITHUB_PERSONAL_ACCESS_TOKEN: {TOKEN}\n    enabled: true\n'
             '    name: github\n    type: stdio\n  notes: {cmd: npx, args: [-y, mcp-notes@1.0.0], enabled: true, '
             'name: notes, type: stdio}\nGOOSE_MODE: smart_approve\n')
    files = {"cursor": (home / ".cursor" / "mcp.json", cursor, '    "github"', ',\n    "shady"'),
             "codex": (home / ".codex" / "config.toml", codex, 'command = "docker"', "\n# keep this"),
             "goose": (home / ".config" / "goose" / "config.yaml", goose, "cmd: docker", "\n  notes:")}
    result = {}
    for client, (config, text, first, after) in files.items():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text)
        result[client] = (config, text, text[:text.index(first)], text[text.index(after):])
    return result


@pytest.mark.usefixtures("secret_service", "registry_with_the_test_image")
def test_fix_apply_moves_the_secret_and_repoints_the_entry(engine: Engine, workload: str,
                                                           isolated_home: Path) -> None:
    """In JSONC, TOML and YAML alike: secrets into the keyring, the entry re-pointed where it stands."""
    assert run_cli("secret", "set", "ghsrv_token", input="managed-value").exit_code == 0
    assert run_cli("run", "ghsrv", "--name", workload, "--secret", "ghsrv_token:GITHUB_PERSONAL_ACCESS_TOKEN",
                   "--runtime-socket", engine.base_url).exit_code == 0
    homes = _fix_homes(isolated_home)

    dry = run_cli("scan", "--fix", "--no-processes", "--runtime-socket", engine.base_url)
    assert dry.exit_code == 0, dry.stderr
    assert "Dry run" in dry.stdout
    assert TOKEN not in dry.stdout
    assert ARG_TOKEN not in dry.stdout
    assert all(config.read_text() == original for config, original, _, _ in homes.values())

    applied = run_cli("scan", "--fix", "--apply", "--json", "--no-processes", "--runtime-socket", engine.base_url)
    assert applied.exit_code == 0, applied.stderr
    assert TOKEN not in applied.stdout
    assert ARG_TOKEN not in applied.stdout
    steps = applied.json()["data"]
    assert [(s["action"], s["detail"]) for s in steps if s["server"] == "shady"] == [
        ("leave", "unvetted: reported, not touched")]
    url = run_cli("status", workload, "--json", "--runtime-socket", engine.base_url).json()["data"]["url"]

    import keyring

    for client, (config, original, head, tail) in homes.items():
        mine = [s for s in steps if s["server"] == "github" and s["client"] == client]
        moves = {s["location"]: s for s in mine if s["action"] == "move-secret"}
        assert set(moves) == {"env:GITHUB_PERSONAL_ACCESS_TOKEN", "arg:7"}, client
        assert all(s["status"] == "done" for s in moves.values()), client
        assert (mine[-1]["action"], mine[-1]["status"]) == ("repoint", "done"), client
        assert keyring.get_password("mcpctl", moves["env:GITHUB_PERSONAL_ACCESS_TOKEN"]["secret_name"]) == TOKEN
        assert keyring.get_password("mcpctl", moves["arg:7"]["secret_name"]) == ARG_TOKEN

        text = config.read_text()
        assert text.startswith(head), f"{client}: only the github entry changed, byte for byte"
        assert text.endswith(tail), f"{client}: only the github entry changed, byte for byte"
        assert TOKEN not in text
        assert ARG_TOKEN not in text
        backups = list((isolated_home / ".local" / "state" / "mcpctl" / "clients" / "backups" / client).glob("*"))
        assert len(backups) == 1, client
        assert json.loads(backups[0].read_text())["text"] == original
        assert all(s["plaintext_left"] == [] for s in moves.values()), client
        assert all(s["backups"] == [str(backups[0])] for s in moves.values()), "the backup holds the plaintext"
    cursor_text, (_, _, cursor_head, cursor_tail) = homes["cursor"][0].read_text(), homes["cursor"]
    # Each entry points at the proxy with its client's own credential (mcpctl's, not the moved secret).
    cursor_entry = jsonc_loads("{" + cursor_text[len(cursor_head):len(cursor_text) - len(cursor_tail)] + "}")
    assert set(cursor_entry) == {"github"}
    assert cursor_entry["github"]["url"] == url
    assert cursor_entry["github"]["headers"]["Authorization"].startswith("Bearer mcpctl_pxy_")
    codex_entry = tomllib.loads(homes["codex"][0].read_text())["mcp_servers"]["github"]
    assert codex_entry["url"] == url
    assert codex_entry["http_headers"]["Authorization"].startswith("Bearer mcpctl_pxy_")
    assert yaml.safe_load(homes["goose"][0].read_text())["extensions"]["github"]["uri"] == url

    rescanned = json.loads(run_cli("scan", "--format", "json", "--no-processes", "--no-containers").stdout)
    assert {f["client"]: f["status"] for f in rescanned["findings"] if f["name"] == "github"} == {
        "cursor": "managed", "codex": "managed", "goose": "managed"}
    assert os.environ["HOME"] == str(isolated_home)


def test_an_inventory_covers_docker_and_podman_at_once() -> None:
    """Without --runtime-socket, every engine that answers is listed, not just the first one found."""
    clients = {}
    for kind, url in ENGINE_SOCKETS.items():
        try:
            clients[kind] = docker.DockerClient(base_url=url, timeout=60)
            clients[kind].ping()
        except (docker.errors.DockerException, OSError) as exc:
            unavailable(f"{kind} engine not available at {url}: {exc}")
    names = {kind: _debian(client, {"io.modelcontextprotocol.server.name": f"io.github.example/{kind}"}, {})
             for kind, client in clients.items()}
    try:
        report = json.loads(run_cli("scan", "--format", "json", "--no-processes").stdout)
    finally:
        for kind, client in clients.items():
            client.containers.get(names[kind]).remove(force=True)
            client.close()
    scopes = {f["container"]: f["scope"] for f in report["findings"] if f["source"] == "container"}
    for kind, name in names.items():
        assert scopes[name] == f"{kind} {ENGINE_SOCKETS[kind]}"


def test_processes_inside_listed_containers_are_not_reported_again(engine: Engine, engine_client: docker.DockerClient,
                                                                    workload: str) -> None:
    """The server inside an mcpctl container is that (managed) container, not an unconfigured process."""
    from toolhive_py.scan.processes import looks_like_mcp_server

    assert run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload,
                   "--runtime-socket", engine.base_url).exit_code == 0
    container = engine_client.containers.get(f"mcpctl-{workload}")
    # A second server-shaped process in the container (as a registry image's `mcp-server-time` would be),
    # started by exec: a child of the engine's runtime monitor, not of the container's PID 1.
    container.exec_run(["/opt/server/bin/python", "-c", "import time; time.sleep(60)", "mcp-server-probe"],
                       detach=True)
    inside: set[int] = set()
    for _ in range(50):
        inside = {p.pid for p in psutil.process_iter(["cmdline"]) if "mcp-server-probe" in (p.info["cmdline"] or [])}
        if inside:
            break
        time.sleep(0.1)
    assert inside
    assert all(looks_like_mcp_server(psutil.Process(pid).cmdline()) for pid in inside)
    result = run_cli("scan", "--format", "json", "--runtime-socket", engine.base_url)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [f for f in report["findings"] if f["source"] == "process" and f["pid"] in inside] == []
    containers = {f["container"]: f["status"] for f in report["findings"] if f["source"] == "container"}
    assert containers[f"mcpctl-{workload}"] == "managed"


def _ask_through(entry: dict[str, object], messages: list[dict[str, object]], answers: int) -> list[dict[str, object]]:
    """Run a stdio entry as Claude Desktop does and read ``answers`` JSON-RPC responses (bounded in time)."""
    import select

    command = [str(entry["command"]), *[str(a) for a in entry["args"]]]  # type: ignore[attr-defined]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                          stderr=subprocess.DEVNULL) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
            process.stdin.flush()
            found: list[dict[str, object]] = []
            deadline = time.monotonic() + 60
            while len(found) < answers and time.monotonic() < deadline:
                ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
                line = process.stdout.readline() if ready else b""
                if not line:
                    break
                message = json.loads(line)
                if "id" in message:
                    found.append(message)
            return found
        finally:
            process.kill()


@pytest.mark.usefixtures("secret_service", "registry_with_the_test_image")
def test_fix_apply_points_a_stdio_only_client_at_the_unrestricted_workload_by_its_name(
        engine: Engine, workload: str, isolated_home: Path) -> None:
    """Regression: Claude Desktop's entry became `mcpctl connect ENTRY-NAME`, and with two workloads of the
    server the one with a tool policy was picked. The entry keeps its key, runs `mcpctl connect` with the
    name of the workload that hides no tools, and answers through the bridge before it is called done."""
    open_one = f"{workload}-open"
    assert run_cli("secret", "set", "ghsrv_token", input="managed-value").exit_code == 0
    try:
        for name, policy in ((workload, ["--tools", "echo"]), (open_one, [])):
            started = run_cli("run", "ghsrv", "--name", name, "--secret", "ghsrv_token:GITHUB_PERSONAL_ACCESS_TOKEN",
                              *policy, "--runtime-socket", engine.base_url)
            assert started.exit_code == 0, started.stderr
        config = isolated_home / ".config" / "Claude" / "claude_desktop_config.json"
        config.parent.mkdir(parents=True)
        entry = {"command": "docker", "args": ["run", "-i", "--rm", MCP_SERVER_IMAGE]}
        config.write_text(json.dumps({"mcpServers": {workload: entry, "notes": {"command": "true"}}}, indent=2))

        applied = run_cli("scan", "--fix", "--apply", "--json", "--no-processes", "--runtime-socket", engine.base_url)
        assert applied.exit_code == 0, applied.stderr
        [step] = [s for s in applied.json()["data"] if s["client"] == "claude-desktop" and s["server"] == workload]
        assert (step["action"], step["status"], step["workload"]) == ("repoint", "done", open_one), step["detail"]
        written = json.loads(config.read_text())["mcpServers"]
        assert written["notes"] == {"command": "true"}
        assert written[workload]["args"][-4:] == ["connect", open_one, "--client", "claude-desktop"]

        answers = _ask_through(written[workload], [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}], answers=2)
        assert [a["id"] for a in answers] == [1, 2]
        tools = {t["name"] for t in answers[1]["result"]["tools"]}  # type: ignore[index]
        assert {"echo", "add", "whoami"} <= tools, "the workload without a tool policy"
    finally:
        run_cli("rm", open_one, "--runtime-socket", engine.base_url)
