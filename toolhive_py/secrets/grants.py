"""Which servers may receive a stored secret that they ask for by env var name.

A registry entry declares the env vars it needs (``GITHUB_PERSONAL_ACCESS_TOKEN``), and ``run`` looks each
up in the secret backend under that name. Names are not unique across registries, so a secret stored for one
server must not go to another server's entry just because it declares the same name. Policy:

- ``--secret NAME[:ENV]`` is the user saying so: the server gets it, and is recorded as a holder.
- A declared secret goes to a recorded holder of it.
- A declared secret nobody holds yet (stored with ``mcpctl secret set``) goes to the first vetted entry (from
  a verified registry) that asks for it, which then holds it; a value typed at ``run``'s prompt is for that
  server too.
- Anything else needs the user's yes (on a terminal) or ``--secret``; otherwise ``run`` refuses.

The grants file holds secret and server names only, never values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from toolhive_py.config import atomic_write

if TYPE_CHECKING:
    from pathlib import Path

    from toolhive_py.config import Paths
    from toolhive_py.secrets.resolve import SecretRequest

__all__ = ["Decision", "decide", "read_grants", "record_grants"]

Decision = Literal["allow", "claim", "ask"]


def decide(request: SecretRequest, *, holders: frozenset[str], server: str, vetted: bool) -> Decision:
    """May ``server`` (REGISTRY/NAME) have the stored secret ``request`` names? ``claim``: yes, and it now holds it."""
    if not request.declared:
        return "claim"
    if server in holders:
        return "allow"
    if not holders and vetted:
        return "claim"
    return "ask"


def _grants_file(paths: Paths) -> Path:
    return paths.state_dir / "secret-grants.json"


def read_grants(paths: Paths) -> dict[str, frozenset[str]]:
    """Secret name → the servers that hold it. An unreadable file grants nothing (so everyone asks)."""
    try:
        data = json.loads(_grants_file(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(name): frozenset(str(s) for s in servers) for name, servers in data.items()
            if isinstance(servers, list)}


def record_grants(paths: Paths, server: str, secret_names: Iterable[str]) -> None:
    """Record ``server`` as a holder of each of ``secret_names``."""
    grants = {name: set(servers) for name, servers in read_grants(paths).items()}
    added = [name for name in secret_names if server not in grants.setdefault(name, set())]
    if not added:
        return
    for name in added:
        grants[name].add(server)
    document = {name: sorted(servers) for name, servers in sorted(grants.items()) if servers}
    atomic_write(_grants_file(paths), (json.dumps(document, indent=1) + "\n").encode(), mode=0o600)
