"""Client entries with a proxy credential: each client gets it the way the catalog says (golden files per
client under tests/fixtures/clients/credentials), connect then disconnect still gives back the exact bytes,
VS Code's input is added and taken away with its entry, and a refused connect rotates no credential.

Regenerate the golden files with ``UPDATE_GOLDEN=1`` and read the diff before committing it.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest

from toolhive_py.clients import api
from toolhive_py.clients.catalog import CLIENTS, Client, get_client
from toolhive_py.clients.documents import load_text, parse_text, servers_in
from toolhive_py.config import Paths
from toolhive_py.credentials import TOKEN_PREFIX
from toolhive_py.errors import ConfigError, ConflictError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "clients"
GOLDEN = FIXTURES / "credentials"
TOKEN = TOKEN_PREFIX + "T" * 43
SERVER = api.ManagedServer("mcpctl-demo", "http://127.0.0.1:41873/mcp", token=TOKEN)
# The golden files name mcpctl by this path; the absolute command of this checkout is replaced by it.
MCPCTL = "/usr/local/bin/mcpctl"


def _fixture(client: Client) -> Path:
    return next(FIXTURES.glob(client.id + ".*"))


def _target(home: Path, client: Client) -> api.Target:
    return api.resolve_target(client.id, home=home, os_name="linux")


def _servers(target: api.Target) -> dict[str, object]:
    data = parse_text(target.path, load_text(target.path) or "", target.location.format)
    return servers_in(data, target.location.servers_path(data), target.location.servers_kind)


def _normalised(text: str) -> str:
    command, prefix = api.mcpctl_command()
    for spelling in (shlex.join([command, *prefix]), " ".join([command, *prefix])):
        text = text.replace(spelling, MCPCTL)
    # JSON arrays and TOML/YAML lists carry the command and its prefix as separate items.
    text = text.replace(f'"{command}"', f'"{MCPCTL}"').replace(f"'{command}'", f"'{MCPCTL}'")
    text = text.replace(command, MCPCTL)
    for part in prefix:
        text = text.replace(f'"{part}", ', "").replace(f"'{part}', ", "").replace(f"- {part}\n", "")
    return text


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.id)
def test_each_client_gets_its_credential_the_catalog_way_and_its_bytes_back(client: Client,
                                                                            isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = _target(isolated_home, client)
    target.path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_fixture(client), target.path)
    original = target.path.read_bytes()

    api.connect(paths, target, [api.ManagedServer(SERVER.name, SERVER.url)], mint=lambda _: TOKEN)
    written = target.path.read_text()
    golden = GOLDEN / _fixture(client).name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(_normalised(written))
    assert _normalised(written) == golden.read_text()
    entry = _servers(target)[SERVER.name]
    assert api.has_credential(client, entry)
    # Only a client with nothing but headers holds the token itself; every other mode keeps it out of the file.
    assert (TOKEN in written) == (client.credential == "headers" and client.supports_remote)

    assert api.disconnect(paths, target) == [SERVER.name]
    assert target.path.read_bytes() == original


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.id)
def test_an_entry_without_a_credential_is_one_doctor_names(client: Client) -> None:
    legacy = api.entry_for(client, api.ManagedServer(SERVER.name, SERVER.url))
    assert not api.has_credential(client, legacy)
    assert api.has_credential(client, api.entry_for(client, SERVER))


def test_claude_code_runs_mcpctl_client_token_as_its_headers_helper() -> None:
    entry = api.entry_for(get_client("claude-code"), SERVER)
    assert entry["url"] == SERVER.url
    assert "headers" not in entry
    command, prefix = api.mcpctl_command()
    assert shlex.split(entry["headersHelper"]) == [command, *prefix, "client", "token", "claude-code", SERVER.name,
                                                   "--header-json"]


def test_stdio_bridge_clients_name_the_client_so_the_bridge_finds_its_token() -> None:
    for client_id in ("claude-desktop", "continue"):
        entry = api.entry_for(get_client(client_id), SERVER)
        assert entry["args"][-4:] == ["connect", SERVER.name, "--client", client_id]
        assert TOKEN not in str(entry)


def test_codex_keeps_the_header_where_it_reads_headers() -> None:
    assert api.entry_for(get_client("codex"), SERVER)["http_headers"] == {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("start", ["", '{"servers": {}}\n', '{\n  "inputs": [],\n  "servers": {}\n}\n'])
def test_vscode_input_comes_and_goes_with_its_entry(start: str, isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = _target(isolated_home, get_client("vscode"))
    target.path.parent.mkdir(parents=True)
    target.path.write_text(start)

    api.connect(paths, target, [SERVER])
    data = parse_text(target.path, target.path.read_text(), "jsonc")
    assert data["inputs"] == [api.credential_input(get_client("vscode"), SERVER)]
    assert data["inputs"][0]["password"] is True
    assert data["servers"][SERVER.name]["headers"] == {"Authorization": "Bearer ${input:mcpctl-mcpctl-demo}"}
    api.connect(paths, target, [SERVER])  # again (a rotation): still one input
    assert len(parse_text(target.path, target.path.read_text(), "jsonc")["inputs"]) == 1

    api.disconnect(paths, target)
    assert target.path.read_text() == start


def test_a_vscode_input_of_that_id_already_there_is_the_users_and_stays(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = _target(isolated_home, get_client("vscode"))
    target.path.parent.mkdir(parents=True)
    theirs = '{"inputs": [{"type": "promptString", "id": "mcpctl-mcpctl-demo", "password": true}], "servers": {}}\n'
    target.path.write_text(theirs)
    api.connect(paths, target, [SERVER])
    assert len(parse_text(target.path, target.path.read_text(), "jsonc")["inputs"]) == 1
    api.disconnect(paths, target)
    assert target.path.read_text() == theirs


def test_vscode_inputs_that_are_not_a_list_are_refused_and_the_file_left(isolated_home: Path) -> None:
    target = _target(isolated_home, get_client("vscode"))
    target.path.parent.mkdir(parents=True)
    target.path.write_text('{"inputs": {}, "servers": {}}\n')
    with pytest.raises(ConfigError, match="inputs is not a list"):
        api.connect(Paths.from_env(), target, [SERVER])
    assert target.path.read_text() == '{"inputs": {}, "servers": {}}\n'


def test_a_refused_connect_mints_nothing(isolated_home: Path) -> None:
    paths = Paths.from_env()
    minted: list[str] = []
    target = _target(isolated_home, get_client("cursor"))
    target.path.parent.mkdir(parents=True)
    target.path.write_text('{"mcpServers": {"mcpctl-demo": {"url": "https://example.com/mcp"}}}\n')
    with pytest.raises(ConflictError):
        api.connect(paths, target, [SERVER], mint=lambda s: minted.append(s.name) or TOKEN)  # type: ignore[func-returns-value]
    target.path.chmod(0o444)
    with pytest.raises(ConfigError, match="read-only"):
        api.connect(paths, target, [api.ManagedServer("other", SERVER.url)],
                    mint=lambda s: minted.append(s.name) or TOKEN)  # type: ignore[func-returns-value]
    assert minted == []
