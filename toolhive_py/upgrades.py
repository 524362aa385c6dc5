"""Upgrades driven by the signed registry: which running workloads' entries now pin something else.

A workload records what it runs (its image, or the ``mcpctl-build/NAME:VERSION`` image built from the entry's
package) and the names of its secret env vars; the entry as the trusted registry has it now says what `run`
would start. The comparison is a pure function (:func:`check_workload`); :func:`check_upgrades` feeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolhive_py.errors import NotFoundError
from toolhive_py.packages import parse_package

if TYPE_CHECKING:
    from toolhive_py.config import Paths
    from toolhive_py.registry.models import ServerEntry
    from toolhive_py.runtime.workloads import Workload

__all__ = ["UpgradeCheck", "check_upgrades", "check_workload"]

_BUILD_PREFIX = "mcpctl-build/"


@dataclass(frozen=True)
class UpgradeCheck:
    """One workload whose registry entry now pins something other than what it runs."""

    name: str
    server: str
    running: str
    pinned: str
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "server": self.server, "running": self.running, "pinned": self.pinned,
                "changes": list(self.changes)}


def _version(reference: str) -> str:
    last = reference.rsplit("/", 1)[-1].split("@", 1)[0]
    return last.split(":", 1)[1] if ":" in last else "?"


def check_workload(workload: Workload, entry: ServerEntry | None) -> UpgradeCheck | None:
    """What changed between what ``workload`` runs and what ``entry`` pins now; None when nothing did."""
    qualified = f"{workload.registry}/{workload.server}"
    if entry is None:
        return UpgradeCheck(workload.name, qualified, workload.image, "-",
                            ("the entry is no longer in the registry",))
    built = workload.image.startswith(_BUILD_PREFIX)
    changes: list[str] = []
    if built or entry.image is None:
        if entry.package is None:
            pinned = entry.image or "-"
            changes.append(f"now an image: {pinned}")
        else:
            package = parse_package(entry.package)
            pinned = entry.package
            from toolhive_py.runtime.builds import tag_for

            if not built or workload.image != tag_for(package):
                changes.append(f"version {_version(workload.image)} → {package.version}")
    else:
        pinned = entry.image + (f"@{entry.digest}" if entry.digest else "")
        if workload.image != entry.image:
            changes.append(f"version {_version(workload.image)} → {_version(entry.image)}")
    secrets_now = {var.name for var in entry.secret_env_vars}
    secrets_then = set(workload.secret_env)
    if added := sorted(secrets_now - secrets_then):
        changes.append(f"new secret env vars: {', '.join(added)}")
    if removed := sorted(secrets_then - secrets_now):
        changes.append(f"secret env vars no longer used: {', '.join(removed)}")
    if not changes:
        return None
    return UpgradeCheck(workload.name, qualified, workload.image, pinned, tuple(changes))


def check_upgrades(paths: Paths, *, socket: str | None = None) -> list[UpgradeCheck]:
    """Every running vetted workload whose entry in its trusted registry now pins something else."""
    from toolhive_py.registry import RegistryStore
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import list_workloads

    engine = open_engine(paths, socket)
    store = RegistryStore(paths)
    found: list[UpgradeCheck] = []
    for workload in list_workloads(engine):
        if not workload.vetted or not workload.server or not workload.registry:
            continue
        try:
            entry: ServerEntry | None = store.find(f"{workload.registry}/{workload.server}").entry
        except NotFoundError:  # the entry is gone; a registry that cannot be trusted now (expired) still raises
            entry = None
        if (check := check_workload(workload, entry)) is not None:
            found.append(check)
    return found
