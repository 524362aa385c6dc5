"""Which command lines look like MCP servers, what runs behind them, and which client started them."""

from __future__ import annotations

import pytest

from toolhive_py.scan.identify import from_command, from_image, program_name
from toolhive_py.scan.processes import (
    client_for,
    container_id_from_cgroup,
    container_id_from_runtime,
    display_name,
    is_in_containers,
    looks_like_mcp_server,
)


@pytest.mark.parametrize("argv", [
    ["node", "/usr/lib/node_modules/npm/bin/npx-cli.js", "-y", "@modelcontextprotocol/server-github"],
    ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/home/me"],
    ["/home/me/.local/bin/uvx", "mcp-server-fetch"],
    ["node", "/opt/servers/mcp-server-postgres/dist/index.js"],
    ["python3", "-m", "mcp_server_time"],
    ["docker", "run", "-i", "--rm", "mcp/github"],
    ["C:\\Program Files\\nodejs\\npx.cmd", "-y", "@modelcontextprotocol/server-memory"],
])
def test_mcp_server_command_lines(argv: list[str]) -> None:
    assert looks_like_mcp_server(argv)


@pytest.mark.parametrize("argv", [
    ["npx", "-y", "prettier", "--write", "."],
    ["node", "/usr/lib/code/out/main.js"],
    ["/usr/local/bin/mcpctl", "connect", "github"],
    ["python", "-m", "toolhive_py.proxy", "--server", "mcp-server-github"],
    ["docker", "run", "-i", "--rm", "debian:bookworm"],
])
def test_other_command_lines_are_not_servers(argv: list[str]) -> None:
    assert not looks_like_mcp_server(argv)


@pytest.mark.parametrize(("name", "cmdline", "client"), [
    ("Cursor", ["/Applications/Cursor.app/Contents/MacOS/Cursor"], "cursor"),
    ("Cursor Helper (Plugin)", ["/Applications/Cursor.app/Contents/Frameworks/Cursor Helper (Plugin).app/x"],
     "cursor"),
    ("code", ["/usr/share/code/code", "--type=utility"], "vscode"),
    ("Code.exe", ["C:\\Users\\me\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe"], "vscode"),
    ("code-insiders", ["/usr/share/code-insiders/code-insiders"], "vscode-insiders"),
    ("Claude", ["/Applications/Claude.app/Contents/MacOS/Claude"], "claude-desktop"),
    ("claude.exe", ["C:\\Users\\me\\AppData\\Local\\AnthropicClaude\\app-0.9\\claude.exe"], "claude-desktop"),
    ("claude", ["claude"], "claude-code"),
    ("node", ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"], "claude-code"),
    ("node", ["node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"], "gemini"),
    ("codex", ["codex"], "codex"),
    ("windsurf", ["/usr/share/windsurf/windsurf"], "windsurf"),
    ("zed-editor", ["/usr/libexec/zed-editor"], "zed"),
    ("goosed", ["goosed", "agent"], "goose"),
    ("LM Studio", ["/Applications/LM Studio.app/Contents/MacOS/LM Studio"], "lmstudio"),
    ("python3", ["python3", "/tmp/bin/Cursor"], "cursor"),
])
def test_parent_processes_name_their_client(name: str, cmdline: list[str], client: str) -> None:
    assert client_for(name, cmdline) == client


@pytest.mark.parametrize(("name", "cmdline"), [
    ("bash", ["bash", "/home/me/example.sh"]),  # "amp" inside "example"
    ("python3", ["python3", "unicode_tool.py"]),  # "code" inside "unicode"
    ("containerd", ["/usr/bin/containerd"]),
    ("tmux: server", ["tmux"]),
    ("sshd", ["sshd: me@pts/0"]),
])
def test_unrelated_parents_are_no_client(name: str, cmdline: list[str]) -> None:
    assert client_for(name, cmdline) is None


@pytest.mark.parametrize(("command", "args", "kind", "package", "version", "pinned"), [
    ("npx", ["-y", "@modelcontextprotocol/server-github@2025.4.8"], "npm", "@modelcontextprotocol/server-github",
     "2025.4.8", True),
    ("npx", ["-y", "@modelcontextprotocol/server-github"], "npm", "@modelcontextprotocol/server-github", None, False),
    ("npx", ["-y", "mcp-notes@latest"], "npm", "mcp-notes", "latest", False),
    ("npx", ["-y", "mcp-notes@^1.2.0"], "npm", "mcp-notes", "^1.2.0", False),
    ("pnpm", ["dlx", "mcp-notes@1.2.0"], "npm", "mcp-notes", "1.2.0", True),
    ("uvx", ["mcp-server-fetch==2025.1.1"], "pypi", "mcp-server-fetch", "2025.1.1", True),
    ("uvx", ["--from", "git+https://x/y", "mcp-server-fetch"], "pypi", "mcp-server-fetch", None, False),
    ("pipx", ["run", "mcp-server-time"], "pypi", "mcp-server-time", None, False),
    ("docker", ["run", "-i", "--rm", "-e", "GITHUB_TOKEN", "ghcr.io/github/github-mcp-server:v0.5.0"], "image",
     "ghcr.io/github/github-mcp-server", "v0.5.0", True),
    ("docker", ["run", "-i", "mcp/fetch"], "image", "mcp/fetch", "latest", False),
    ("C:\\tools\\node.exe", ["server.js"], "command", None, None, False),
])
def test_identity_behind_a_command(command: str, args: list[str], kind: str, package: str | None,
                                   version: str | None, pinned: bool) -> None:
    identity = from_command(command, args)
    assert (identity.kind, identity.package, identity.version, identity.pinned) == (kind, package, version, pinned)


def test_images_pinned_by_digest_or_exact_tag() -> None:
    digest = "sha256:" + "ab" * 32
    assert from_image(f"mcp/github@{digest}").pinned
    assert from_image("localhost:5000/mcp/github:1.2.3").package == "localhost:5000/mcp/github"
    assert not from_image("localhost:5000/mcp/github").pinned
    assert not from_image("mcp/github:main").pinned


def test_engine_prefixes_name_the_same_image() -> None:
    names = {from_image(ref).package for ref in ("mcp/fetch", "docker.io/mcp/fetch:1.0", "localhost/mcp/fetch",
                                                 "index.docker.io/mcp/fetch")}
    assert names == {"mcp/fetch"}
    assert from_image("docker.io/library/debian:bookworm").package == "debian"
    assert from_image("ghcr.io/github/github-mcp-server").package == "ghcr.io/github/github-mcp-server"


@pytest.mark.parametrize(("command", "args", "package", "name"), [
    ("/usr/bin/npx", ["-y", "@modelcontextprotocol/server-github", "--token", "ghp_x"], "@modelcontextprotocol/server-github",
     "npx @modelcontextprotocol/server-github"),
    ("/usr/bin/python3.11", ["-m", "mcp_server_time", "--local-timezone=UTC"], None, "python3.11 -m mcp_server_time"),
    ("node", ["--inspect", "/opt/servers/mcp-server-notes/index.js", "--key", "s3cr3t"], None,
     "node …/mcp-server-notes/index.js"),
    ("C:\\Program Files\\nodejs\\node.exe", ["C:\\srv\\mcp-server-x\\main.js"], None, "node …/mcp-server-x/main.js"),
    ("node", ["--api-key=s3cr3t"], None, "node"),
    ("python3", ["-m", "x; rm -rf"], None, "python3"),
])
def test_process_names_never_carry_the_rest_of_the_command_line(command: str, args: list[str], package: str | None,
                                                                 name: str) -> None:
    assert display_name(command, args, package) == name


def test_program_names_compare_across_platforms() -> None:
    assert {program_name(p) for p in ("npx", "/usr/bin/npx", "C:\\nodejs\\NPX.CMD", "npx.exe")} == {"npx"}


CID = "c5a5701e1ed53b218c127701076ec7a36931b6d37df3351944c1c5cbb105fba1"


@pytest.mark.parametrize(("cgroup", "expected"), [
    (f"12:pids:/docker/{CID}\n9:name=systemd:/docker/{CID}\n", CID),  # Docker, cgroup v1
    (f"0::/system.slice/docker-{CID}.scope\n", CID),  # Docker with systemd, cgroup v2
    (f"0::/machine.slice/libpod-{CID}.scope/container\n", CID),  # Podman with systemd
    (f"8:pids:/libpod_parent/libpod-{CID}\n", CID),  # Podman with cgroupfs
    (f"0::/kubepods/besteffort/pod1/cri-containerd-{CID}.scope\n", CID),
    ("0::/user.slice/user-1000.slice/session-2.scope\n", None),
    ("9:name=systemd:/\n8:pids:/libpod_parent/conmon\n", None),
    ("", None),
])
def test_the_container_of_a_process_is_read_from_its_cgroup(cgroup: str, expected: str | None) -> None:
    assert container_id_from_cgroup(cgroup) == expected


@pytest.mark.parametrize(("argv", "expected"), [
    (["/usr/bin/conmon", "--api-version", "1", "-c", CID, "-u", "ab" * 32, "-n", "mcpctl-time"], CID),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", CID, "-address", "/run/c.sock"], CID),
    (["/usr/bin/python3", "-c", CID], None),  # only a runtime monitor names a container
    (["/usr/bin/conmon", "-c"], None),
    ([], None),
])
def test_the_container_a_runtime_monitor_watches(argv: list[str], expected: str | None) -> None:
    assert container_id_from_runtime(argv) == expected


def test_a_process_is_in_a_container_by_full_or_short_id() -> None:
    assert is_in_containers(CID, {CID})
    assert is_in_containers(CID, {CID[:12]})
    assert is_in_containers(CID[:12], {CID})
    assert not is_in_containers(CID, {"ab" * 32})
    assert not is_in_containers(None, {CID})
    assert not is_in_containers(CID, {""}), "an empty id matches nothing"
