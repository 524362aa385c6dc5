"""Discovery details the fixture homes do not cover: Claude Code's per-project sections, VS Code profiles,
project trees (excludes, symlinked directories), lenient formats, and each kind of unreadable file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from toolhive_py.scan.discovery import MAX_SERVERS_PER_FILE, LineIndex, discover
from toolhive_py.scan.model import ScanError


def _found(home: Path, *projects: Path) -> set[tuple[str, str, str]]:
    servers, errors = discover(home, projects, managed_root=None, systems=("linux",))
    assert errors == []
    return {(s.client.id, s.scope, s.name) for s in servers}


def test_claude_code_user_and_per_project_sections(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    home.mkdir()
    (home / ".claude.json").write_text(
        '{"numStartups": 3, "mcpServers": {"global": {"command": "npx", "args": ["-y", "mcp-a@1.0.0"]}},\n'
        ' "projects": {"/work/api": {"allowedTools": [], "mcpServers": {"db": {"command": "uvx", '
        '"args": ["mcp-db"]}}},\n              "/work/web": {"mcpServers": {}}, "/work/old": {"history": []}}}')
    assert _found(home) == {("claude-code", "user", "global"), ("claude-code", "local (/work/api)", "db")}
    servers, _ = discover(home, (), managed_root=None, systems=("linux",))
    assert {s.name: s.line for s in servers} == {"global": 1, "db": 2}


def test_vscode_profiles_are_scanned_besides_the_default_profile(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    user = home / ".config" / "Code" / "User"
    (user / "profiles" / "5a1b2c").mkdir(parents=True)
    (user / "mcp.json").write_text('// default profile\n{"servers": {"a": {"type": "stdio", "command": "x",},},}\n')
    (user / "profiles" / "5a1b2c" / "mcp.json").write_text('{"servers": {"b": {"type": "http", "url": "http://h"}}}')
    assert _found(home) == {("vscode", "user", "a"), ("vscode", "user (profile 5a1b2c)", "b")}


def test_second_user_files_are_scanned_too(tmp_path: Path) -> None:
    """Cline's shared ~/.cline/data file next to the VS Code globalStorage one; on Windows, Claude Desktop's MSIX
    container copy and the pre-MSIX %APPDATA% copy."""
    home = tmp_path / "scanned"
    storage = home / ".config" / "Code" / "User" / "globalStorage" / "saoudrizwan.claude-dev" / "settings"
    shared = home / ".cline" / "data" / "settings"
    msix = home / "AppData" / "Local" / "Packages" / "Claude_pzs8sxrjxfjjc" / "LocalCache" / "Roaming" / "Claude"
    roaming = home / "AppData" / "Roaming" / "Claude"
    for directory, name in ((storage, "legacy"), (shared, "shared")):
        directory.mkdir(parents=True)
        (directory / "cline_mcp_settings.json").write_text(f'{{"mcpServers": {{"{name}": {{"command": "x"}}}}}}')
    for directory, name in ((msix, "packaged"), (roaming, "unpackaged")):
        directory.mkdir(parents=True)
        (directory / "claude_desktop_config.json").write_text(f'{{"mcpServers": {{"{name}": {{"command": "x"}}}}}}')
    assert _found(home) == {("cline", "user", "legacy"), ("cline", "user", "shared")}
    servers, errors = discover(home, (), managed_root=None, systems=("windows",))
    assert errors == []
    assert {(s.client.id, s.name) for s in servers} >= {("claude-desktop", "packaged"),
                                                        ("claude-desktop", "unpackaged"), ("cline", "shared")}


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _homes_and_projects(tmp_path: Path, projects: dict[str, str]) -> tuple[Path, Path]:
    """An empty home to scan and a tree of project files under ``src``."""
    home = tmp_path / "scanned"
    home.mkdir()
    _write_tree(tmp_path / "src", projects)
    return home, tmp_path / "src"


def test_project_files_of_codex_amp_and_opencode(tmp_path: Path) -> None:
    home, src = _homes_and_projects(tmp_path, {
        "a/.codex/config.toml": '[mcp_servers.codex-one]\ncommand = "npx"\n',
        "a/.amp/settings.json": '{"amp.mcpServers": {"amp-one": {"url": "https://amp.example/mcp"}}}',
        "b/opencode.json": '{"mcp": {"oc-root": {"type": "local", "command": ["x"]}}}',
        "b/.opencode/opencode.json": '{"mcp": {"oc-dir": {"type": "remote", "url": "https://oc.example/mcp"}}}',
    })
    assert _found(home, src) == {
        ("codex", f"project ({src / 'a'})", "codex-one"), ("amp", f"project ({src / 'a'})", "amp-one"),
        ("opencode", f"project ({src / 'b'})", "oc-root"), ("opencode", f"project ({src / 'b'})", "oc-dir")}


def test_opencode_2_native_servers_are_read_by_name_and_a_v1_server_called_servers_stays_one(tmp_path: Path) -> None:
    home, src = _homes_and_projects(tmp_path, {
        "v2/opencode.json": '{"mcp": {"servers": {"gh": {"type": "local", "command": ["npx", "x"]}, '
                            '"docs": {"type": "remote", "url": "https://d.example/mcp"}}}}',
        "v1/opencode.json": '{"mcp": {"servers": {"type": "local", "command": ["npx", "servers-mcp"]}}}',
    })
    assert _found(home, src) == {
        ("opencode", f"project ({src / 'v2'})", "gh"), ("opencode", f"project ({src / 'v2'})", "docs"),
        ("opencode", f"project ({src / 'v1'})", "servers")}


def test_project_trees_skip_dependency_dirs_and_do_not_follow_symlinked_dirs(tmp_path: Path) -> None:
    home, src = _homes_and_projects(tmp_path, {
        "api/.mcp.json": '{"mcpServers": {"api-db": {"command": "uvx", "args": ["mcp-db==1.0"]}}}',
        "web/.cursor/mcp.json": '{"mcpServers": {"web-search": {"url": "https://search.example/mcp"}}}',
        "web/.zed/settings.json": '{"context_servers": {"zed-one": {"command": "npx", "args": ["z"]},},}',
        "api/node_modules/dep/.mcp.json": '{"mcpServers": {"vendored": {"command": "x"}}}',
        "api/.git/hooks/.mcp.json": '{"mcpServers": {"in-git": {"command": "x"}}}',
        "api/.venv/.mcp.json": '{"mcpServers": {"in-venv": {"command": "x"}}}',
    })
    (src / "api" / "loop").symlink_to(src)  # a directory symlink loop must not be walked forever
    assert _found(home, src) == {
        ("claude-code", f"project ({src / 'api'})", "api-db"),
        ("cursor", f"project ({src / 'web'})", "web-search"),
        ("zed", f"project ({src / 'web'})", "zed-one"),
    }


def test_each_kind_of_bad_file_is_one_scan_error(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    files = {
        ".cursor/mcp.json": os.urandom(2048) + b"\xff\xfe",
        ".gemini/settings.json": b"",
        ".kiro/settings/mcp.json": b'{"mcpServers": {"a": "' + b"x" * (16 * 1024 * 1024 + 1) + b'"}}',
        ".codeium/windsurf/mcp_config.json": b'{"mcpServers": {"a": ',
        ".codex/config.toml": b"[mcp_servers.x\ncommand = 1",
        ".continue/config.yaml": b"mcpServers: [\n  - name: a\n    command: [unclosed",
        ".lmstudio/mcp.json": b'\xef\xbb\xbf{"mcpServers": {"ok": {"command": "npx", "args": ["-y", "p@1.0.0"]}}}',
        ".claude.json": b'{"mcpServers": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    }
    for rel, data in files.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_bytes(data)
    loop = home / ".gemini" / "antigravity"
    (home / ".config" / "opencode").mkdir(parents=True)
    (home / ".config" / "opencode" / "opencode.json").symlink_to(loop)
    loop.symlink_to(home / ".config" / "opencode" / "opencode.json")
    servers, errors = discover(home, (), managed_root=None, systems=("linux",))
    messages = {Path(e.path).relative_to(home).as_posix(): e.message for e in errors}
    assert set(messages) == {".cursor/mcp.json", ".gemini/settings.json", ".kiro/settings/mcp.json", ".claude.json",
                             ".codeium/windsurf/mcp_config.json", ".codex/config.toml", ".continue/config.yaml",
                             ".config/opencode/opencode.json"}
    assert "not UTF-8" in messages[".cursor/mcp.json"]
    assert messages[".gemini/settings.json"] == "empty file"
    assert "too large" in messages[".kiro/settings/mcp.json"]
    assert "symbolic links" in messages[".config/opencode/opencode.json"]
    assert messages[".claude.json"] == "nested too deeply to be a config file"
    assert [(s.client.id, s.name) for s in servers] == [("lmstudio", "ok")], "a BOM is no error; good files count"


def test_managed_configs_under_a_root_for_each_os(tmp_path: Path) -> None:
    """Claude Code's managed-mcp.json where each OS keeps it, read under --root (a mounted disk)."""
    home, root = tmp_path / "scanned", tmp_path / "disk"
    home.mkdir()
    for rel, name in (("etc/claude-code", "linux-policy"), ("Library/Application Support/ClaudeCode", "mac-policy"),
                      ("Program Files/ClaudeCode", "windows-policy")):
        (root / rel).mkdir(parents=True)
        (root / rel / "managed-mcp.json").write_text(f'{{"mcpServers": {{"{name}": {{"url": "https://mcp.corp/"}}}}}}')
    servers, errors = discover(home, (), managed_root=root)
    assert errors == []
    assert {(s.client.id, s.scope, s.name) for s in servers} == {
        ("claude-code", "managed", "linux-policy"), ("claude-code", "managed", "mac-policy"),
        ("claude-code", "managed", "windows-policy")}
    report = run_cli("scan", "--home", str(home), "--root", str(root), "--format", "json")
    assert report.exit_code == 0
    assert sorted(f["name"] for f in report.json()["findings"]) == ["linux-policy", "mac-policy", "windows-policy"]
    without = run_cli("scan", "--home", str(home), "--format", "json")
    assert without.json()["findings"] == [], "--home alone does not read this machine's managed configs"


def test_gemini_system_settings_are_its_managed_scope(tmp_path: Path) -> None:
    home, root = tmp_path / "scanned", tmp_path / "disk"
    home.mkdir()
    (root / "etc" / "gemini-cli").mkdir(parents=True)
    (root / "etc" / "gemini-cli" / "settings.json").write_text(
        '// fleet policy\n{"mcpServers": {"corp": {"httpUrl": "https://mcp.corp/"}}}')
    servers, errors = discover(home, (), managed_root=root, systems=("linux",))
    assert errors == []
    assert [(s.client.id, s.scope, s.name) for s in servers] == [("gemini", "managed", "corp")]


def test_continue_mcp_server_folders_are_read_file_by_file(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    src = tmp_path / "src"
    block = "name: Blocks\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: {}\n    command: npx\n"
    _write_tree(home, {
        ".continue/config.yaml": "mcpServers:\n  - name: in-config\n    command: uvx\n",
        ".continue/mcpServers/playwright.yaml": block.format("global-block"),
    })
    _write_tree(src, {
        "app/.continue/mcpServers/browser.yml": block.format("project-block"),
        "app/.continue/mcpServers/from-claude.json": '{"mcpServers": {"copied": {"command": "npx", "args": ["x"]}}}',
        "app/.continue/mcpServers/notes.txt": "not a config",
    })
    assert _found(home, src) == {
        ("continue", "user", "in-config"), ("continue", "user", "global-block"),
        ("continue", f"project ({src / 'app'})", "project-block"),
        ("continue", f"project ({src / 'app'})", "copied")}


def _many(home: Path, count: int) -> Path:
    config = home / ".cursor" / "mcp.json"
    config.parent.mkdir(parents=True)
    entries = {f"srv-{n}": {"command": "npx", "args": ["-y", f"mcp-tool-{n}@1.0.0"]} for n in range(count)}
    config.write_text(json.dumps({"mcpServers": entries}, indent=2))
    return config


def test_discovery_is_linear_in_the_servers_of_one_file(tmp_path: Path) -> None:
    """Each server's line was found by a search from the top of the file: 20,000 servers took ~40 s."""
    home = tmp_path / "scanned"
    _many(home, 20_000)
    start = time.perf_counter()
    servers, errors = discover(home, (), managed_root=None, systems=("linux",), max_per_file=20_000)
    elapsed = time.perf_counter() - start
    assert (len(servers), errors) == (20_000, [])
    assert {s.name: s.line for s in servers[:3]} == {"srv-0": 3, "srv-1": 10, "srv-2": 17}
    assert servers[-1].line == 3 + 7 * 19_999
    assert elapsed < 10, f"{elapsed:.1f} s for 20,000 servers"


def test_a_file_past_the_server_cap_is_read_that_far_and_reported_truncated(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    config = _many(home, 8)
    servers, errors = discover(home, (), managed_root=None, systems=("linux",), max_per_file=5)
    assert [s.name for s in servers] == [f"srv-{n}" for n in range(5)]
    assert errors == [ScanError(str(config), "truncated: more than 5 servers in one file; only the first 5 were "
                                "scanned")]
    assert MAX_SERVERS_PER_FILE == 10_000


@pytest.mark.parametrize(("fmt", "text", "expected"), [
    ("json", '{"a": {"b": 1},\n "s": {\n  "x": {}, "y": {}}}', {"x": 3, "y": 3, "s": 2, "zz": None}),
    ("toml", '[mcp_servers.x]\ncommand = "a"\n\n[mcp_servers."y z".env]\nK = "v"\n', {"x": 1, "y z": 4}),
    ("yaml", 'extensions:\n  x:\n    cmd: a\n  "y": {cmd: b}\nmcpServers:\n  - name: z\n', {"x": 2, "y": 4, "z": 6}),
])
def test_line_index_finds_each_declaration(fmt: str, text: str, expected: dict[str, int | None]) -> None:
    index = LineIndex(text, fmt)
    assert {name: index.line_of(name) for name in expected} == expected
    assert index.line_of("x", text.index("\n") + 1) == (None if fmt == "toml" else expected["x"])


def test_the_server_cap_counts_claude_code_project_sections_of_the_same_file(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    home.mkdir()
    projects = {f"/work/p{n}": {"mcpServers": {f"s{n}a": {"command": "x"}, f"s{n}b": {"command": "x"}}}
                for n in range(50)}
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {"g": {"command": "x"}}, "projects": projects},
                                                  indent=1))
    servers, errors = discover(home, (), managed_root=None, systems=("linux",), max_per_file=4)
    assert [(s.scope, s.name) for s in servers] == [
        ("user", "g"), ("local (/work/p0)", "s0a"), ("local (/work/p0)", "s0b"), ("local (/work/p1)", "s1a")]
    assert [e.message for e in errors] == ["truncated: more than 4 servers in one file; only the first 4 were scanned"]
    lines = (home / ".claude.json").read_text().splitlines()
    assert all(f'"{s.name}"' in lines[s.line - 1] for s in servers if s.line), "lines found after each section"
