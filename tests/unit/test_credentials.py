"""Proxy client credentials: token shape, the hashed credentials file, minting, rotation and revocation
through real secret backends (hvac against the in-process Vault, and the real Secret Service keyring)."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from tests.helpers import run_cli
from toolhive_py import credentials
from toolhive_py.config import Paths
from toolhive_py.errors import ConfigError, SecretBackendError, UsageError


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_new_tokens_have_the_documented_shape_and_differ() -> None:
    first, second = credentials.new_token(), credentials.new_token()
    assert first.startswith("mcpctl_pxy_")
    assert len(first) == len("mcpctl_pxy_") + 43
    assert first != second
    assert credentials.is_proxy_token(first)


@pytest.mark.parametrize("value", [
    "",
    "mcpctl_pxy_",
    "mcpctl_pxy_" + "a" * 42,
    "mcpctl_pxy_" + "a" * 44,
    "mcpctl_pxy_" + "a" * 42 + "=",
    "mcpctl_pxy_" + "a" * 43 + "\n",
    "ghp_" + "a" * 43,
    "MCPCTL_PXY_" + "a" * 43,
])
def test_is_proxy_token_rejects_other_shapes(value: str) -> None:
    assert not credentials.is_proxy_token(value)


def test_token_hash_is_sha256_hex() -> None:
    assert credentials.token_hash("abc") == hashlib.sha256(b"abc").hexdigest()


def test_credentials_file_is_per_workload_under_the_state_dir() -> None:
    paths = Paths.from_env()
    assert credentials.credentials_file(paths, "github") == paths.state_dir / "credentials" / "github.json"
    with pytest.raises(UsageError):
        credentials.credentials_file(paths, "../etc/passwd")


def test_mint_stores_the_token_in_the_backend_and_only_its_hash_on_disk(vault_paths: Paths, tmp_path: Path) -> None:
    value = credentials.mint(vault_paths, "github", "claude-code")
    path = credentials.credentials_file(vault_paths, "github")
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["clients"]["claude-code"]["sha256"] == credentials.token_hash(value)
    assert data["clients"]["claude-code"]["created"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert _files_containing(tmp_path, value) == []
    assert credentials.token(vault_paths, "github", "claude-code") == value
    assert credentials.clients_of(vault_paths, "github") == ["claude-code"]


def test_the_table_matches_each_clients_token_and_nothing_else(vault_paths: Paths) -> None:
    code = credentials.mint(vault_paths, "github", "claude-code")
    vscode = credentials.mint(vault_paths, "github", "vscode")
    table = credentials.load(credentials.credentials_file(vault_paths, "github"))
    assert table is not None
    assert table.match(code) == "claude-code"
    assert table.match(vscode) == "vscode"
    assert table.match(code[:-1] + ("A" if code[-1] != "A" else "B")) is None
    assert table.match("") is None
    assert table.match(credentials.token_hash(code)) is None  # the hash itself is no credential


def test_connecting_again_rotates_the_token(vault_paths: Paths) -> None:
    old = credentials.mint(vault_paths, "github", "cursor")
    new = credentials.mint(vault_paths, "github", "cursor")
    table = credentials.load(credentials.credentials_file(vault_paths, "github"))
    assert table is not None
    assert new != old
    assert table.match(old) is None
    assert table.match(new) == "cursor"
    assert credentials.token(vault_paths, "github", "cursor") == new


def test_revoke_one_client_keeps_the_others(vault_paths: Paths) -> None:
    code = credentials.mint(vault_paths, "github", "claude-code")
    vscode = credentials.mint(vault_paths, "github", "vscode")
    assert credentials.revoke(vault_paths, "github", "claude-code") == ["claude-code"]
    table = credentials.load(credentials.credentials_file(vault_paths, "github"))
    assert table is not None
    assert table.match(code) is None
    assert table.match(vscode) == "vscode"
    assert credentials.token(vault_paths, "github", "claude-code") is None
    assert credentials.revoke(vault_paths, "github", "claude-code") == []


def test_revoke_all_empties_the_file_and_the_store_and_leaves_other_workloads(vault_paths: Paths) -> None:
    credentials.mint(vault_paths, "github", "claude-code")
    credentials.mint(vault_paths, "github", "vscode")
    other = credentials.mint(vault_paths, "github.enterprise", "vscode")
    assert credentials.revoke(vault_paths, "github") == ["claude-code", "vscode"]
    table = credentials.load(credentials.credentials_file(vault_paths, "github"))
    assert table is not None  # empty, not missing: a still-running proxy lets nobody in
    assert dict(table.hashes) == {}
    assert credentials.token(vault_paths, "github", "vscode") is None
    assert credentials.token(vault_paths, "github.enterprise", "vscode") == other


def test_revoke_all_also_removes_a_token_whose_hash_entry_is_gone(vault_paths: Paths) -> None:
    credentials.mint(vault_paths, "github", "zed")
    credentials.credentials_file(vault_paths, "github").unlink()
    assert credentials.revoke(vault_paths, "github") == ["zed"]
    assert credentials.token(vault_paths, "github", "zed") is None


def test_ensure_file_creates_an_empty_table_and_keeps_an_existing_one(vault_paths: Paths) -> None:
    path = credentials.ensure_file(vault_paths, "new")
    table = credentials.load(path)
    assert table is not None
    assert dict(table.hashes) == {}
    assert table.match(credentials.new_token()) is None
    value = credentials.mint(vault_paths, "new", "goose")
    credentials.ensure_file(vault_paths, "new")
    table = credentials.load(path)
    assert table is not None
    assert table.match(value) == "goose"


def test_load_tells_a_missing_file_from_an_unusable_one(tmp_path: Path) -> None:
    assert credentials.load(tmp_path / "absent.json") is None
    for text in ("{", "[]", '{"version": 2, "clients": {}}', '{"version": 1, "clients": {"x": {"sha256": "nothex"}}}'):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(ConfigError) as info:
            credentials.load(tmp_path / "bad.json")
        assert info.value.code == "credentials-unreadable"


def test_invalid_client_ids_are_refused() -> None:
    for client in ("", "Claude", "a.b", "a/b", "x" * 46):
        with pytest.raises(UsageError):
            credentials.secret_name("github", client)
    assert credentials.secret_name("github", "x" * 45)


def test_a_read_only_backend_cannot_mint(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli("secret", "backend", "env").exit_code == 0
    with pytest.raises(SecretBackendError) as info:
        credentials.mint(Paths.from_env(), "github", "vscode")
    assert info.value.code == "secret-backend-read-only"
    assert not credentials.credentials_file(Paths.from_env(), "github").exists()


def test_secret_list_does_not_show_proxy_tokens_as_user_secrets(vault_paths: Paths) -> None:
    credentials.mint(vault_paths, "github", "vscode")
    assert run_cli("secret", "set", "gh", input="user-value").exit_code == 0
    result = run_cli("secret", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["data"]["names"] == ["gh"]


@pytest.mark.keyring
def test_mint_token_and_revoke_through_the_os_keyring(keyring_paths: Paths, tmp_path: Path) -> None:
    import keyring

    value = credentials.mint(keyring_paths, "kr-test", "claude-code")
    try:
        assert keyring.get_password("mcpctl", credentials.secret_name("kr-test", "claude-code")) == value
        assert credentials.token(keyring_paths, "kr-test", "claude-code") == value
        assert _files_containing(tmp_path, value) == []
        listed = run_cli("secret", "list", "--json")
        assert listed.exit_code == 0
        assert credentials.secret_name("kr-test", "claude-code") not in listed.stdout
    finally:
        assert credentials.revoke(keyring_paths, "kr-test") == ["claude-code"]
    assert keyring.get_password("mcpctl", credentials.secret_name("kr-test", "claude-code")) is None
