"""A uid/gid of its own for each workload, from a high range no host account or subordinate-id range uses.

Policy: a workload runs as ``N:N`` with ``N`` in ``[UID_BASE, UID_BASE + UID_COUNT)``, recorded on its container
(label ``io.mcpctl.uid``) so restarts and rebuilds keep it. The start of the search is a hash of the workload name,
so two concurrent ``run``s of different names rarely probe the same ids; ids held by any mcpctl container (of
any user) are skipped, and so are the host's passwd uids, group gids and every /etc/subuid and /etc/subgid range.
A host ``nobody`` process, or another workload, then shares no uid with the server: it cannot read the server's
``/proc/PID/environ`` or ptrace it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Final

from toolhive_py.errors import ConflictError

__all__ = ["UID_BASE", "UID_COUNT", "allocate_uid", "host_reserved_ids", "parse_account_ids", "parse_subid_ranges"]

# 2_000_000_000 + 2**20 stays below 2**31 - 1, the largest id Docker accepts; subordinate ranges handed out by
# useradd start at 100000 and grow by 65536 per user, so this range is clear of them on any ordinary host (and
# checked against the real files all the same).
UID_BASE: Final = 2_000_000_000
UID_COUNT: Final = 2**20
_HOST_FILES: Final = ("/etc/passwd", "/etc/group")
_SUBID_FILES: Final = ("/etc/subuid", "/etc/subgid")


def parse_account_ids(text: str) -> set[int]:
    """The numeric ids (third field) of an /etc/passwd or /etc/group text."""
    ids = set()
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            ids.add(int(parts[2]))
    return ids


def parse_subid_ranges(text: str) -> list[range]:
    """The ranges of an /etc/subuid or /etc/subgid text (``owner:start:count`` lines)."""
    ranges = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            ranges.append(range(int(parts[1]), int(parts[1]) + int(parts[2])))
    return ranges


def host_reserved_ids(root: Path = Path("/")) -> tuple[set[int], list[range]]:
    """The host's account ids and subordinate-id ranges; a missing file reserves nothing."""
    ids: set[int] = set()
    ranges: list[range] = []
    for name in _HOST_FILES:
        try:
            ids |= parse_account_ids((root / name.lstrip("/")).read_text(errors="replace"))
        except OSError:
            continue
    for name in _SUBID_FILES:
        try:
            ranges += parse_subid_ranges((root / name.lstrip("/")).read_text(errors="replace"))
        except OSError:
            continue
    return ids, ranges


def allocate_uid(name: str, taken: Collection[int], reserved_ids: Collection[int] = frozenset(),
                 reserved_ranges: Sequence[range] = (), *, base: int = UID_BASE, count: int = UID_COUNT) -> int:
    """The id workload ``name`` runs as (uid and gid alike): the first free one from the name's hash on.

        >>> allocate_uid("github", taken=set()) == allocate_uid("github", taken={1})
        True
    """
    start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count
    for offset in range(count):
        candidate = base + (start + offset) % count
        if candidate in taken or candidate in reserved_ids or _in_any(candidate, reserved_ranges):
            continue
        return candidate
    raise ConflictError(f"No free workload uid is left in {base}-{base + count - 1}.",
                        hint="Remove workloads you no longer need (`mcpctl rm`).", code="no-free-uid")


def _in_any(candidate: int, ranges: Iterable[range]) -> bool:
    return any(candidate in r for r in ranges)
