"""A session's replay buffer, bounded by event count and by bytes, so a client whose SSE stream drops can
resume with Last-Event-ID without any session pinning memory: ten 10 MB results do not stay 100 MB.

Event ids are ``STREAM.SEQ``: the stream a resume names is known even after its events are evicted (the
spec asks ids to identify their stream, and forbids replaying another stream's messages on a resume).
Messages are stored as the JSON text sent on the wire, so the byte bound is the real cost.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_EVENTS", "DEFAULT_TOTAL_BYTES", "GET_STREAM", "ByteBudget", "EventStore",
           "StoredEvent", "parse_event_id"]

DEFAULT_MAX_EVENTS: Final = 1000
DEFAULT_MAX_BYTES: Final = 4 * 1024 * 1024
DEFAULT_TOTAL_BYTES: Final = 64 * 1024 * 1024  # every session's buffer together
GET_STREAM: Final = 0  # the session's standalone GET stream; request streams count from 1


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    data: bytes | None  # None for a priming event
    final: bool  # the response that ends its request stream


def parse_event_id(event_id: str) -> tuple[int, int] | None:
    """``(stream, seq)`` of an id this store issued, else None."""
    stream, dot, seq = event_id.partition(".")
    if not dot or not stream.isdigit() or not seq.isdigit() or len(event_id) > 40:
        return None
    return int(stream), int(seq)


class ByteBudget:
    """What all sessions' buffers may hold together: over it, the buffer holding the most gives up its oldest
    events, so many sessions within their own bound still cannot add up to unbounded memory."""

    def __init__(self, limit: int = DEFAULT_TOTAL_BYTES) -> None:
        self.limit = limit
        self.used = 0
        self.stores: set[EventStore] = set()

    def settle(self) -> None:
        while self.used > self.limit and self.stores:
            max(self.stores, key=lambda store: store.bytes).evict_oldest()


class EventStore:
    """The last events of one session, within ``max_events`` and ``max_bytes`` (oldest evicted first; an
    event larger than ``max_bytes`` on its own is sent live but not kept), and within the proxy's ``budget``."""

    def __init__(self, *, max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES,
                 budget: ByteBudget | None = None) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.budget = budget
        if budget is not None:
            budget.stores.add(self)
        self.bytes = 0
        self._events: OrderedDict[int, tuple[int, StoredEvent]] = OrderedDict()
        self._seq = itertools.count(1)
        self._streams = itertools.count(GET_STREAM + 1)
        self.issued_streams = 0

    def __len__(self) -> int:
        return len(self._events)

    def open_stream(self) -> int:
        self.issued_streams = next(self._streams)
        return self.issued_streams

    def append(self, stream: int, data: bytes | None, *, final: bool = False) -> StoredEvent:
        seq = next(self._seq)
        event = StoredEvent(f"{stream}.{seq}", data, final)
        self._events[seq] = (stream, event)
        self._grow(len(data or b""))
        while self._events and (len(self._events) > self.max_events or self.bytes > self.max_bytes):
            self.evict_oldest()
        if self.budget is not None:
            self.budget.settle()
        return event

    def _grow(self, size: int) -> None:
        self.bytes += size
        if self.budget is not None:
            self.budget.used += size

    def evict_oldest(self) -> None:
        if self._events:
            _, (_, evicted) = self._events.popitem(last=False)
            self._grow(-len(evicted.data or b""))

    def is_known_stream(self, stream: int) -> bool:
        """A stream this store opened (its events may all be evicted by now)."""
        return stream == GET_STREAM or 0 < stream <= self.issued_streams

    def after(self, stream: int, seq: int) -> list[StoredEvent]:
        """The events still held of ``stream`` newer than ``seq``, oldest first."""
        newer: list[StoredEvent] = []
        for held_seq in reversed(self._events):
            if held_seq <= seq:
                break
            held_stream, event = self._events[held_seq]
            if held_stream == stream:
                newer.append(event)
        newer.reverse()
        return newer

    def clear(self) -> None:
        """Drop every event, and leave the budget (a closed session's buffer)."""
        self._events.clear()
        self._grow(-self.bytes)
        if self.budget is not None:
            self.budget.stores.discard(self)
