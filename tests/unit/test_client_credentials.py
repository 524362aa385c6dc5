"""Client entries with a proxy credential: each client gets it the way the catalog says (golden files per
client under tests/fixtures/clients/credentials), connect then disconnect still gives back the exact bytes,
VS Code's input is added and taken away with its entry, and a refused connect rotates no credential. Then
`client token` and `client revoke`, mcpctl's own credential, scan and doctor.

Regenerate the golden files with ``UPDATE_GOLDEN=1`` and read the diff before committing it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import run_cli
from toolhive_py import credentials, workloads
from toolhive_py.clients import api
from toolhive_py.clients.catalog import CLIENTS, Client, get_client
from toolhive_py.clients.documents import load_text, parse_text, servers_in
from toolhive_py.config import Paths
from toolhive_py.credentials import TOKEN_PREFIX
from toolhive_py.errors import ConfigError, ConflictError, MCPCTLError

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
    first_id = data["inputs"][0]["id"]
    assert first_id.startswith("mcpctl-mcpctl-demo-")
    assert data["servers"][SERVER.name]["headers"] == {"Authorization": "Bearer ${input:" + first_id + "}"}
    rotated = api.ManagedServer(SERVER.name, SERVER.url, token=TOKEN_PREFIX + "R" * 43)
    api.connect(paths, target, [rotated])  # again (a rotation): one input, a new id, so VS Code asks again
    inputs = parse_text(target.path, target.path.read_text(), "jsonc")["inputs"]
    assert [i["id"] for i in inputs] == [api.input_id(SERVER.name, rotated.token or "")]
    assert inputs[0]["id"] != first_id

    api.disconnect(paths, target)
    assert target.path.read_text() == start


def test_a_vscode_input_of_that_id_already_there_is_the_users_and_stays(isolated_home: Path) -> None:
    paths = Paths.from_env()
    target = _target(isolated_home, get_client("vscode"))
    target.path.parent.mkdir(parents=True)
    theirs = ('{"inputs": [{"type": "promptString", "id": "' + api.input_id(SERVER.name, TOKEN) + '", '
              '"password": true}], "servers": {}}\n')
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


# ----- the credential's life cycle through the CLI (a real secret backend: hvac against the in-process Vault) ---

def test_client_token_prints_the_token_or_the_headers_claude_code_asks_for(vault_paths: Paths) -> None:
    minted = credentials.mint(vault_paths, "web", "claude-code")
    assert run_cli("client", "token", "claude-code", "web").stdout == minted + "\n"
    helper = run_cli("client", "token", "claude-code", "web", "--header-json")
    assert json.loads(helper.stdout) == {"Authorization": f"Bearer {minted}"}
    missing = run_cli("client", "token", "cursor", "web")
    assert missing.exit_code == 4
    assert "mcpctl client connect cursor web" in missing.stderr


def test_client_token_refuses_to_show_the_token_on_a_terminal_without_show(isolated_home: Path) -> None:
    """Run as a user would, on a real pseudo-terminal: refused before any secret is read."""
    import pty

    env = {**os.environ, "HOME": str(isolated_home)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: mcpctl with the terminal as its stdout
        os.execve(sys.executable, [sys.executable, "-m", "toolhive_py", "client", "token", "cursor", "web"],  # noqa: S606 - argv, no shell
                  env)
    output = b""
    with contextlib.suppress(OSError):  # EIO once the child has exited and the terminal closed
        while chunk := os.read(fd, 4096):
            output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2
    assert b"would be shown on the screen" in output
    assert b"--show" in output


def test_revoke_invalidates_a_clients_credentials_everywhere_or_for_one_server(vault_paths: Paths) -> None:
    for workload in ("web", "db"):
        credentials.mint(vault_paths, workload, "cursor")
    credentials.mint(vault_paths, "web", "vscode")
    one = run_cli("client", "revoke", "cursor", "db", "--json")
    assert one.json()["data"] == {"client": "cursor", "workloads": ["db"]}
    assert credentials.token(vault_paths, "db", "cursor") is None
    assert credentials.token(vault_paths, "web", "cursor") is not None
    assert run_cli("client", "revoke", "cursor", "db").exit_code == 4, "nothing left to revoke is said so"
    assert run_cli("client", "revoke", "cursor").json is not None
    assert credentials.clients_of(vault_paths, "web") == ["vscode"], "other clients keep theirs"


def test_mcpctls_own_credential_is_minted_once_and_never_ends_migration_mode(vault_paths: Paths) -> None:
    assert workloads.mcpctl_token(vault_paths, "old") is None
    assert credentials.load(credentials.credentials_file(vault_paths, "old")) is None, "still in migration mode"
    credentials.ensure_file(vault_paths, "new")
    first = workloads.mcpctl_token(vault_paths, "new")
    assert first is not None
    assert workloads.mcpctl_token(vault_paths, "new") == first
    assert credentials.clients_of(vault_paths, "new") == [credentials.MCPCTL_CLIENT]


# ----- scan, doctor, mcpctl's own client ------------------------------------------------------------------------

def test_scan_reports_a_proxy_credential_as_mcpctls_own_not_as_a_leaked_secret(isolated_home: Path) -> None:
    from toolhive_py.scan.scanner import ScanOptions, run_scan

    # Its random part holds what looks like an OpenAI key: the proxy credential is recognised first.
    tricky = TOKEN_PREFIX + "a-sk-" + "b" * 38
    leaked = "ghp_" + "Q1" * 18
    cursor = isolated_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir()
    cursor.write_text(json.dumps({"mcpServers": {
        "mine": {"url": SERVER.url, "headers": {"Authorization": f"Bearer {tricky}"}},
        "theirs": {"url": "https://example.com/mcp", "headers": {"Authorization": f"Bearer {leaked}"}}}}))
    report = run_scan(Paths.from_env(), ScanOptions(home=isolated_home, processes=False, containers=False,
                                                    managed_root=None))
    found = {f.name: f for f in report.findings}
    assert found["mine"].secrets == []
    assert [(r.code, r.level) for r in found["mine"].reasons if r.code == "proxy-credential"] == [
        ("proxy-credential", "info")]
    assert tricky not in str(report.to_dict())
    assert [s.provider for s in found["theirs"].secrets] == ["github-token"]
    assert report.summary()["secrets"] == 1


def test_doctor_lists_managed_entries_without_a_credential(isolated_home: Path) -> None:
    from toolhive_py.doctor import check_client_credentials

    paths = Paths.from_env()
    cursor = _target(isolated_home, get_client("cursor"))
    desktop = _target(isolated_home, get_client("claude-desktop"))
    api.connect(paths, cursor, [api.ManagedServer("old", SERVER.url)])
    api.connect(paths, desktop, [api.ManagedServer("old", SERVER.url)])
    api.connect(paths, cursor, [SERVER])
    checks = check_client_credentials(paths)
    assert sorted(c.name for c in checks) == ["client claude-desktop old", "client cursor old"]
    assert all(c.status == "warn" and c.fix and "mcpctl client upgrade" in c.fix for c in checks)


@pytest.fixture
def guarded() -> Iterator[str]:
    """A local HTTP server that answers MCP requests only with ``Authorization: Bearer`` + TOKEN (401 else)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="mcpctl"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": {}}).encode()
            self.send_response(200 if "id" in message else 202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_DELETE(self) -> None:  # noqa: N802 - the http.server name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    server.shutdown()
    server.server_close()


def test_mcpctls_own_client_sends_its_credential_and_names_a_refusal(guarded: str) -> None:
    from toolhive_py.proxy.client import ProxyClient

    with ProxyClient("w", guarded, 5.0, token=TOKEN) as client:
        assert client.request("tools/list", {}) == {}
    with pytest.raises(MCPCTLError) as refused, ProxyClient("w", guarded, 5.0):
        pass
    assert refused.value.code == "proxy-unauthorized"


def test_disconnect_takes_the_credential_with_the_entry(vault_paths: Paths, isolated_home: Path) -> None:
    target = _target(isolated_home, get_client("cursor"))
    api.connect(vault_paths, target, [api.ManagedServer("web", SERVER.url)],
                mint=lambda s: credentials.mint(vault_paths, s.workload_name, "cursor"))
    credentials.mint(vault_paths, "web", "vscode")
    token = credentials.token(vault_paths, "web", "cursor")
    assert token is not None
    assert token in target.path.read_text()
    result = run_cli("client", "disconnect", "cursor", "--json").json()["data"]
    assert (result["removed"], result["revoked"]) == (["web"], ["web"])
    assert credentials.token(vault_paths, "web", "cursor") is None
    assert credentials.clients_of(vault_paths, "web") == ["vscode"]


def test_client_list_says_how_each_client_carries_its_credential() -> None:
    listed = {c["id"]: c["credential"] for c in run_cli("client", "list", "--json").json()["data"]}
    assert listed == {c.id: c.credential for c in CLIENTS}
    assert listed["claude-desktop"] == "stdio-bridge"
    assert listed["vscode"] == "vscode-inputs"
    assert listed["claude-code"] == "headers-helper"


def test_upgrade_restarts_only_proxies_started_without_a_credentials_file() -> None:
    from toolhive_py.workloads import _checks_credentials

    started = [sys.executable, "-m", "toolhive_py.proxy", "--port", "4000", "--name", "web"]
    assert not _checks_credentials(started), "a proxy from before credentials checks none: restart it"
    assert _checks_credentials([*started, "--credentials", "/state/credentials/web.json"])
