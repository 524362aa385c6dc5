"""A bounded in-memory event store, so a client whose SSE stream drops can resume with Last-Event-ID."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter

__all__ = ["MemoryEventStore"]


class MemoryEventStore(EventStore):
    """Keeps the last ``capacity`` events of one session; older ones are gone, as with any bounded replay.

    Holds the SDK transport's typed messages and the proxy's own plain ones (`store_plain`, for the
    streams it writes itself); a plain one is typed only if a client ever resumes past it.
    """

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._events: OrderedDict[int, tuple[StreamId, JSONRPCMessage | dict[str, Any] | None]] = OrderedDict()
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        return self.store_plain(stream_id, message)

    def store_plain(self, stream_id: StreamId, message: JSONRPCMessage | dict[str, Any] | None) -> EventId:
        event_id = next(self._ids)
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)
        return str(event_id)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        try:
            after = int(last_event_id)
        except ValueError:
            return None
        if after not in self._events:
            return None
        stream_id = self._events[after][0]
        for event_id, (stream, message) in list(self._events.items()):
            if event_id > after and stream == stream_id and message is not None:
                typed = jsonrpc_message_adapter.validate_python(message) if isinstance(message, dict) else message
                await send_callback(EventMessage(typed, str(event_id)))
        return stream_id
