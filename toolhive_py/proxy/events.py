"""A bounded in-memory event store, so a client whose SSE stream drops can resume with Last-Event-ID."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import anyio
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter

__all__ = ["MemoryEventStore"]

StoredMessage = JSONRPCMessage | dict[str, Any] | None


class MemoryEventStore(EventStore):
    """Keeps the last ``capacity`` events of one session; older ones are gone, as with any bounded replay.

    Holds the SDK transport's typed messages and the proxy's own plain ones (`store_plain`, for the
    streams it writes itself); a plain one is typed only if a client ever resumes past it.
    """

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._events: OrderedDict[int, tuple[StreamId, StoredMessage]] = OrderedDict()
        self._ids = itertools.count(1)
        self._stored = anyio.Event()

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        return self.store_plain(stream_id, message)

    def store_plain(self, stream_id: StreamId, message: StoredMessage) -> EventId:
        event_id = next(self._ids)
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)
        self._stored.set()
        self._stored = anyio.Event()
        return str(event_id)

    def stream_of(self, event_id: EventId) -> StreamId | None:
        """The stream an event still held belongs to; None for an unknown or evicted id."""
        try:
            held = self._events.get(int(event_id))
        except ValueError:
            return None
        return held[0] if held is not None else None

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        stream_id = self.stream_of(last_event_id)
        if stream_id is None:
            return None
        for event_id, (stream, message) in self._newer(int(last_event_id)):
            if stream == stream_id and message is not None:
                typed = jsonrpc_message_adapter.validate_python(message) if isinstance(message, dict) else message
                await send_callback(EventMessage(typed, str(event_id)))
        return stream_id

    async def follow(self, last_event_id: EventId, stream_id: StreamId) -> AsyncIterator[tuple[EventId, StoredMessage]]:
        """Every message of ``stream_id`` after ``last_event_id``: those held, then each one as it is stored.

        Replay and live tail read the same store, so nothing stored in between is missed (the SDK's own
        resume registers its live stream only after replaying, and loses what arrives in that window).
        """
        after = int(last_event_id)
        while True:
            stored = self._stored
            for event_id, (stream, message) in self._newer(after):
                after = event_id
                if stream == stream_id and message is not None:
                    yield str(event_id), message
            await stored.wait()

    def _newer(self, after: int) -> list[tuple[int, tuple[StreamId, StoredMessage]]]:
        newer = []
        for event_id in reversed(self._events):
            if event_id <= after:
                break
            newer.append((event_id, self._events[event_id]))
        newer.reverse()
        return newer
