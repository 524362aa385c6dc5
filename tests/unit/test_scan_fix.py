"""`scan --fix` planning and the parts of `--apply` that need no keyring: vetted servers get their secrets
moved (wherever they sit) and their entry re-pointed in place; unvetted ones are left; a secret changed
since the scan is refused and its entry is not touched."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.vault import FakeVault
from tests.helpers import run_cli
from toolhive_py.clients.api import ManagedServer, Target, entry_for, mcpctl_command, status
from toolhive_py.clients.catalog import get_client
from toolhive_py.config import Paths
from toolhive_py.scan.fix import FixStep, ManagedWorkload, _repoint, apply_plan, build_plan, render_plan
from toolhive_py.scan.model import ScanReport, SecretLocation
from toolhive_py.scan.scanner import ScanOptions, run_scan

URL = "http://127.0.0.1:41234/mcp"
API_KEY = "Xq9!vL2#pR7wZ4tB"
CONFIG = """{
  // my servers
  "mcpServers": {
    "fetch": {
      "command": "uvx",
      "args": ["mcp-server-fetch==2026.10.24", "--user-agent=me"],
      "env": {"FETCH_API_KEY": "API_KEY"},
    },
    "files": {"command": "docker", "args": ["run", "-i", "--rm", "mcp/filesystem:1.0.2"]}, // pinned
    "shady": {"command": "npx", "args": ["-y", "shady-mcp"], "env": {"SHADY_TOKEN": "SHADY_TOKEN"}},
  },
}
""".replace('"API_KEY"', f'"{API_KEY}"').replace('"SHADY_TOKEN"}', '"ghp_' + "Q1" * 18 + '"}')


FETCH = (ManagedWorkload("fetch", URL),)
FILES = (ManagedWorkload("filesystem", URL),)


def _tokens_out(text: str) -> str:
    """A written file with each proxy credential (random, minted per entry) as TOKEN."""
    return re.sub(r"mcpctl_pxy_[A-Za-z0-9_-]{43}", "TOKEN", text)


def _write_repoints(plan: list[FixStep]) -> None:
    """Write each repoint's entry, as --apply does once the workload answers (that check needs a running
    proxy: tests/e2e)."""
    for step in plan:
        if step.action == "repoint":
            _repoint(Paths.from_env(), step)


def _scan(home: Path) -> ScanReport:
    return run_scan(Paths.from_env(), ScanOptions(home=home, processes=False, containers=False,
                                                  managed_root=None))


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text(CONFIG)
    return home


def test_plan_moves_secrets_of_vetted_servers_and_leaves_unvetted_ones(tmp_path: Path) -> None:
    report = _scan(_home(tmp_path))
    assert {f.name: (f.status, f.registry_match) for f in report.findings} == {
        "fetch": ("vetted", "default/fetch"), "files": ("vetted", "default/filesystem"), "shady": ("unvetted", None)}
    plan = build_plan(report, {})
    steps = [(s.server, s.action, s.to_dict()["location"], s.secret_name, s.env_name) for s in plan]
    assert steps == [
        ("fetch", "move-secret", "env:FETCH_API_KEY", "fetch-fetch_api_key", "FETCH_API_KEY"),
        ("fetch", "start-first", None, None, None),
        ("files", "start-first", None, None, None),
        ("shady", "leave", None, None, None),
    ]
    assert "mcpctl run default/fetch --secret fetch-fetch_api_key:FETCH_API_KEY" in plan[1].detail
    assert all(API_KEY not in s.detail for s in plan)
    with_workloads = build_plan(report, {"default/fetch": FETCH, "default/filesystem": FILES})
    assert [(s.server, s.action) for s in with_workloads] == [
        ("fetch", "move-secret"), ("fetch", "repoint"), ("files", "repoint"), ("shady", "leave")]


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_repoint_replaces_the_entry_in_place_and_nothing_else(tmp_path: Path) -> None:
    home = _home(tmp_path)
    config = home / ".cursor" / "mcp.json"
    plan = [s for s in build_plan(_scan(home), {"default/filesystem": FILES}) if s.server == "files"]
    _write_repoints(plan)
    assert _tokens_out(config.read_text()) == CONFIG.replace(
        '{"command": "docker", "args": ["run", "-i", "--rm", "mcp/filesystem:1.0.2"]}',
        f'{{"url": "{URL}", "headers": {{"Authorization": "Bearer TOKEN"}}}}')


def test_a_secret_changed_since_the_scan_is_refused_and_the_entry_kept(tmp_path: Path) -> None:
    home = _home(tmp_path)
    config = home / ".cursor" / "mcp.json"
    plan = [s for s in build_plan(_scan(home), {"default/fetch": FETCH}) if s.server == "fetch"]
    changed = CONFIG.replace(API_KEY, "Zr8@kM3$qT6yW1uC")
    config.write_text(changed)
    apply_plan(Paths.from_env(), plan)
    assert [(s.action, s.status) for s in plan] == [("move-secret", "failed"), ("repoint", "planned")]
    assert "changed since the scan" in plan[0].detail
    assert config.read_text() == changed


def test_secrets_are_read_live_from_every_location(tmp_path: Path) -> None:
    """What --apply stores is the value in the file now, found the same way the scan found it."""
    from toolhive_py.scan.fix import _secret_value

    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    header, arg, side = "ghp_" + "H1" * 18, "ghp_" + "A2" * 18, "ghp_" + "F3" * 18
    (home / ".cursor" / "fetch.env").write_text(f"FETCH_TOKEN={side}\n")
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "fetch": {"command": "uvx", "args": ["mcp-server-fetch==2026.10.24", "--token", arg],
                  "envFile": "fetch.env", "headers": {"Authorization": f"Bearer {header}"}},
    }}))
    plan = [s for s in build_plan(_scan(home), {}) if s.action == "move-secret"]
    values = {str(s.location): _secret_value(s) for s in plan}
    side_file = home / ".cursor" / "fetch.env"
    assert values == {"arg:2": arg, "header:Authorization": header, f"file:{side_file}:FETCH_TOKEN": side}
    side_step = next(s for s in plan if s.location is not None and s.location.kind == "file")
    assert (side_step.env_name, side_step.secret_name) == ("FETCH_TOKEN", "fetch-fetch_token")
    assert f"delete it from {side_file} by hand" in side_step.detail


CODEX_CONFIG = """# my Codex
model = "gpt-5-codex"

[mcp_servers.files]   # pinned
command = "docker"
args = ["run", "-i", "--rm", "mcp/filesystem:1.0.2"]

[mcp_servers.files.env]
LOG_LEVEL = "debug"

[mcp_servers.shady]
command = "npx"
args = ["-y", "shady-mcp"]
"""
GOOSE_CONFIG = """# Goose
extensions:
  files:
    cmd: docker
    args: [run, -i, --rm, mcp/filesystem:1.0.2]  # pinned
    enabled: true
    name: files
    type: stdio
  # not vetted
  shady: {cmd: npx, args: [-y, shady-mcp], enabled: true, name: shady, type: stdio}
GOOSE_MODE: smart_approve
"""


@pytest.mark.parametrize(("client_id", "relative", "original", "first", "after"), [
    ("codex", ".codex/config.toml", CODEX_CONFIG, 'command = "docker"', "\n[mcp_servers.shady]"),
    ("goose", ".config/goose/config.yaml", GOOSE_CONFIG, "cmd: docker", "\n  # not vetted"),
])
@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_repoint_replaces_a_toml_or_yaml_entry_in_place_and_nothing_else(
        client_id: str, relative: str, original: str, first: str, after: str, tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    config = home / relative
    config.parent.mkdir(parents=True)
    config.write_text(original)
    plan = build_plan(_scan(home), {"default/filesystem": FILES})
    assert [(s.server, s.action) for s in plan] == [("files", "repoint"), ("shady", "leave")]
    _write_repoints(plan)
    entry = entry_for(get_client(client_id), ManagedServer("files", URL, token="TOKEN"))
    middle = (f'url = "{URL}"\nhttp_headers = {{Authorization = "Bearer TOKEN"}}\n' if client_id == "codex"
              else yaml.safe_dump(entry, sort_keys=False).rstrip("\n").replace("\n", "\n    "))
    assert _tokens_out(config.read_text()) == original[:original.index(first)] + middle + \
        original[original.index(after):]
    assert {f.name: f.status for f in _scan(home).findings}["files"] == "managed"


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_repoint_edits_the_continue_folder_file_and_the_opencode_2_map_the_entry_came_from(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    copied = home / ".continue" / "mcpServers" / "from-claude.json"
    copied.parent.mkdir(parents=True)
    files = '{"command": "docker", "args": ["run", "-i", "--rm", "mcp/filesystem:1.0.2"]}'
    copied.write_text('{"mcpServers": {"files": ' + files + '}}\n')
    native = home / ".config" / "opencode" / "opencode.json"
    native.parent.mkdir(parents=True)
    local = '{"type": "local", "command": ["docker", "run", "-i", "--rm", "mcp/filesystem:1.0.2"]}'
    native.write_text('{"mcp": {"servers": {"files": ' + local + '}}}\n')

    plan = build_plan(_scan(home), {"default/filesystem": FILES})
    assert sorted((s.client, s.action) for s in plan) == [("continue", "repoint"), ("opencode", "repoint")]
    _write_repoints(plan)
    command, prefix = mcpctl_command()
    # Continue's credential goes through the stdio bridge, in the shape of the file it came from (Claude Desktop's).
    assert json.loads(copied.read_text()) == {"mcpServers": {"files": {
        "command": command, "args": [*prefix, "connect", "filesystem", "--client", "continue"]}}}
    assert _tokens_out(native.read_text()) == ('{"mcp": {"servers": {"files": {"type": "remote", "url": "' + URL
                                               + '", "headers": {"Authorization": "Bearer TOKEN"}}}}}\n')


def _two_clients(tmp_path: Path, cursor_key: str, windsurf_key: str) -> Path:
    home = tmp_path / "two-clients"
    for config, key in ((home / ".cursor" / "mcp.json", cursor_key),
                        (home / ".codeium" / "windsurf" / "mcp_config.json", windsurf_key)):
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"mcpServers": {"fetch": {
            "command": "uvx", "args": ["mcp-server-fetch==2026.10.24"], "env": {"FETCH_API_KEY": key}}}}))
    return home


def test_one_token_in_two_clients_becomes_one_secret_two_tokens_become_two(tmp_path: Path) -> None:
    same = {s.client: s.secret_name for s in build_plan(_scan(_two_clients(tmp_path / "a", API_KEY, API_KEY)), {})
            if s.action == "move-secret"}
    assert same == {"cursor": "fetch-fetch_api_key", "windsurf": "fetch-fetch_api_key"}
    other = "Zr8@kM3$qT6yW1uC"
    different = build_plan(_scan(_two_clients(tmp_path / "b", API_KEY, other)), {})
    names = {s.client: s.secret_name for s in different if s.action == "move-secret"}
    assert names == {"cursor": "fetch-fetch_api_key-cursor-user", "windsurf": "fetch-fetch_api_key-windsurf-user"}
    start = next(s for s in different if s.action == "start-first" and s.client == "windsurf")
    assert "--secret fetch-fetch_api_key-windsurf-user:FETCH_API_KEY" in start.detail


def test_apply_never_overwrites_a_different_value_already_in_the_backend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeVault() as vault:
        monkeypatch.setenv("VAULT_TOKEN", vault.root_token)
        assert run_cli("config", "set", "vault.address", vault.url).exit_code == 0
        assert run_cli("secret", "backend", "vault").exit_code == 0
        assert run_cli("secret", "set", "fetch-fetch_api_key", input="kept-value\n").exit_code == 0
        home = _home(tmp_path)
        plan = [s for s in build_plan(_scan(home), {}) if s.server == "fetch" and s.action == "move-secret"]
        apply_plan(Paths.from_env(), plan)
        assert plan[0].status == "failed"
        assert "already holds a different value named 'fetch-fetch_api_key'" in plan[0].detail
        assert run_cli("secret", "get", "fetch-fetch_api_key", "--reveal").stdout.strip() == "kept-value"
        assert run_cli("secret", "set", "fetch-fetch_api_key", input=f"{API_KEY}\n").exit_code == 0
        again = [s for s in build_plan(_scan(home), {}) if s.server == "fetch" and s.action == "move-secret"]
        apply_plan(Paths.from_env(), again)
        assert again[0].status == "copied", "the same value already there is fine (and the entry is not re-pointed)"


def test_a_connection_string_password_is_moved_alone_and_never_offered_as_the_whole_variable(tmp_path: Path) -> None:
    from toolhive_py.scan.fix import _secret_value

    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {"fetch": {
        "command": "uvx", "args": ["mcp-server-fetch==2026.10.24"],
        "env": {"DATABASE_URL": "postgres://app:Pg1pass@db/app"}}}}))
    plan = build_plan(_scan(home), {})
    assert [(s.action, s.to_dict()["location"], s.env_name) for s in plan] == [
        ("move-secret", "env:DATABASE_URL", None), ("start-first", None, None)]
    assert _secret_value(plan[0]) == "Pg1pass", "the secret is the password"
    assert "password of the connection string" in plan[0].detail
    assert "give the managed server its connection string yourself" in plan[0].detail
    assert ":DATABASE_URL" not in plan[1].detail, "a password alone must not become the whole variable"
    assert all("Pg1pass" not in s.detail for s in plan)


@pytest.mark.parametrize(("text", "location"), [
    ("env:GITHUB_TOKEN", SecretLocation("env", name="GITHUB_TOKEN")),
    ("arg:3", SecretLocation("arg", index=3)),
    ("header:Authorization", SecretLocation("header", name="Authorization")),
    ("field:apiKey", SecretLocation("field", name="apiKey")),
    ("url-query:api_key", SecretLocation("url-query", name="api_key")),
    ("url-query:a:b", SecretLocation("url-query", name="a:b")),
    ("url-userinfo", SecretLocation("url-userinfo")),
    ("file:/home/ana/.env:API_KEY", SecretLocation("file", name="API_KEY", path="/home/ana/.env")),
    ("file:C:/Users/ana/.env:API_KEY", SecretLocation("file", name="API_KEY", path="C:/Users/ana/.env")),
])
def test_a_secret_location_parses_from_and_prints_as_the_reports_string(text: str, location: SecretLocation) -> None:
    assert SecretLocation.parse(text) == location
    assert str(location) == text


@pytest.mark.parametrize("text", ["", "env", "env:", "arg:x", "arg:", "file:API_KEY", "file::KEY", "file:/p:",
                                  "url-userinfo:x", "cookie:x", "ENV:X"])
def test_a_string_no_scan_writes_is_no_secret_location(text: str) -> None:
    with pytest.raises(ValueError, match="not a secret location"):
        SecretLocation.parse(text)


def test_every_location_a_scan_reports_parses_back_to_the_same_string(tmp_path: Path) -> None:
    """The report's strings and the type agree for every place analyze finds a secret."""
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    token = "ghp_" + "L4" * 18
    (home / ".cursor" / "side.env").write_text(f"SIDE_TOKEN={token}\n")
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "cmd": {"command": "uvx", "args": ["mcp-server-fetch==2026.10.24", "--token", token], "envFile": "side.env",
                "env": {"E_TOKEN": token}, "headers": {"X-Key": token}, "apiKey": token},
        "remote": {"url": f"https://u:{token}@example.com/mcp?key={token}"}}}))
    found = [s.location for f in _scan(home).findings for s in f.secrets]
    assert {SecretLocation.parse(text).kind for text in found} == {
        "arg", "file", "env", "header", "field", "url-query", "url-userinfo"}
    assert [str(SecretLocation.parse(text)) for text in found] == found


TIME_ENTRY = {"command": "uvx", "args": ["mcp-server-time==2026.1.26"]}


def _claude_desktop(tmp_path: Path, servers: dict[str, object]) -> Path:
    home = tmp_path / "scanned"
    config = home / ".config" / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"mcpServers": servers}, indent=2) + "\n")
    return config


@pytest.mark.parametrize("order", [1, -1])
def test_choose_workload_prefers_one_without_a_tool_policy_then_the_entrys_name(order: int) -> None:
    from toolhive_py.scan.fix import choose_workload

    restricted = ManagedWorkload("time", URL, restricted=True)
    other, named = ManagedWorkload("a-time", URL), ManagedWorkload("clock", URL)
    assert choose_workload([restricted, other][::order], "time") == other
    assert choose_workload([other, named][::order], "clock") == named, "the entry's own name among open ones"
    assert choose_workload([ManagedWorkload("b", URL), other][::order], "time") == other, "else by name"
    assert choose_workload([restricted], "time") is None, "re-pointing would take tools away"
    assert choose_workload([], "time") is None


def test_the_plan_repoints_at_the_unrestricted_workload_and_names_it(tmp_path: Path) -> None:
    """Two workloads of one server, the one named like the entry restricted: the open one is chosen, and a
    stdio-only client's entry will run `mcpctl connect` with *its* name."""
    home = _claude_desktop(tmp_path, {"time": TIME_ENTRY}).parents[2]
    report = _scan(home)
    assert [(f.client, f.status, f.registry_match) for f in report.findings] == [
        ("claude-desktop", "vetted", "default/time")]
    served = {"default/time": (ManagedWorkload("time", URL, restricted=True),
                               ManagedWorkload("time-open", "http://127.0.0.1:41235/mcp"))}
    [step] = build_plan(report, served)
    assert (step.action, step.server, step.workload, step.url) == (
        "repoint", "time", "time-open", "http://127.0.0.1:41235/mcp")
    assert step.detail == "entry → `mcpctl connect time-open` (workload time-open)"
    assert step.to_dict()["workload"] == "time-open"


def test_only_restricted_workloads_are_not_chosen_and_the_plan_says_why(tmp_path: Path) -> None:
    home = _claude_desktop(tmp_path, {"time": TIME_ENTRY}).parents[2]
    [step] = build_plan(_scan(home), {"default/time": (ManagedWorkload("time", URL, restricted=True),)})
    assert (step.action, step.workload) == ("start-first", None)
    assert "(time) hide tools with a tool policy" in step.detail
    assert "mcpctl run default/time --name NAME" in step.detail


def test_a_workload_of_another_registry_with_the_same_server_name_is_not_used(tmp_path: Path) -> None:
    home = _claude_desktop(tmp_path, {"time": TIME_ENTRY}).parents[2]
    [step] = build_plan(_scan(home), {"private/time": (ManagedWorkload("time", URL),)})
    assert step.action == "start-first"
    [step] = build_plan(_scan(home), {"time": (ManagedWorkload("time", URL),)})
    assert step.action == "repoint", "a workload without a registry label is matched by server name"


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_a_stdio_only_clients_entry_keeps_its_key_and_connects_to_the_chosen_workload(tmp_path: Path) -> None:
    """Regression: Claude Desktop's `time` entry became `mcpctl connect time` (the entry's name)."""
    from toolhive_py.clients.api import mcpctl_command
    from toolhive_py.scan.fix import entry_target

    config = _claude_desktop(tmp_path, {"time": TIME_ENTRY, "other": {"command": "true"}})
    plan = build_plan(_scan(config.parents[2]), {"default/time": (ManagedWorkload("time-open", URL),)})
    assert sorted((s.server, s.action) for s in plan) == [("other", "leave"), ("time", "repoint")]
    _write_repoints(plan)
    written = json.loads(config.read_text())["mcpServers"]
    command, prefix = mcpctl_command()
    assert written == {"time": {"command": command, "args": [*prefix, "connect", "time-open", "--client",
                                                         "claude-desktop"]},
                       "other": {"command": "true"}}
    assert entry_target(written["time"]) == ("connect", "time-open")


@pytest.mark.parametrize(("entry", "target"), [
    ({"url": URL}, ("url", URL)),
    ({"type": "http", "serverUrl": URL}, ("url", URL)),
    ({"command": "/opt/bin/mcpctl", "args": ["connect", "time-2"]}, ("connect", "time-2")),
    ({"command": "/usr/bin/python3", "args": ["-m", "toolhive_py", "connect", "time-2"]}, ("connect", "time-2")),
    ({"type": "local", "command": ["/opt/bin/mcpctl", "connect", "time-2"]}, ("connect", "time-2")),
    ({"command": "/opt/bin/mcpctl", "args": ["connect"]}, None),
    ({"command": "uvx", "args": ["connect", "time"]}, None),
    ({"command": "uvx", "args": ["mcp-server-time"]}, None),
    ({}, None),
])
def test_entry_target_reads_where_a_written_entry_sends_the_client(
        entry: dict[str, object], target: tuple[str, str] | None) -> None:
    from toolhive_py.scan.fix import entry_target

    assert entry_target(entry) == target


def test_a_workload_whose_proxy_does_not_answer_is_not_pointed_at(tmp_path: Path) -> None:
    """A repoint is done only once the workload answers: nothing listening means a failed step, the entry
    and the file untouched, and no backup."""
    from toolhive_py.proxy.supervisor import free_port

    config = _claude_desktop(tmp_path, {"time": TIME_ENTRY})
    original = config.read_text()
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    plan = build_plan(_scan(config.parents[2]), {"default/time": (ManagedWorkload("time-open", dead),)})
    apply_plan(Paths.from_env(), plan)
    assert [(s.action, s.status) for s in plan] == [("repoint", "failed")]
    assert "the workload time-open does not answer" in plan[0].detail
    assert f"its proxy {dead} does not answer" in plan[0].detail
    assert config.read_text() == original
    assert not (Paths.from_env().state_dir / "clients" / "backups").exists()


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_a_written_entry_that_does_not_work_is_put_back(tmp_path: Path) -> None:
    from toolhive_py.scan.fix import _check_target, _live_entry, _restore, entry_target

    config = _claude_desktop(tmp_path, {"time": TIME_ENTRY})
    original = config.read_text()
    [step] = build_plan(_scan(config.parents[2]), {"default/time": (ManagedWorkload("time-open", URL),)})
    backup = _repoint(Paths.from_env(), step)
    why = _check_target(Paths.from_env(), step, entry_target(_live_entry(step)))
    assert why == "the workload time-open has no running proxy (`mcpctl start time-open`)"
    assert _restore(Paths.from_env(), step, backup) == "; the entry was put back as it was"
    assert config.read_text() == original
    target = Target(get_client("claude-desktop"), get_client("claude-desktop").locations[0], config)
    assert status(Paths.from_env(), target)["servers"] == [{"name": "time", "managed": False, "target": "uvx …"}]


@pytest.mark.parametrize(("policy", "restricted"), [
    ("", False),
    ('{"allow": [], "deny": [], "rate_limit": null}', False),
    ('{"allow": [], "deny": [], "rate_limit": "5/m"}', False),
    ('{"allow": ["get_time"], "deny": [], "rate_limit": null}', True),
    ('{"allow": [], "deny": ["convert_time"], "rate_limit": null}', True),
    ("{not json", True),
    ('["a list"]', True),
])
def test_a_tool_policy_that_hides_tools_makes_a_workload_restricted(policy: str, restricted: bool) -> None:
    from toolhive_py.scan.fix import _restricts_tools

    assert _restricts_tools(policy) is restricted


@pytest.fixture
def vault_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVault]:
    """The secret backend for --apply without a keyring: Vault's API, served in-process."""
    with FakeVault() as vault:
        monkeypatch.setenv("VAULT_TOKEN", vault.root_token)
        assert run_cli("config", "set", "vault.address", vault.url).exit_code == 0
        assert run_cli("secret", "backend", "vault").exit_code == 0
        yield vault


@pytest.mark.usefixtures("vault_backend")
def test_a_secret_whose_entry_cannot_be_repointed_is_copied_not_moved(tmp_path: Path) -> None:
    """Regression: `move-secret ✓` while the token stayed in the file (no managed server to re-point at)."""
    home = _home(tmp_path)
    config = home / ".cursor" / "mcp.json"
    plan = [s for s in build_plan(_scan(home), {}) if s.server == "fetch"]
    assert [s.action for s in plan] == ["move-secret", "start-first"]
    assert "copied only: the plaintext stays in the file until the entry is re-pointed" in plan[0].detail
    apply_plan(Paths.from_env(), plan)
    assert (plan[0].status, plan[0].plaintext_left, plan[0].backups) == ("copied", [str(config)], [])
    assert f"copied, not moved: the plaintext is still in {config}" in plan[0].detail
    assert run_cli("secret", "get", "fetch-fetch_api_key", "--reveal").stdout.strip() == API_KEY
    assert config.read_text() == CONFIG
    text = render_plan(plan, applied=True)
    assert "~ cursor fetch: move-secret (copied) — " in text
    assert "✓" not in text
    assert API_KEY not in text
    data = plan[0].to_dict()
    assert (data["status"], data["plaintext_left"], data["backups"]) == ("copied", [str(config)], [])


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_a_repointed_entry_moves_its_secrets_and_names_the_backups_that_still_hold_them(tmp_path: Path) -> None:
    from toolhive_py.scan.fix import _account_for

    home = _home(tmp_path)
    config = home / ".cursor" / "mcp.json"
    plan = [s for s in build_plan(_scan(home), {"default/fetch": FETCH}) if s.server == "fetch"]
    assert [s.action for s in plan] == ["move-secret", "repoint"]
    assert "copied only" not in plan[0].detail
    _write_repoints(plan)
    _account_for(Paths.from_env(), plan[0], API_KEY)
    [backup] = (Paths.from_env().state_dir / "clients" / "backups" / "cursor").glob("*.json")
    assert (plan[0].status, plan[0].plaintext_left, plan[0].backups) == ("done", [], [str(backup)])
    assert f"moved: no plaintext copy is left in {config}" in plan[0].detail
    assert "`mcpctl client restore cursor` puts the newest backup back" in plan[0].detail
    assert f"rm {backup} (`mcpctl client restore` can then no longer undo" in render_plan(plan, applied=True)
    assert API_KEY not in render_plan(plan, applied=True)


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_a_secret_also_pasted_into_another_entry_of_the_file_is_only_copied(tmp_path: Path) -> None:
    from toolhive_py.scan.fix import _account_for

    home = tmp_path / "scanned"
    config = home / ".cursor" / "mcp.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"mcpServers": {
        "fetch": {"command": "uvx", "args": ["mcp-server-fetch==2026.10.24"], "env": {"FETCH_API_KEY": API_KEY}},
        "mine": {"command": "my-fetch", "env": {"FETCH_API_KEY": API_KEY}}}}))
    plan = [s for s in build_plan(_scan(home), {"default/fetch": FETCH}) if s.server == "fetch"]
    _write_repoints(plan)
    _account_for(Paths.from_env(), plan[0], API_KEY)
    assert (plan[0].status, plan[0].plaintext_left) == ("copied", [str(config)])


@pytest.mark.usefixtures("vault_backend")  # the entry gets a proxy credential, stored there
def test_a_secret_from_a_side_file_is_copied_until_the_file_is_cleaned(tmp_path: Path) -> None:
    from toolhive_py.scan.fix import _account_for

    home = tmp_path / "scanned"
    side = home / ".cursor" / "fetch.env"
    side.parent.mkdir(parents=True)
    token = "ghp_" + "S5" * 18
    side.write_text(f"FETCH_TOKEN={token}\n")
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {"fetch": {
        "command": "uvx", "args": ["mcp-server-fetch==2026.10.24"], "envFile": "fetch.env"}}}))
    plan = build_plan(_scan(home), {"default/fetch": FETCH})
    _write_repoints(plan)
    _account_for(Paths.from_env(), plan[0], token)
    assert (plan[0].status, plan[0].plaintext_left) == ("copied", [str(side)])
    side.write_text("")
    again = build_plan(_scan(home), {"default/fetch": FETCH})
    assert again == [], "the entry is mcpctl's now and the side file is clean"


def test_the_json_step_keys_only_grow() -> None:
    """Fleet tooling reads these keys: new ones are added, none renamed or dropped."""
    assert set(FixStep("move-secret", "f", "c", "user", "/p", "s", "d").to_dict()) == {
        "action", "finding", "client", "scope", "config_path", "server", "detail", "secret_name", "env_name",
        "location", "fingerprint", "url", "status", "workload", "plaintext_left", "backups"}


@pytest.mark.parametrize(("statuses", "expected"), [
    (["planned", "planned"], ("ok", 0)),
    (["done", "done", "planned"], ("ok", 0)),
    (["done", "failed"], ("partial", 8)),
    (["copied", "planned"], ("partial", 8)),
    (["failed", "failed", "planned"], ("error", 1)),
])
def test_an_applied_plan_that_did_not_do_everything_is_not_ok(statuses: list[str], expected: tuple[str, int]) -> None:
    from toolhive_py.scan.fix import plan_outcome

    plan = [FixStep("move-secret", "f", "c", "user", "/p", "s", "d", status=s) for s in statuses]  # type: ignore[arg-type]
    status, code = plan_outcome(plan)
    assert (str(status), int(code)) == expected
