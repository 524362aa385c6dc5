"""Test isolation shared by unit and e2e tests.

Every test gets its own HOME, XDG dirs and MCPCTL_HOME under tmp, and no MCPCTL_* or DOCKER_* leaking
in from the developer's shell (engine fixtures in tests/e2e put back what they need). Markers are set
by directory: everything under tests/e2e is ``engine``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.vault import FakeVault
from tests.helpers import run_cli
from toolhive_py.config import Paths

_KEEP_FROM_HOST = ("DBUS_SESSION_BUS_ADDRESS",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.option.markexpr or ""
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.engine)
        if "load" in item.keywords and "load" not in selected:
            item.add_marker(pytest.mark.skip(reason="a long load test: select with -m load"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, XDG_* and MCPCTL_HOME at a fresh tmp dir for every test."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("MCPCTL_", "XDG_")) and name not in _KEEP_FROM_HOST:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def vault_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    """Paths whose configured secret backend is Vault (the real hvac client against the fake server)."""
    with FakeVault() as vault:
        monkeypatch.setenv("VAULT_TOKEN", vault.root_token)
        assert run_cli("config", "set", "vault.address", vault.url).exit_code == 0
        assert run_cli("secret", "backend", "vault").exit_code == 0
        yield Paths.from_env()


@pytest.fixture
def keyring_paths() -> Paths:
    """Paths on the default backend, the OS keyring; needs a Secret Service (scripts/lib/with-keyring)."""
    import keyring
    import keyring.errors

    try:
        keyring.get_password("mcpctl-test-probe", "probe")
    except keyring.errors.KeyringError as exc:
        message = f"no Secret Service keyring: {exc} (run under dbus-run-session -- bash scripts/lib/with-keyring)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Paths.from_env()
