"""The registry commands end to end through the CLI: the built-in registry, private registries, refusals."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.unit.registry_fixtures import server, write_signed
from toolhive_py.errors import ExitCode
from toolhive_py.registry import minisign
from toolhive_py.registry.store import builtin_registry_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[minisign.KeyPair, Path]:
    pair = minisign.generate_keypair()
    pub = tmp_path / "acme.pub"
    pub.write_text(pair.public.to_file_text())
    return pair, pub


def test_builtin_registry_verifies() -> None:
    result = run_cli("registry", "verify", "--json")
    assert result.exit_code == 0, result.stderr
    [entry] = result.json()["data"]
    assert entry["ok"] is True
    assert entry["name"] == "default"
    assert entry["servers"] >= 25


@pytest.mark.skipif(shutil.which("minisign") is None, reason="stock minisign not installed")
def test_stock_minisign_verifies_the_builtin_registry() -> None:
    pub = ROOT.parent / "shared" / "keys" / "registry-signing.pub"
    if not pub.exists():
        pytest.skip("../shared/keys is not beside this checkout")
    result = subprocess.run(["minisign", "-Vm", str(builtin_registry_path()), "-p", str(pub)], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_info_github_json_shows_source_transport_secrets_and_network() -> None:
    data = run_cli("info", "github", "--json").json()["data"]
    assert data["image"].startswith("ghcr.io/github/github-mcp-server:")
    assert "digest" in data
    assert data["transport"] == "stdio"
    token = next(v for v in data["env_vars"] if v["name"] == "GITHUB_PERSONAL_ACCESS_TOKEN")
    assert token["secret"] is True
    assert "allow_host" in data["permissions"]["network"]["outbound"]
    assert data["registry"] == "default"


def test_json_envelope_has_exact_keys() -> None:
    envelope = run_cli("search", "git", "--json").json()
    assert set(envelope) == {"schema_version", "command", "status", "data", "errors"}
    assert set(envelope["data"][0]) == {
        "name", "registry", "description", "source", "transport", "tier", "status", "verified",
    }


def test_unknown_server_suggests_close_names() -> None:
    result = run_cli("info", "githb")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "github" in result.stderr


def test_keygen_sign_add_search_verify_round_trip(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert run_cli("registry", "keygen", "--out", str(keys), "--name", "acme").exit_code == 0
    doc = write_signed(tmp_path / "acme.json", {"widget": server()}, None)
    signed = run_cli("registry", "sign", str(doc), "--key", str(keys / "acme.key"))
    assert signed.exit_code == 0, signed.stderr
    added = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(keys / "acme.pub"))
    assert added.exit_code == 0, added.stderr

    found = {(row["registry"], row["name"]) for row in run_cli("search", "", "--json").json()["data"]}
    assert ("acme", "widget") in found
    assert ("default", "github") in found
    verify = run_cli("registry", "verify", "acme", "--json")
    assert verify.exit_code == 0
    assert [r["name"] for r in verify.json()["data"]] == ["acme"]
    assert run_cli("registry", "keygen", "--out", str(keys), "--name", "acme").exit_code == ExitCode.CONFLICT


def _add(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path], **kw: object) -> Path:
    pair, pub = keypair
    doc = write_signed(tmp_path / "acme.json", {"widget": server()}, pair.secret, **kw)  # type: ignore[arg-type]
    assert run_cli("registry", "add", "acme", str(doc), "--pubkey", str(pub)).exit_code == 0
    return doc


def _assert_refused(code: str, *args: str) -> str:
    result = run_cli("registry", "verify", *args, "--json")
    assert result.exit_code == ExitCode.VERIFICATION
    failed = [r for r in result.json()["data"] if not r["ok"]]
    assert failed[0]["error"]["code"] == code
    human = run_cli("registry", "verify", *args)
    assert human.exit_code == ExitCode.VERIFICATION
    return human.stderr


def test_one_changed_byte_is_refused(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    doc = _add(tmp_path, keypair)
    data = bytearray(doc.read_bytes())
    data[data.index(b"widget")] = ord("W")
    doc.write_bytes(bytes(data))
    assert "changed after it was signed" in _assert_refused("bad-signature", "acme")
    assert run_cli("info", "acme/widget").exit_code == ExitCode.VERIFICATION


def test_missing_signature_is_refused(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    doc = _add(tmp_path, keypair)
    doc.with_name("acme.json.minisig").unlink()
    assert "not signed" in _assert_refused("missing-signature", "acme")


def test_garbage_signature_is_refused(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    doc = _add(tmp_path, keypair)
    doc.with_name("acme.json.minisig").write_text("not a signature\n")
    _assert_refused("bad-signature-format", "acme")


def test_signature_by_another_key_is_refused(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    doc = _add(tmp_path, keypair)
    intruder = minisign.generate_keypair()
    write_signed(doc, {"widget": server(), "evil": server()}, intruder.secret)
    assert intruder.public.key_id_hex in _assert_refused("wrong-key", "acme")


def test_add_refuses_a_registry_signed_by_another_key(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    _, pub = keypair
    doc = write_signed(tmp_path / "x.json", {"widget": server()}, minisign.generate_keypair().secret)
    result = run_cli("registry", "add", "x", str(doc), "--pubkey", str(pub))
    assert result.exit_code == ExitCode.VERIFICATION
    assert run_cli("registry", "list", "--json").json()["data"][-1]["name"] == "default"


def test_lower_version_than_seen_is_refused(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    pair, _ = keypair
    doc = _add(tmp_path, keypair, version=5)
    write_signed(doc, {"widget": server()}, pair.secret, version=4)
    assert "rollback" in _assert_refused("rollback", "acme")
    write_signed(doc, {"widget": server()}, pair.secret, version=6)
    assert run_cli("registry", "verify", "acme").exit_code == 0


def test_expired_document_is_refused(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    pair, _ = keypair
    doc = _add(tmp_path, keypair)
    write_signed(doc, {"widget": server()}, pair.secret, expires="2020-01-01T00:00:00Z")
    assert "expired" in _assert_refused("expired", "acme")


def test_malformed_json_names_line_and_column(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    pair, pub = keypair
    doc = tmp_path / "bad.json"
    doc.write_text('{"schema_version": 1,\n "version": 1,,\n}')
    doc.with_name("bad.json.minisig").write_text(minisign.sign(doc.read_bytes(), pair.secret).to_file_text())
    result = run_cli("registry", "add", "bad", str(doc), "--pubkey", str(pub))
    assert result.exit_code == ExitCode.ERROR
    assert "line 2, column" in result.stderr


def test_schema_violation_names_server_and_field(tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]) -> None:
    pair, pub = keypair
    doc = write_signed(tmp_path / "bad.json", {"widget": server(transport="carrier-pigeon")}, pair.secret)
    result = run_cli("registry", "add", "bad", str(doc), "--pubkey", str(pub))
    assert result.exit_code == ExitCode.ERROR
    assert "server 'widget': transport" in result.stderr


def test_name_clash_keeps_the_builtin_entry_whatever_the_priority(
    tmp_path: Path, keypair: tuple[minisign.KeyPair, Path]
) -> None:
    pair, pub = keypair
    doc = write_signed(tmp_path / "acme.json", {"github": server(description="ACME's fork")}, pair.secret)
    assert run_cli("registry", "add", "acme", str(doc), "--pubkey", str(pub), "--priority", "-5").exit_code == 0
    assert run_cli("info", "github", "--json").json()["data"]["registry"] == "default"
    assert run_cli("info", "acme/github", "--json").json()["data"]["description"] == "ACME's fork"
    assert run_cli("registry", "remove", "acme").exit_code == 0
    # A higher priority alone no longer shadows a built-in name (issue 13, item 2): that takes an explicit
    # choice (`shadow_builtin`, tested in test_registry_store.py); REGISTRY/NAME still picks acme's entry.
    assert run_cli("registry", "add", "acme", str(doc), "--pubkey", str(pub), "--priority", "5").exit_code == 0
    assert run_cli("info", "github", "--json").json()["data"]["registry"] == "default"
    assert run_cli("info", "acme/github", "--json").json()["data"]["registry"] == "acme"


def test_unsigned_registry_needs_the_loud_override(tmp_path: Path) -> None:
    doc = write_signed(tmp_path / "u.json", {"widget": server()}, None)
    refused = run_cli("registry", "add", "u", str(doc))
    assert refused.exit_code == ExitCode.USAGE
    allowed = run_cli("registry", "add", "u", str(doc), "--insecure-skip-verify")
    assert allowed.exit_code == 0
    assert "WARNING" in allowed.stderr
    rows = run_cli("search", "widget", "--json").json()["data"]
    assert rows[0]["verified"] is False


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]  # quiet server
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_registry_is_fetched_verified_and_updated(
    http_root: tuple[Path, str], keypair: tuple[minisign.KeyPair, Path]
) -> None:
    root, base = http_root
    pair, pub = keypair
    write_signed(root / "reg.json", {"widget": server()}, pair.secret, version=1)
    assert run_cli("registry", "add", "web", f"{base}/reg.json", "--pubkey", str(pub)).exit_code == 0
    write_signed(root / "reg.json", {"widget": server(), "gadget": server()}, pair.secret, version=2)
    assert run_cli("registry", "update", "web").exit_code == 0
    assert run_cli("info", "web/gadget").exit_code == 0
    write_signed(root / "reg.json", {"widget": server()}, pair.secret, version=1)
    assert run_cli("registry", "update", "web").exit_code == ExitCode.VERIFICATION
    # The refused download did not replace the good cached copy.
    assert run_cli("info", "web/gadget").exit_code == 0
