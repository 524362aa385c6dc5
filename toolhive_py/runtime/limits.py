"""The resource limits a workload gets unless `run` says otherwise: defined once, importable without the rest of
the runtime (the CLI shows them in `run --help`, which must stay cheap)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_CPUS", "DEFAULT_MEMORY"]

DEFAULT_MEMORY: Final = "512m"
DEFAULT_CPUS: Final = 1.0
