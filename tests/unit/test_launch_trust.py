"""`run`'s trust decision (runtime/launch.py resolve_target): what runs vetted, what needs --unvetted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.unit.registry_fixtures import server, write_signed
from toolhive_py.config import Paths
from toolhive_py.errors import NotFoundError, UnvettedError, UsageError
from toolhive_py.registry import RegistryStore
from toolhive_py.runtime.launch import resolve_target


def _store() -> RegistryStore:
    return RegistryStore(Paths.from_env())


def test_a_server_of_the_builtin_registry_is_vetted() -> None:
    target = resolve_target(_store(), "time", unvetted=False)
    assert (target.vetted, target.registry, target.qualified_name) == (True, "default", "default/time")


@pytest.mark.parametrize("reference", ["npx://@acme/mcp@1.2.3", "uvx://acme-mcp==1.0", "ghcr.io/acme/mcp:1",
                                       "acme/mcp", "mcp@sha256:" + "a" * 64])
def test_anything_not_from_a_verified_registry_needs_unvetted(reference: str) -> None:
    with pytest.raises(UnvettedError):
        resolve_target(_store(), reference, unvetted=False)
    target = resolve_target(_store(), reference, unvetted=True)
    assert target.vetted is False
    assert target.registry is None


def test_a_package_source_with_unvetted_builds_that_package() -> None:
    target = resolve_target(_store(), "uvx://acme-mcp==1.0", unvetted=True)
    assert target.package == "uvx://acme-mcp==1.0"


def test_an_unknown_bare_name_is_not_found_even_with_unvetted() -> None:
    with pytest.raises(NotFoundError):
        resolve_target(_store(), "no-such-server", unvetted=True)


def test_a_malformed_package_source_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        resolve_target(_store(), "npx://acme@latest", unvetted=True)


def test_a_server_of_an_unsigned_registry_runs_only_unvetted(tmp_path: Path) -> None:
    write_signed(tmp_path / "u.json", {"widget": server()}, None)
    assert run_cli("registry", "add", "u", str(tmp_path / "u.json"), "--insecure-skip-verify").exit_code == 0
    with pytest.raises(UnvettedError):
        resolve_target(_store(), "u/widget", unvetted=False)
    assert resolve_target(_store(), "u/widget", unvetted=True).vetted is False
