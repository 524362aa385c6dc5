"""Client configs: golden round trips for every catalog client (connect, then disconnect, gives back the
exact bytes), corrupt files left untouched, concurrent writers, a crash before the rename, restore."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from toolhive_py.clients import api
from toolhive_py.clients.catalog import CLIENTS, Client
from toolhive_py.clients.documents import load_text, parse_text, servers_in
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
    return servers_in(parse_text(target.path, load_text(target.path) or "", location.format),
                      location.servers_key, location.servers_kind)


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


@pytest.mark.parametrize(("client_id", "corrupt", "where"), [
    ("codex", b'model = "x"\n[mcp_servers.a\ncommand = "y"\n', ":2:"),
    ("goose", b"extensions:\n  a: [unclosed\n", ":3:"),
])
def test_corrupt_toml_and_yaml_are_refused_with_a_position(client_id: str, corrupt: bytes, where: str,
                                                           isolated_home: Path) -> None:
    target = api.resolve_target(client_id, home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    target.path.write_bytes(corrupt)
    with pytest.raises(ConfigError) as caught:
        api.connect(Paths.from_env(), target, [SERVER])
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


def test_restore_brings_back_the_file_before_the_last_change(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = api.resolve_target("codex", home=isolated_home, os_name="linux")
    target.path.parent.mkdir(parents=True)
    shutil.copy(fixture_for(target.client), target.path)
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
