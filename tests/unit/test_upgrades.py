"""`mcpctl upgrade --check`'s decision: what a running workload runs against what its entry pins now."""

from __future__ import annotations

from typing import Any

from tests.helpers import run_cli
from toolhive_py.errors import ExitCode
from toolhive_py.registry.models import ServerEntry
from toolhive_py.runtime.workloads import Workload
from toolhive_py.upgrades import check_workload


def _workload(image: str, secret_env: tuple[str, ...] = ()) -> Workload:
    return Workload(name="w", container_id="c", status="running", image=image, server="demo", registry="acme",
                    vetted=True, transport="stdio", created="", ports={}, secret_env=secret_env, restart_count=0)


def _entry(**fields: Any) -> ServerEntry:
    return ServerEntry.model_validate({"description": "d", **fields})


def test_a_newer_image_tag_is_an_upgrade() -> None:
    check = check_workload(_workload("registry.example/demo:1.0"), _entry(image="registry.example/demo:1.1"))
    assert check is not None
    assert (check.server, check.running, check.pinned) == ("acme/demo", "registry.example/demo:1.0",
                                                           "registry.example/demo:1.1")
    assert check.changes == ("version 1.0 → 1.1",)


def test_the_same_pin_is_no_upgrade() -> None:
    assert check_workload(_workload("registry.example/demo:1.0"), _entry(image="registry.example/demo:1.0")) is None
    built = _workload("mcpctl-build/demo-server:1.0")
    assert check_workload(built, _entry(image="registry.example/demo:9", package="uvx://demo-server==1.0")) is None


def test_a_workload_built_from_the_package_compares_the_package_version() -> None:
    check = check_workload(_workload("mcpctl-build/modelcontextprotocol-server-everything:2026.8.31"),
                           _entry(package="npx://@modelcontextprotocol/server-everything@2026.9.30"))
    assert check is not None
    assert check.pinned == "npx://@modelcontextprotocol/server-everything@2026.9.30"
    assert check.changes == ("version 2026.8.31 → 2026.9.30",)


def test_secret_env_vars_added_and_dropped_are_named() -> None:
    entry = _entry(image="registry.example/demo:1.1",
                   env_vars=[{"name": "NEW_TOKEN", "secret": True}, {"name": "PLAIN", "secret": False}])
    check = check_workload(_workload("registry.example/demo:1.0", ("OLD_TOKEN",)), entry)
    assert check is not None
    assert check.changes == ("version 1.0 → 1.1", "new secret env vars: NEW_TOKEN",
                             "secret env vars no longer used: OLD_TOKEN")


def test_an_entry_gone_from_the_registry_is_reported() -> None:
    check = check_workload(_workload("registry.example/demo:1.0"), None)
    assert check is not None
    assert check.changes == ("the entry is no longer in the registry",)


def test_upgrade_without_check_says_what_to_do() -> None:
    result = run_cli("upgrade")
    assert result.exit_code == ExitCode.USAGE
    assert "--check" in result.stderr
