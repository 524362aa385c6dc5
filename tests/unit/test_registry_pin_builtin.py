"""The built-in registry's pins: every package source pinned by hash, no moving image tag, and `info` says
which source `run` uses."""

from __future__ import annotations

from tests.helpers import run_cli
from toolhive_py.registry import pinning
from toolhive_py.registry.models import parse_registry
from toolhive_py.registry.store import builtin_registry_path


def test_builtin_registry_pins_every_package_and_no_moving_tag() -> None:
    document = parse_registry(builtin_registry_path().read_bytes(), source="registry.json")
    assert pinning.floating_tags(document) == []
    unpinned = [name for name, entry in document.servers.items() if entry.package and not entry.package_lock]
    assert unpinned == []
    pinned = [name for name, entry in document.servers.items() if entry.package_lock]
    # docs/registry.md lists the entries that are not on PyPI or npm (or not buildable here) and why
    assert len(pinned) >= 27


def test_info_says_which_source_run_uses_and_how_the_package_is_pinned() -> None:
    both = run_cli("info", "context7")
    assert both.exit_code == 0, both.stderr
    text = " ".join(both.stdout.split())
    assert "the image; the package, built locally, when the image cannot be pulled" in text
    assert "npm packages by integrity (npm ci)" in text
    package_only = " ".join(run_cli("info", "time").stdout.split())
    assert "the package, built locally" in package_only
    assert "wheels by sha256 for Python 3.11 (pip --require-hashes)" in package_only
    [runs] = [line for line in run_cli("info", "github").stdout.splitlines() if line.strip().startswith("runs ")]
    assert runs.split("│")[1].strip() == "the image"


def test_info_json_says_which_source_run_uses() -> None:
    assert run_cli("info", "time", "--json").json()["data"]["runs"] == "the package, built locally"
    assert run_cli("info", "github", "--json").json()["data"]["runs"] == "the image"
