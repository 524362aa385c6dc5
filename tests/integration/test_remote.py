"""Remote workloads end to end on 127.0.0.1: `mcpctl run https://…` starts a proxy (no container) in front of
the mcp SDK's server behind TLS with a CA made here; its header secret comes from the real keyring, reaches
the server, and is in no file, argv or output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.integration.remote_server import TlsFiles, make_tls, serve_remote
from toolhive_py.config import Paths

TOKEN = "rmt_" + "Zq8v" * 10  # what the remote server wants as its bearer token


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    directory = tmp_path / "tls"
    directory.mkdir()
    return make_tls(directory)


@pytest.fixture
def remote(tls: TlsFiles, tmp_path: Path) -> Iterator[str]:
    """The remote server's MCP URL; it answers only requests with ``Bearer TOKEN``."""
    with serve_remote(tls, tmp_path / "remote.log", token=TOKEN) as base:
        yield base + "/mcp"


@pytest.fixture
def trusted(tls: TlsFiles) -> None:
    """mcpctl trusts the test CA (the extra-CA setting), besides the system's trust store."""
    assert run_cli("config", "set", "build.ca_bundle", str(tls.ca)).exit_code == 0


def _cleanup(name: str) -> None:
    run_cli("rm", name)


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_run_url_serves_a_remote_with_its_keyring_header_and_no_copy_of_the_secret(
        keyring_paths: Paths, remote: str, trusted: None, tmp_path: Path) -> None:
    from toolhive_py.proxy.supervisor import audit_path, proxy_log_path, running_proxy

    assert run_cli("secret", "set", "REMOTE_PAT", input=TOKEN).exit_code == 0
    ran = run_cli("run", remote, "--name", "rem", "--header", "Authorization: Bearer {REMOTE_PAT}", "--json")
    try:
        assert ran.exit_code == 0, ran.stdout + ran.stderr
        assert ran.json()["data"]["url"].startswith("http://127.0.0.1:")
        listed = run_cli("list", "--json")
        assert listed.exit_code == 0, listed.stderr
        (row,) = [w for w in listed.json()["data"] if w["name"] == "rem"]
        assert (row["status"], row["proxy"], row["image"], row["vetted"]) == ("running", "up", remote, False)

        tools = run_cli("tools", "list", "rem", "--json")
        assert tools.exit_code == 0, tools.stderr
        assert "echo" in tools.stdout
        called = run_cli("tools", "call", "rem", "echo", "--args", '{"text": "hi"}', "--json")
        assert called.exit_code == 0, called.stderr
        assert "remote:hi" in called.stdout
        methods = [json.loads(line).get("method") for line in audit_path(keyring_paths, "rem").read_text().splitlines()]
        assert "tools/call" in methods

        state = running_proxy(keyring_paths, "rem")
        assert state is not None
        argv = Path(f"/proc/{state.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{state.pid}/environ").read_bytes()
        assert b"--remote" in argv
        assert TOKEN.encode() not in argv
        assert TOKEN.encode() not in environ
        assert proxy_log_path(keyring_paths, "rem").stat().st_size > 0
        home = Path(os.environ["HOME"])
        assert _files_containing(home, TOKEN) == []
        status = run_cli("status", "rem", "--json")
        for result in (ran, listed, tools, called, status):
            assert TOKEN not in result.stdout + result.stderr
        assert "auth=yes" in (tmp_path / "remote.log").read_text()
    finally:
        _cleanup("rem")


def test_a_remote_workload_stops_starts_and_is_removed_like_any_other(
        keyring_paths: Paths, remote: str, trusted: None) -> None:
    from toolhive_py.proxy.supervisor import running_proxy

    assert run_cli("secret", "set", "REMOTE_PAT", input=TOKEN).exit_code == 0
    assert run_cli("run", remote, "--name", "rem2", "--header", "Authorization: Bearer {REMOTE_PAT}").exit_code == 0
    try:
        assert run_cli("stop", "rem2").exit_code == 0
        assert running_proxy(keyring_paths, "rem2") is None
        assert "rem2" not in [w["name"] for w in run_cli("list", "--json").json()["data"]]
        stopped = run_cli("list", "--all", "--json").json()["data"]
        assert [(w["status"], w["proxy"]) for w in stopped if w["name"] == "rem2"] == [("exited", "DOWN")]
        assert run_cli("start", "rem2").exit_code == 0
        assert "remote:again" in run_cli("tools", "call", "rem2", "echo", "--args", '{"text": "again"}').stdout
        logs = run_cli("logs", "rem2", "--tail", "50")
        assert logs.exit_code == 0, logs.stderr
        assert "server ready: remote streamable-http server at " + remote in logs.stdout
    finally:
        removed = run_cli("rm", "rem2", "--json")
    assert removed.exit_code == 0, removed.stderr
    assert running_proxy(keyring_paths, "rem2") is None
    assert "rem2" not in [w["name"] for w in run_cli("list", "--all", "--json").json()["data"]]
    assert run_cli("status", "rem2").exit_code != 0


def test_a_remote_workload_honours_the_tool_policy(keyring_paths: Paths, remote: str, trusted: None) -> None:
    assert run_cli("secret", "set", "REMOTE_PAT", input=TOKEN).exit_code == 0
    ran = run_cli("run", remote, "--name", "rem3", "--deny-tools", "echo",
                  "--header", "Authorization: Bearer {REMOTE_PAT}")
    try:
        assert ran.exit_code == 0, ran.stdout + ran.stderr
        tools = run_cli("tools", "list", "rem3", "--json").json()["data"]["tools"]
        assert [t["name"] for t in tools if t["visible"]] == []
        refused = run_cli("tools", "call", "rem3", "echo", "--args", '{"text": "x"}')
        assert refused.exit_code != 0
        assert "remote:" not in refused.stdout
    finally:
        _cleanup("rem3")


def test_a_remote_whose_certificate_is_not_trusted_is_not_reached(keyring_paths: Paths, remote: str,
                                                                   tmp_path: Path) -> None:
    from toolhive_py.proxy.supervisor import proxy_log_path

    assert run_cli("secret", "set", "REMOTE_PAT", input=TOKEN).exit_code == 0
    ran = run_cli("run", remote, "--name", "rem4", "--header", "Authorization: Bearer {REMOTE_PAT}")
    try:
        assert ran.exit_code == 0, ran.stdout + ran.stderr  # the proxy starts; its backend never connects
        assert run_cli("tools", "call", "rem4", "echo", "--args", '{"text": "x"}', "--timeout", "5").exit_code != 0
        assert "CERTIFICATE_VERIFY_FAILED" in proxy_log_path(keyring_paths, "rem4").read_text()
        assert "auth=yes" not in (tmp_path / "remote.log").read_text()
    finally:
        _cleanup("rem4")


def test_a_redirect_to_another_origin_is_not_followed_with_the_token(
        keyring_paths: Paths, tls: TlsFiles, trusted: None, tmp_path: Path) -> None:
    with serve_remote(tls, tmp_path / "elsewhere.log") as elsewhere, \
            serve_remote(tls, tmp_path / "redirecting.log", "--redirect-to", "https://localhost:"
                         + elsewhere.rsplit(":", 1)[1] + "/mcp") as redirecting:
        assert run_cli("secret", "set", "REMOTE_PAT", input=TOKEN).exit_code == 0
        ran = run_cli("run", redirecting + "/mcp", "--name", "rem5",
                      "--header", "Authorization: Bearer {REMOTE_PAT}")
        try:
            assert ran.exit_code == 0, ran.stdout + ran.stderr
            assert run_cli("tools", "call", "rem5", "echo", "--args", '{"text": "x"}', "--timeout", "5").exit_code != 0
            assert "auth=yes" in (tmp_path / "redirecting.log").read_text()  # it did ask the first origin
            assert "request" not in (tmp_path / "elsewhere.log").read_text()
        finally:
            _cleanup("rem5")


@pytest.mark.parametrize("url", ["http://example.com/mcp", "https://169.254.169.254/latest/mcp",
                                 "https://metadata.google.internal/mcp", "https://[fd00:ec2::254]/mcp"])
def test_run_refuses_a_remote_url_outside_the_egress_policy(url: str) -> None:
    ran = run_cli("run", url, "--name", "bad")
    assert ran.exit_code != 0
    assert "Start an engine" not in ran.stderr


def test_run_refuses_a_plaintext_token_in_a_header() -> None:
    ran = run_cli("run", "https://127.0.0.1:1/mcp", "--header", "Authorization: Bearer ghp_" + "a1B2" * 9)
    assert ran.exit_code != 0
    assert "{NAME}" in ran.stderr
    assert "ghp_" not in ran.stdout + ran.stderr


def test_a_signed_registry_entry_with_remotes_runs_vetted_with_its_secret_header(
        keyring_paths: Paths, remote: str, trusted: None, tmp_path: Path) -> None:
    from tests.unit.registry_fixtures import write_signed
    from toolhive_py.registry import minisign

    pair = minisign.generate_keypair()
    entry = {"description": "A hosted test server", "tools": ["echo"], "remotes": [{
        "type": "streamable-http", "url": remote,
        "headers": [{"name": "Authorization", "value": "Bearer {ACME_HOSTED_TOKEN}", "isSecret": True,
                     "isRequired": True, "description": "a personal access token"}]}]}
    doc = write_signed(tmp_path / "acme.json", {"hosted": entry}, pair.secret)
    (tmp_path / "acme.pub").write_text(pair.public.to_file_text())
    added = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert added.exit_code == 0, added.stderr
    assert run_cli("secret", "set", "ACME_HOSTED_TOKEN", input=TOKEN).exit_code == 0
    ran = run_cli("run", "acme/hosted", "--json")
    try:
        assert ran.exit_code == 0, ran.stderr
        assert (ran.json()["data"]["name"], ran.json()["data"]["vetted"]) == ("hosted", True)
        assert "UNVETTED" not in ran.stderr
        assert "remote:reg" in run_cli("tools", "call", "hosted", "echo", "--args", '{"text": "reg"}').stdout
        assert _files_containing(Path(os.environ["HOME"]), TOKEN) == []
    finally:
        _cleanup("hosted")


def test_a_registry_entry_with_neither_image_package_nor_remotes_is_invalid() -> None:
    from pydantic import ValidationError

    from toolhive_py.registry.models import ServerEntry

    with pytest.raises(ValidationError):
        ServerEntry.model_validate({"description": "nothing to run"})
    with pytest.raises(ValidationError):
        ServerEntry.model_validate({"description": "x", "remotes": [{"type": "sse", "url": "http://plain/sse"}]})


def test_a_remote_workload_is_connected_to_a_client_and_taken_out_of_it_by_rm(
        keyring_paths: Paths, remote: str, trusted: None) -> None:
    from toolhive_py.proxy.supervisor import running_proxy

    assert run_cli("secret", "set", "REMOTE_PAT", input=TOKEN).exit_code == 0
    ran = run_cli("run", remote, "--name", "rem6", "--header", "Authorization: Bearer {REMOTE_PAT}", "--json")
    assert ran.exit_code == 0, ran.stderr
    try:
        connected = run_cli("client", "connect", "vscode", "rem6", "--json")
        assert connected.exit_code == 0, connected.stderr
        config = Path(connected.json()["data"]["path"])
        entry = json.loads(config.read_text())["servers"]["rem6"]
        assert entry["url"] == ran.json()["data"]["url"]
        assert TOKEN not in config.read_text()
    finally:
        # Never `rm --all` here: the engine is shared, and it would remove this user's containers of other tests.
        removed = run_cli("rm", "rem6", "--json")
    assert removed.exit_code == 0, removed.stderr
    assert running_proxy(keyring_paths, "rem6") is None
    # mcpctl created the file for this one entry, so taking the entry out takes the file away
    assert not config.exists() or "rem6" not in json.loads(config.read_text()).get("servers", {})
