"""Client configs: golden round trips for every catalog client (connect, then disconnect, gives back the
exact bytes), corrupt files left untouched, concurrent writers, a crash before the rename, restore."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import yaml

from toolhive_py.clients import api, documents
from toolhive_py.clients.catalog import CLIENTS, URL_KEYS, Client, get_client
from toolhive_py.clients.documents import Edit, load_text, parse_text, remove_server, replace_server, servers_in
from toolhive_py.config import Paths
from toolhive_py.errors import ConfigError, ConflictError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "clients"
SERVER = api.ManagedServer("mcpctl-demo", "http://127.0.0.1:41873/mcp")
SECRET = "ghp_" + "x" * 36


def fixture_for(client: Client) -> Path:
    return next(FIXTURES.glob(client.id + ".*"))


def target_in(home: Path, client: Client) -> api.Target:
    return api.resolve_target(client.id, home=home, os_name="linux")


def servers(target: api.Target) -> dict[str, Any]:
    location = target.location
    data = parse_text(target.path, load_text(target.path) or "", location.format)
    return servers_in(data, location.servers_path(data), location.servers_kind)


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.id)
@pytest.mark.parametrize("start", ["realistic", "empty", "missing", "missing-dir"])
def test_connect_then_disconnect_gives_back_the_exact_bytes(client: Client, start: str, isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, client)
    original: bytes | None = None
    if start == "realistic":
        target.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixture_for(client), target.path)
        original = target.path.read_bytes()
    elif start == "empty":
        target.path.parent.mkdir(parents=True, exist_ok=True)
        target.path.write_bytes(b"")
        original = b""
    elif start == "missing":
        target.path.parent.mkdir(parents=True, exist_ok=True)
    before = servers(target) if original is not None else {}
    parent_existed = target.path.parent.exists()

    api.connect(paths, target, [SERVER])
    after = servers(target)
    assert after[SERVER.name] == api.entry_for(client, SERVER)
    assert {k: v for k, v in after.items() if k != SERVER.name} == before, "other servers must not change"
    assert SECRET not in target.path.read_text()

    assert api.disconnect(paths, target) == [SERVER.name]
    if original is None:
        assert not target.path.exists()
        assert target.path.parent.exists() == parent_existed, "directories mcpctl created go again"
    else:
        assert target.path.read_bytes() == original


def test_opencode_2_native_layout_gets_its_entry_one_level_down_and_its_bytes_back(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, get_client("opencode"))
    target.path.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "opencode-v2-native.jsonc", target.path)
    original = target.path.read_bytes()

    api.connect(paths, target, [SERVER])
    native = parse_text(target.path, target.path.read_text(), "jsonc")["mcp"]
    assert set(native) == {"servers"}, "no V1 entry beside the native map"
    assert native["servers"][SERVER.name] == {"type": "remote", "url": SERVER.url}
    assert {"sentry", "local-db"} < set(native["servers"])
    assert [s["name"] for s in api.status(paths, target)["servers"]] == ["sentry", "local-db", SERVER.name]

    assert api.disconnect(paths, target) == [SERVER.name]
    assert target.path.read_bytes() == original


@pytest.mark.parametrize("client", [c for c in CLIENTS if c.location("user").format != "yaml"],  # type: ignore[union-attr]
                         ids=lambda c: c.id)
def test_reconnect_updates_in_place_and_other_keys_survive(client: Client, isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, client)
    target.path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(fixture_for(client), target.path)
    original = target.path.read_bytes()
    api.connect(paths, target, [SERVER])
    moved = api.ManagedServer(SERVER.name, "http://127.0.0.1:50000/mcp")
    api.connect(paths, target, [moved])
    assert servers(target)[SERVER.name] == api.entry_for(client, moved)
    api.disconnect(paths, target)
    assert target.path.read_bytes() == original


def test_stdio_only_client_gets_an_absolute_mcpctl_connect_command(isolated_home: Path) -> None:
    entry = api.entry_for(next(c for c in CLIENTS if c.id == "claude-desktop"), SERVER)
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-2:] == ["connect", SERVER.name]


def test_a_corrupt_file_is_left_byte_for_byte_and_the_error_names_line_and_column(isolated_home: Path) -> None:
    target = api.resolve_target("cursor", home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    corrupt = b'{\n  "mcpServers": {\n    "a": {"command": "x"\n  }\n'
    target.path.write_bytes(corrupt)
    with pytest.raises(ConfigError) as caught:
        api.connect(Paths.from_env(), target, [SERVER])
    assert f"{target.path}:5:1" in caught.value.message
    assert target.path.read_bytes() == corrupt


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize(("client_id", "corrupt", "where"), [
    ("codex", b'model = "x"\n[mcp_servers.a\ncommand = "y"\n', ":2:"),
    ("goose", b"extensions:\n  a: [unclosed\n", ":3:"),
    ("continue", b"mcpServers:\n  - name: a\n    command: [x\n", ":4:"),
])
def test_corrupt_toml_and_yaml_are_refused_with_a_position(client_id: str, corrupt: bytes, where: str, replace: bool,
                                                           isolated_home: Path) -> None:
    target = api.resolve_target(client_id, home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    target.path.write_bytes(corrupt)
    with pytest.raises(ConfigError) as caught:
        api.connect(Paths.from_env(), target, [api.ManagedServer("a", SERVER.url)], replace=replace)
    assert where in caught.value.message
    assert target.path.read_bytes() == corrupt


def test_entries_mcpctl_did_not_write_are_never_replaced_or_removed(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = api.resolve_target("cursor", home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
    with pytest.raises(ConflictError):
        api.connect(paths, target, [api.ManagedServer("context7", SERVER.url)])
    assert api.disconnect(paths, target) == []
    api.connect(paths, target, [api.ManagedServer("context7", SERVER.url)], replace=True)
    assert servers(target)["context7"] == {"url": SERVER.url}


def test_an_entry_edited_by_the_user_is_theirs(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = api.resolve_target("cursor", home=isolated_home, os_name="linux")
    api.connect(paths, target, [SERVER])
    data = json.loads(target.path.read_text())
    data["mcpServers"][SERVER.name]["url"] = "http://127.0.0.1:1/mcp"
    target.path.write_text(json.dumps(data))
    assert api.disconnect(paths, target) == []
    assert SERVER.name in servers(target)


def _connect_one(home: str, name: str) -> None:
    os.environ["HOME"] = home
    target = api.resolve_target("vscode", home=Path(home), os_name="linux")
    api.connect(Paths.from_env(), target, [api.ManagedServer(name, f"http://127.0.0.1:4{len(name)}/mcp")])


def test_concurrent_connects_to_one_file_all_land(isolated_home: Path) -> None:
    names = [f"server-{i}" for i in range(8)]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_connect_one, args=(str(isolated_home), n)) for n in names]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    target = api.resolve_target("vscode", home=isolated_home, os_name="linux")
    assert set(servers(target)) == set(names)


def test_a_crash_between_temp_write_and_rename_leaves_the_original(isolated_home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = api.resolve_target("zed", home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
    original = target.path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        api.connect(Paths.from_env(), target, [SERVER])
    assert target.path.read_bytes() == original
    assert [p.name for p in target.path.parent.iterdir()] == [target.path.name], "no temp file left behind"


def _codex_from_fixture(home: Path) -> api.Target:
    """Codex's user config under ``home``, holding the checked-in fixture of a real config."""
    target = api.resolve_target("codex", home=home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
    return target


def test_restore_brings_back_the_file_before_the_last_change(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = _codex_from_fixture(isolated_home)
    original = target.path.read_bytes()
    api.connect(paths, target, [SERVER])
    assert target.path.read_bytes() != original
    assert api.restore(paths, "codex") == target.path
    assert target.path.read_bytes() == original


def test_mode_and_symlinks_are_kept(isolated_home: Path) -> None:
    target = api.resolve_target("gemini", home=isolated_home, os_name="linux")
    real = isolated_home / "dotfiles" / "gemini-settings.json"
    real.parent.mkdir()
    shutil.copy(fixture_for(target.client), real)
    real.chmod(0o640)
    target.path.parent.mkdir(parents=True)
    target.path.symlink_to(real)
    api.connect(Paths.from_env(), target, [SERVER])
    assert target.path.is_symlink()
    assert SERVER.name in json.loads(real.read_text())["mcpServers"]
    assert real.stat().st_mode & 0o777 == 0o640


def test_doctor_names_a_broken_client_config(isolated_home: Path) -> None:
    from toolhive_py.doctor import check_clients

    cursor = isolated_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir()
    cursor.write_text('{"mcpServers": {"a": {"command": "x"},,}}')
    shutil.copy(fixture_for(next(c for c in CLIENTS if c.id == "zed")), _zed_path(isolated_home))
    checks = {c.name: c for c in check_clients(Paths.from_env())}
    assert checks["client cursor"].status == "fail"
    assert f"{cursor}:1:39" in checks["client cursor"].detail
    assert checks["client zed"].status == "ok"
    assert checks["client zed"].detail.endswith(": 1 servers")


def _zed_path(home: Path) -> Path:
    path = home / ".config" / "zed" / "settings.json"
    path.parent.mkdir(parents=True)
    return path


# ----- replacing an entry the user wrote, in place, in TOML and YAML -----------------------------------

TOKEN_LINE = SECRET  # what the user pasted into the entry being replaced
CODEX_TEXT = f'''\ufeff# Codex configuration
model = "gpt-5-codex"
notify = ["notify-send", "--urgency=low"]  # desktop

[mcp_servers.docs]
command = "npx"
args = ["-y", "mcp-server-docs"]   # local docs server
env = {{ "DOCS_ROOT" = "/home/ana/docs" }}

[mcp_servers."github.com/ana"]    # a quoted key
url = "https://example.com/mcp"

[ mcp_servers . github ]   # the one to replace
command = "docker"
args = [
  "run", "-i", "--rm",   # a comment inside an array
  "ghcr.io/github/github-mcp-server",
]
description = """
[not.a.header]
"""

[mcp_servers.github.env]
GITHUB_PERSONAL_ACCESS_TOKEN = "{TOKEN_LINE}"

# Profiles
[profiles.fast]
model = "gpt-5-mini"
[mcp_servers.inline]
tools = {{ search = {{ enabled = true }} }}
[mcp_servers.implicit.env]   # no table of its own
A = "1"

[mcp_servers]
local = {{ command = "npx", args = ["-y", "x"] }}  # the value is an inline table
'''
GOOSE_TEXT = f'''# Goose settings
GOOSE_PROVIDER: anthropic
extensions:
  developer:
    bundled: true
    enabled: true
    name: developer
    type: builtin
  # GitHub, by hand
  github:   # mine
    cmd: docker
    args: [run, -i, --rm, "ghcr.io/github/github-mcp-server"]
    envs:
      GITHUB_PERSONAL_ACCESS_TOKEN: {TOKEN_LINE}   # pasted
    description: |
      multi-line
      text
    enabled: true
    name: github
    type: stdio
  "odd key: yes":
    enabled: false
    name: odd
    type: stdio
    cmd: x
  fetch: {{cmd: uvx, args: [mcp-server-fetch], name: fetch, type: stdio}}  # flow style stays flow

# trailing
GOOSE_MODE: smart_approve
'''
CONTINUE_TEXT = f'''name: Ana's assistant
version: 1.0.0
schema: v1

mcpServers:
  - name: SQLite
    command: npx
    args: ["-y", "mcp-sqlite", "/home/ana/data/app.db"]   # the dev database
  - name: GitHub   # mine
    command: docker
    args:
      - run
      - ghcr.io/github/github-mcp-server
    env:
      GITHUB_PERSONAL_ACCESS_TOKEN: "{TOKEN_LINE}"  # pasted

  - {{name: Flow, command: uvx}}   # flow style stays flow

context:
  - provider: code
'''
CURSOR_TEXT = f'''{{
  // mine
  "mcpServers": {{
    "github": {{"command": "docker", "env": {{"GITHUB_PERSONAL_ACCESS_TOKEN": "{TOKEN_LINE}"}}}}, // pasted
    "notes": {{"command": "npx"}}
  }}
}}
'''
URL = SERVER.url


def _toml(entry: dict[str, Any]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in entry.items())


def _block(column: int) -> Any:
    """A YAML block mapping whose lines after the first are indented to the replaced value's column."""
    return lambda entry: yaml.safe_dump(entry, sort_keys=False).rstrip("\n").replace("\n", "\n" + " " * column)


def _flow(entry: dict[str, Any]) -> str:
    return yaml.safe_dump(entry, sort_keys=False, default_flow_style=True, width=1000).strip()


# (client, file text, server, the replaced span's first bytes, the first bytes after it, what it becomes given
#  the new entry, the span a disconnect removes: its first bytes and the first bytes after it)
IN_PLACE_CASES = [
    ("codex", CODEX_TEXT, "github", 'command = "docker"', "\n# Profiles", _toml, ("[ mcp_servers . github ]", "# Profiles")),
    ("codex", CODEX_TEXT, "docs", 'command = "npx"', '\n[mcp_servers."github.com', _toml,
     ("[mcp_servers.docs]", '[mcp_servers."github.com')),
    ("codex", CODEX_TEXT, "inline", "tools = ", "[mcp_servers.implicit", _toml,
     ("[mcp_servers.inline]", "[mcp_servers.implicit")),
    ("codex", CODEX_TEXT, "implicit", "[mcp_servers.implicit.env]", "\n[mcp_servers]\nlocal",
     lambda e: "[mcp_servers.implicit]\n" + _toml(e), ("[mcp_servers.implicit.env]", "[mcp_servers]\nlocal")),
    ("codex", CODEX_TEXT, "local", '{ command = "npx"', "  # the value is an inline table",
     lambda e: "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in e.items()) + "}", ("local = {", "")),
    ("goose", GOOSE_TEXT, "github", "cmd: docker", '\n  "odd key', _block(4), ("  github:   # mine", '  "odd key')),
    ("goose", GOOSE_TEXT, "fetch", "{cmd: uvx", "  # flow style", _flow, ("  fetch: {", "\n# trailing")),
    ("goose", GOOSE_TEXT, "odd key: yes", "enabled: false", "\n  fetch:", _block(4),
     ('  "odd key: yes":', "  fetch: {")),
    ("continue", CONTINUE_TEXT, "GitHub", "name: GitHub", "\n\n  - {name: Flow", _block(4),
     ("  - name: GitHub", "\n  - {name: Flow")),
    ("continue", CONTINUE_TEXT, "Flow", "{name: Flow", "   # flow style", _flow, ("  - {name: Flow", "\ncontext:")),
    ("cursor", CURSOR_TEXT, "github", '{"command": "docker"', ", // pasted", json.dumps, ('"github"', '"notes"')),
]


def _cut(text: str, first: str, after: str) -> tuple[str, str]:
    """The text before ``first`` and from ``after`` on (``after`` empty: the end of the file)."""
    return text[:text.index(first)], text[text.index(after):] if after else ""


@pytest.mark.parametrize(("client_id", "original", "name", "first", "after", "middle", "gone"), IN_PLACE_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in IN_PLACE_CASES])
def test_replace_rewrites_only_that_entry_in_every_format(
        client_id: str, original: str, name: str, first: str, after: str, middle: Any, gone: tuple[str, str],
        isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = api.resolve_target(client_id, home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    target.path.write_text(original)
    before = servers(target)
    server = api.ManagedServer(name, URL)
    with pytest.raises(ConflictError):
        api.connect(paths, target, [server])  # without --replace, the user's entry is theirs
    assert target.path.read_text() == original

    backup = api.connect(paths, target, [server], replace=True)
    text = target.path.read_text()
    head, tail = _cut(original, first, after)
    entry = api.entry_for(target.client, server)
    assert text == head + middle(entry) + tail, "every byte outside the entry is unchanged"
    assert servers(target) == {**before, name: entry}
    assert json.loads(backup.read_text())["text"] == original

    moved = api.ManagedServer(name, "http://127.0.0.1:50000/mcp")
    api.connect(paths, target, [moved])  # reconnecting keeps it where it stands
    assert target.path.read_text() == head + middle(api.entry_for(target.client, moved)) + tail

    assert api.disconnect(paths, target) == [name]  # like JSON: the replaced entry goes, the rest stays
    assert servers(target) == {k: v for k, v in before.items() if k != name}
    assert target.path.read_text() == "".join(_cut(original, *gone))
    assert api.restore(paths, client_id) == target.path
    assert target.path.read_text() == head + middle(api.entry_for(target.client, moved)) + tail


@pytest.mark.parametrize(("client_id", "text", "reason"), [
    ("codex", 'mcp_servers = { github = { command = "x" } }\n', "inside the inline table mcp_servers"),
    ("codex", '[mcp_servers]\ngithub.command = "x"\ngithub.args = []\n', "dotted keys"),
    ("codex", '[[mcp_servers.github]]\ncommand = "x"\n', "array of tables"),
    ("goose", "extensions: {github: {cmd: x}}  # all on one line\n", "written inline"),
    ("goose", "base: &b {cmd: x}\nextensions:\n  github: *b\n", "alias"),
    ("continue", "mcpServers: [{name: github, command: x}]\n", "written inline"),
    ("goose", "extensions:\n  github: &g\n    cmd: x\n  copy: *g\n", "more than that entry"),
    ("cursor", '{"mcpServers": {"github": {"command": "x"}, "github": {"command": "y"}}}', "more than that entry"),
])
def test_a_layout_mcpctl_cannot_replace_in_place_is_refused_and_left_alone(client_id: str, text: str, reason: str,
                                                                          isolated_home: Path) -> None:
    target = api.resolve_target(client_id, home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    target.path.write_text(text)
    with pytest.raises(ConflictError) as caught:
        api.connect(Paths.from_env(), target, [api.ManagedServer("github", URL)], replace=True)
    assert str(target.path) in caught.value.message
    assert "'github'" in caught.value.message
    assert reason in caught.value.message
    assert target.path.read_text() == text


@pytest.mark.parametrize(("client_id", "text"), [("codex", CODEX_TEXT), ("goose", GOOSE_TEXT)])
def test_windows_line_endings_stay_when_an_entry_is_replaced(client_id: str, text: str, isolated_home: Path) -> None:
    target = api.resolve_target(client_id, home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    target.path.write_bytes(text.replace("\n", "\r\n").encode())
    server = api.ManagedServer("github", URL)
    api.connect(Paths.from_env(), target, [server], replace=True)
    data = target.path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b""), "no bare line feed was written"
    assert servers(target)["github"] == api.entry_for(target.client, server)
    assert SECRET.encode() not in data


_AWKWARD = ['a"b', "it's", "x]y", "#not a comment", "two\nlines", "ü", "- x", "a: b", "*x", "[h]", "'''", "\\"]


def _generated(rnd: random.Random, depth: int = 0) -> Any:
    """A random config value full of the strings that trip hand-written scanners."""
    roll = rnd.random()
    if roll < 0.35 or depth == 2:
        return rnd.choice(_AWKWARD) + rnd.choice("xyz")
    if roll < 0.5:
        return rnd.randint(-5, 10**6)
    if roll < 0.6:
        return rnd.random() < 0.5
    if roll < 0.8:
        return [_generated(rnd, depth + 1) for _ in range(rnd.randint(1, 3))]
    return {rnd.choice(["k", "a.b", "x y", "ü", "- z"]) + str(i): _generated(rnd, depth + 1) for i in range(3)}


@pytest.mark.parametrize("layout", ["toml", "yaml-block", "yaml-flow-values", "yaml-list"])
def test_in_place_edits_hold_for_documents_the_libraries_write(layout: str) -> None:
    """tomlkit and PyYAML write sub-tables, quoted keys, multi-line strings and nested flow values; a
    seeded set of such documents must all be replaced and removed in place, never refused."""
    rnd = random.Random(layout)  # noqa: S311 - seeded test data, the same every run
    fmt: Any = layout.split("-")[0]
    kind = "list" if layout == "yaml-list" else "map"
    for _ in range(40):
        names = [rnd.choice(["s", "a.b", "x y", "- srv", "#c"]) + str(j) for j in range(rnd.randint(1, 4))]
        data = {n: {f"f{k}": _generated(rnd) for k in range(rnd.randint(1, 4))} for n in names}
        data[names[0]] = {"env": {"A": _generated(rnd)}}  # in TOML only [servers.NAME.env], no table of its own
        body: Any = [{"name": n, **v} for n, v in data.items()] if kind == "list" else data
        document = {"model": _generated(rnd), "servers": body, "profiles": {"p": _generated(rnd)}}
        text = (tomlkit.dumps(document) if fmt == "toml" else "# mine\n" + yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=None if "flow" in layout else False))
        before = servers_in(parse_text(Path("c"), text, fmt), ("servers",), kind)
        name = rnd.choice(names)
        entry = {"name": name, "url": URL}
        new = replace_server(Path("c"), text, fmt, ("servers",), kind, name, entry)
        assert servers_in(parse_text(Path("c"), new, fmt), ("servers",), kind) == {**before, name: entry}
        gone = remove_server(Path("c"), new, fmt, ("servers",), kind, name, Edit(in_place=True))
        assert servers_in(parse_text(Path("c"), gone, fmt), ("servers",), kind) == {
            n: v for n, v in before.items() if n != name}


def test_a_client_with_several_files_is_written_where_it_reads(isolated_home: Path) -> None:
    desktop = get_client("claude-desktop")
    msix, appdata = (loc.resolve("windows", isolated_home) for loc in desktop.locations)
    assert msix is not None
    assert appdata is not None
    assert api.resolve_target("claude-desktop", home=isolated_home, os_name="windows").path == msix
    appdata.parent.mkdir(parents=True)  # a pre-MSIX install: only %APPDATA%\Claude exists
    assert api.resolve_target("claude-desktop", home=isolated_home, os_name="windows").path == appdata
    msix.parent.mkdir(parents=True)
    msix.write_text("{}")  # the file that exists wins over a directory that does
    assert api.resolve_target("claude-desktop", home=isolated_home, os_name="windows").path == msix

    storage, shared = (loc.resolve("linux", isolated_home) for loc in get_client("cline").locations
                       if loc.scope == "user")
    assert shared is not None
    assert shared.is_relative_to(isolated_home / ".cline")
    shared.parent.mkdir(parents=True)  # the Cline CLI or JetBrains, no VS Code extension
    assert api.resolve_target("cline", home=isolated_home, os_name="linux").path == shared
    assert storage is not None
    storage.parent.mkdir(parents=True)
    storage.write_text("{}")
    assert api.resolve_target("cline", home=isolated_home, os_name="linux").path == storage


def test_backup_names_sort_in_the_order_the_backups_were_made() -> None:
    second = 1_795_000_000 * 10**9
    made = [second + 999_999_998, second + 999_999_999, second + 10**9, second + 10**9 + 1, second + 3 * 10**9]
    names = [api._backup_name(ns) for ns in made]
    assert sorted(names) == names
    assert len(set(names)) == len(names)


# ----- files mcpctl may not or cannot change (issue 13, item 15) ------------------------------------

def _backups(paths: Paths, client_id: str) -> list[Path]:
    return sorted((paths.state_dir / "clients" / "backups" / client_id).glob("*.json"))


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """chattr +i: the one lock root cannot write through (root ignores mode bits)."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE on ext4/xfs/btrfs)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_is_read_only_means_no_write_bit_or_not_writable_by_us() -> None:
    assert api.is_read_only(0o100444, writable=True)
    assert api.is_read_only(0o100400, writable=True)
    assert api.is_read_only(0o100644, writable=False)
    assert not api.is_read_only(0o100644, writable=True)
    assert not api.is_read_only(0o100600, writable=True)


def test_a_read_only_config_is_refused_unless_forced(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, get_client("zed"))
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
    original = target.path.read_bytes()
    target.path.chmod(0o444)
    with pytest.raises(ConfigError) as caught:
        api.connect(paths, target, [SERVER])
    assert caught.value.code == "read-only"
    assert str(target.path) in caught.value.message
    assert "--force" in (caught.value.hint or "")
    assert target.path.read_bytes() == original
    assert _backups(paths, "zed") == []

    api.connect(paths, target, [SERVER], force=True)
    assert SERVER.name in servers(target)
    assert target.path.stat().st_mode & 0o777 == 0o444, "a forced write keeps the user's mode"
    assert len(_backups(paths, "zed")) == 1
    with pytest.raises(ConfigError, match="read-only"):
        api.disconnect(paths, target)
    assert api.disconnect(paths, target, force=True) == [SERVER.name]
    assert target.path.read_bytes() == original


def test_a_write_that_fails_names_the_file_and_leaves_no_backup(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, get_client("zed"))
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
    original = target.path.read_bytes()
    target.path.parent.chmod(0o555)
    try:
        with _immutable(target.path.parent) if os.geteuid() == 0 else contextlib.nullcontext():
            for _ in range(2):  # a retry must not add a backup either
                with pytest.raises(ConfigError) as caught:
                    api.connect(paths, target, [SERVER])
                assert caught.value.code == "write-failed"
                assert str(target.path) in caught.value.message
            assert target.path.read_bytes() == original
    finally:
        target.path.parent.chmod(0o755)
    assert _backups(paths, "zed") == []
    listed = api.status(paths, target)["servers"]
    assert listed
    assert not any(s["managed"] for s in listed), "no ledger record for a write that failed"


def test_an_immutable_config_is_refused_and_forcing_it_fails_cleanly(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, get_client("zed"))
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
    with _immutable(target.path):
        with pytest.raises(ConfigError) as refused:
            api.connect(paths, target, [SERVER])
        assert refused.value.code == "read-only"
        with pytest.raises(ConfigError) as failed:
            api.connect(paths, target, [SERVER], force=True)
        assert failed.value.code == "write-failed"
    assert _backups(paths, "zed") == []
    assert [p.name for p in target.path.parent.iterdir()] == [target.path.name], "no temp file left behind"


def test_disconnect_everywhere_goes_on_past_a_read_only_config(isolated_home: Path) -> None:
    paths = Paths.from_env()
    locked, other = target_in(isolated_home, get_client("zed")), target_in(isolated_home, get_client("codex"))
    for target in (locked, other):
        api.connect(paths, target, [SERVER])
    locked.path.chmod(0o444)
    with pytest.raises(ConfigError, match="read-only"):
        api.disconnect_everywhere(paths, SERVER.name)
    assert SERVER.name not in servers(other)
    assert SERVER.name in servers(locked)


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nextensions:\n  fetch:\n    cmd: uvx\n    args: [mcp-server-fetch]\n    x: *a{levels - 1}\n"


@pytest.mark.timeout(30)
def test_a_yaml_alias_bomb_is_refused_quickly(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = target_in(isolated_home, get_client("goose"))
    target.path.parent.mkdir(parents=True)
    target.path.write_text(_alias_bomb())
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias"):
        api.connect(paths, target, [SERVER.__class__("fetch", SERVER.url)], replace=True)
    assert time.monotonic() - started < 1.0
    assert _backups(paths, "goose") == []


def test_yaml_sizes_counts_expansions_without_walking_them_and_finds_cycles() -> None:
    shared = yaml.compose("x: &x [1, 2]\ny: [*x, *x, *x]\n", Loader=yaml.SafeLoader)
    # 7 nodes written (map, 2 keys, 2 lists, 2 scalars); each of the 3 aliases counts the 3-node list again
    assert documents.yaml_sizes(shared) == (7, 16)
    bomb = yaml.compose(_alias_bomb(levels=20, width=10), Loader=yaml.SafeLoader)
    written, expanded = documents.yaml_sizes(bomb)
    assert written < 500
    assert expanded is not None
    assert expanded > 10**19
    assert documents.yaml_sizes(yaml.compose("a: &a [*a]\n", Loader=yaml.SafeLoader))[1] is None
    assert parse_text(Path("c.yaml"), "base: &b {k: 1}\nz: {<<: *b, j: 2}\n", "yaml")["z"] == {"k": 1, "j": 2}


def test_deep_yaml_is_an_error_naming_the_file_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_text(Path("deep.yaml"), "[" * 20000 + "]" * 20000, "yaml")


# ----- the ledger's typed record, URL keys, what scan asks of the ledger (issue 12) --------------------

def test_every_clients_url_key_is_one_of_url_keys() -> None:
    assert {client.entry_key for client in CLIENTS} <= set(URL_KEYS)
    for client in CLIENTS:
        if client.remote is not None:
            assert client.entry_key in client.remote("x", SERVER.url), client.id


def test_a_ledger_written_before_the_typed_record_keeps_working(isolated_home: Path) -> None:
    """The on-disk format is the one the dict-based ledger wrote: an existing ledger reads unchanged."""
    paths = Paths.from_env()
    target = target_in(isolated_home, get_client("cursor"))
    target.path.parent.mkdir(parents=True)
    entry = api.entry_for(target.client, SERVER)
    target.path.write_text(json.dumps({"mcpServers": {SERVER.name: entry}}, indent=2) + "\n")
    ledger = paths.state_dir / "clients" / "ledger.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(json.dumps([
        {"client": "cursor", "scope": "user", "path": str(target.path), "name": SERVER.name, "entry": entry,
         "edit": {"inserted": "", "replaced_line": None, "created_keys": 2, "in_place": False},
         "original": "missing", "original_text": None, "created_dirs": []},
        {"client": "cursor", "scope": "nowhere", "path": "damaged"},  # a broken record is skipped, not fatal
    ]))
    assert api.status(paths, target)["servers"] == [
        {"name": SERVER.name, "managed": True, "target": SERVER.url}]
    assert api.written_urls(paths) == {SERVER.url}
    assert api.disconnect(paths, target) == [SERVER.name]
    assert not target.path.exists(), "original 'missing' came back as OriginalState.MISSING"


def test_ledger_records_round_trip_through_their_json() -> None:
    record = api.LedgerRecord("zed", "user", "/x/settings.json", "demo", {"url": SERVER.url},
                              Edit(inserted="a", created_keys=1), api.OriginalState.EMPTY, "\n", ("/x",))
    assert api.LedgerRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert api.OriginalState.of(None) is api.OriginalState.MISSING
    assert api.OriginalState.of(" \n") is api.OriginalState.EMPTY
    assert api.OriginalState.of("{}") is api.OriginalState.PRESENT
    broken: list[Any] = [{}, [], {**record.to_json(), "original": "maybe"}, {**record.to_json(), "edit": {"x": 1}}]
    for item in broken:
        assert api.LedgerRecord.from_json(item) is None


def test_written_urls_is_every_url_mcpctl_wrote_and_no_command(isolated_home: Path) -> None:
    paths = Paths.from_env()
    assert api.written_urls(paths) == set()
    other = api.ManagedServer("other", "http://127.0.0.1:41999/mcp")
    api.connect(paths, target_in(isolated_home, get_client("windsurf")), [SERVER])  # serverUrl
    api.connect(paths, target_in(isolated_home, get_client("goose")), [other])  # uri
    api.connect(paths, target_in(isolated_home, get_client("claude-desktop")), [SERVER])  # a command, no URL
    assert api.written_urls(paths) == {SERVER.url, other.url}


def test_restore_brings_back_the_ledger_records_of_the_restored_text(isolated_home: Path) -> None:
    """Issue 13, item 23: after `disconnect` then `restore`, the entry is mcpctl's again, not the user's."""
    paths = Paths.from_env()
    target = _codex_from_fixture(isolated_home)
    original = target.path.read_bytes()
    api.connect(paths, target, [SERVER])
    connected = target.path.read_bytes()
    assert api.disconnect(paths, target) == [SERVER.name]

    api.restore(paths, "codex")  # undoes the disconnect
    assert target.path.read_bytes() == connected
    assert {s["name"]: s["managed"] for s in api.status(paths, target)["servers"]}[SERVER.name] is True
    assert api.disconnect(paths, target) == [SERVER.name], "mcpctl may remove what it wrote, after a restore too"
    assert target.path.read_bytes() == original

    api.restore(paths, "codex")  # undoes that disconnect
    api.restore(paths, "codex")  # undoes the connect: the file, and a ledger with nothing for it
    assert target.path.read_bytes() == original
    assert not any(s["managed"] for s in api.status(paths, target)["servers"])


def test_a_backup_made_before_backups_carried_the_ledger_restores_the_file_alone(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = api.resolve_target("codex", home=isolated_home, os_name="linux")
    api.connect(paths, target, [SERVER])
    backup = _backups(paths, "codex")[-1]
    saved = json.loads(backup.read_text())
    backup.write_text(json.dumps({k: v for k, v in saved.items() if k != "ledger"}))
    api.restore(paths, "codex")
    assert not target.path.exists()
    assert api.written_urls(paths) == set()
