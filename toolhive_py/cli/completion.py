"""Shell-completion sources for names: called on every TAB, so each is cheap and never raises."""

from __future__ import annotations

from toolhive_py.config import Paths

__all__ = ["client_ids", "secret_names", "server_names", "workload_names"]


def _matching(names: list[str], incomplete: str) -> list[str]:
    return sorted(n for n in set(names) if n.startswith(incomplete))


def server_names(incomplete: str) -> list[str]:
    """Servers of every trusted registry (also as REGISTRY/NAME)."""
    try:
        from toolhive_py.registry import RegistryStore

        found = RegistryStore(Paths.from_env()).all_servers()
    except Exception:  # noqa: BLE001 - a broken registry must not break the shell
        return []
    return _matching([f.name for f in found] + [f.qualified_name for f in found], incomplete)


def secret_names(incomplete: str) -> list[str]:
    try:
        from toolhive_py.credentials import is_credential_secret
        from toolhive_py.secrets.resolve import open_provider

        names = open_provider(Paths.from_env()).list_names()
        return _matching([n for n in names if not is_credential_secret(n)], incomplete)
    except Exception:  # noqa: BLE001 - no keyring, locked keyring, Vault down: no suggestions
        return []


def workload_names(incomplete: str) -> list[str]:
    """Workloads this user started (from the state directory, so no engine round trip per TAB)."""
    try:
        directory = Paths.from_env().workloads_dir
        return _matching([p.name for p in directory.iterdir() if p.is_dir()], incomplete)
    except OSError:
        return []


def client_ids(incomplete: str) -> list[str]:
    from toolhive_py.clients.catalog import CLIENTS

    return _matching([c.id for c in CLIENTS], incomplete)
