"""Secret backends (env, Vault through real hvac against the fake server), resolution, and the CLI's
promise that a value never shows up in output or files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.vault import FakeVault
from tests.helpers import run_cli
from toolhive_py.errors import ExitCode, NotFoundError, SecretBackendError
from toolhive_py.secrets import SecretRequest, parse_secret_flag, resolve_secret_env
from toolhive_py.secrets.env import EnvProvider
from toolhive_py.secrets.vault import VaultProvider

VALUE = "s3cr3t-value-d41d8cd98f00"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    with FakeVault() as server:
        yield server


@pytest.fixture
def vault_cli(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> FakeVault:
    monkeypatch.setenv("VAULT_TOKEN", vault.root_token)
    assert run_cli("config", "set", "vault.address", vault.url).exit_code == 0
    assert run_cli("secret", "backend", "vault").exit_code == 0
    return vault


def _grep_tree(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_parse_secret_flag_defaults_env_name() -> None:
    assert parse_secret_flag("github-token") == SecretRequest("github-token", "GITHUB_TOKEN")
    assert parse_secret_flag("gh:GITHUB_PERSONAL_ACCESS_TOKEN").env_name == "GITHUB_PERSONAL_ACCESS_TOKEN"
    with pytest.raises(Exception, match="Invalid"):
        parse_secret_flag("bad name")


def test_env_backend_reads_and_refuses_writes() -> None:
    provider = EnvProvider({"MCPCTL_SECRET_GITHUB_TOKEN": VALUE})
    assert provider.get("github-token") == VALUE
    assert provider.list_names() == ["GITHUB_TOKEN"]
    with pytest.raises(SecretBackendError, match="read-only"):
        provider.set("x", "y")


def test_resolve_prompts_and_stores_when_interactive_else_names_the_command(vault: FakeVault) -> None:
    provider = VaultProvider(vault.url, token=vault.root_token)
    with pytest.raises(NotFoundError) as info:
        resolve_secret_env(provider, [SecretRequest("gh", "GITHUB_TOKEN")])
    assert "mcpctl secret set gh" in (info.value.hint or "")
    asked: list[str] = []
    values = resolve_secret_env(provider, [SecretRequest("gh", "GITHUB_TOKEN")],
                                prompt=lambda name: asked.append(name) or VALUE)  # type: ignore[func-returns-value]
    assert values == {"GITHUB_TOKEN": VALUE}
    assert asked == ["gh"]
    assert provider.get("gh") == VALUE


def test_vault_round_trip_with_token_and_approle(vault: FakeVault) -> None:
    provider = VaultProvider(vault.url, token=vault.root_token)
    provider.set("a", "1")
    provider.set("b", "2")
    assert provider.list_names() == ["a", "b"]
    assert provider.delete("a") is True
    assert provider.delete("a") is False
    approle = VaultProvider(vault.url, role_id=vault.role_id, secret_id=vault.secret_id)
    assert approle.get("b") == "2"
    assert approle.get("missing") is None


def test_vault_wrong_token_is_a_backend_error(vault: FakeVault) -> None:
    with pytest.raises(SecretBackendError, match="permission denied"):
        VaultProvider(vault.url, token="wrong").get("x")


def test_cli_set_get_list_delete_never_leaks(vault_cli: FakeVault, isolated_home: Path) -> None:
    stored = run_cli("secret", "set", "gh", input=VALUE + "\n")
    assert stored.exit_code == 0, stored.stderr
    assert vault_cli.data["mcpctl/gh"][-1]["data"] == {"value": VALUE}, "one trailing newline is stripped"
    outputs = [stored]
    outputs.append(masked := run_cli("secret", "get", "gh"))
    assert masked.stdout.strip() == "s3****"
    outputs.append(run_cli("secret", "get", "gh", "--json"))
    outputs.append(listed := run_cli("secret", "list", "--json"))
    assert listed.json()["data"]["names"] == ["gh"]
    for result in outputs:
        assert VALUE not in result.stdout + result.stderr
    assert run_cli("secret", "get", "gh", "--reveal").stdout.strip() == VALUE
    assert _grep_tree(isolated_home, VALUE) == []
    assert run_cli("secret", "delete", "gh").exit_code == 0
    assert run_cli("secret", "get", "gh").exit_code == ExitCode.NOT_FOUND


def test_cli_has_no_value_argument() -> None:
    result = run_cli("secret", "set", "gh", VALUE, input="x")
    assert result.exit_code == ExitCode.USAGE


def test_cli_refuses_env_backend_writes() -> None:
    assert run_cli("secret", "set", "gh", "--backend", "env", input="x").exit_code == ExitCode.SECRET_BACKEND


def test_cli_refuses_an_empty_secret(vault_cli: FakeVault) -> None:
    result = run_cli("secret", "set", "gh", input="\n")
    assert result.exit_code == ExitCode.USAGE
    assert vault_cli.data == {}


def test_headless_keyring_names_the_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    result = run_cli("secret", "list", "--backend", "keyring")
    assert result.exit_code == ExitCode.SECRET_BACKEND
    assert "secret backend vault" in result.stderr
    assert "MCPCTL_SECRET_" in result.stderr
