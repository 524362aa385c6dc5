"""What the guards of one workload share: its state files, read on the request path (tool pins, DLP
fingerprints) and loaded again only when their stat changes (inode, size, mtime), so a request costs one
``stat``, raising while they cannot be read, so the guard fails closed; and its audit log for their events."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from toolhive_py.errors import MCPCTLError
from toolhive_py.proxy.audit import EventLog

if TYPE_CHECKING:
    from typing import Self

__all__ = ["StateGuard", "WatchedFile"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=MCPCTLError)


class WatchedFile(Generic[T, E]):
    """``path`` as ``load`` reads it. ``load`` raises ``error`` for a file it cannot use; ``unreadable`` makes
    that error for a file that cannot even be stat-ed; ``consequence`` says in the log what the guard does."""

    def __init__(self, path: Path, load: Callable[[], T], *, error: type[E], unreadable: Callable[[OSError], E],
                 consequence: str) -> None:
        self.path = path
        self._load = load
        self._error_type = error
        self._unreadable = unreadable
        self._consequence = consequence
        self._stamp: tuple[int, int, int] | None = None
        self._value: T | None = None
        self._error: E | None = None

    def current(self) -> T | None:
        """The file's content now (None when there is no file); raises while it cannot be used."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._value, self._error = None, None, None
            return None
        except OSError as exc:
            self._stamp, self._value = None, None
            self._error = self._unreadable(exc)
            raise self._error from exc
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._value, self._error = self._load(), None
            except self._error_type as exc:
                self._value, self._error = None, exc
                logger.warning("%s; %s", exc.message, self._consequence)
        if self._error is not None:
            raise self._error
        return self._value


class StateGuard:
    """A guard built on a workload's state directory: ``cls(state_dir, policy, audit=…)``, whose events go to
    the workload's audit log, which the supervisor keeps in the same directory (``supervisor.audit_path``)."""

    _events: EventLog | None = None

    @classmethod
    def for_workload(cls, state_dir: Path, policy: Any) -> Self:
        events = EventLog(state_dir / "audit.jsonl", state_dir.name)
        build: Callable[..., Self] = cls  # each guard's own __init__(state_dir, policy, *, audit=…)
        guard = build(state_dir, policy, audit=events.write)
        guard._events = events
        return guard

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
