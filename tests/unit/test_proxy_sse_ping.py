"""An open SSE stream with nothing to send gets a comment line now and then, so a dead connection is noticed."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import anyio
import pytest

from toolhive_py.proxy.http.sessions import receive_or_ping

pytestmark = pytest.mark.anyio


async def test_an_idle_stream_gets_a_ping_and_a_waiting_item_comes_at_once() -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    sender, receiver = anyio.create_memory_object_stream[str](1)
    assert await receive_or_ping(receiver, send, seconds=0.05) is None
    assert sent == [{"type": "http.response.body", "body": b": ping\r\n\r\n", "more_body": True}]
    sender.send_nowait("event")
    assert await receive_or_ping(receiver, send, seconds=5) == "event"
    assert len(sent) == 1
    sender.close()
    with pytest.raises(anyio.EndOfStream):
        await receive_or_ping(receiver, send, seconds=5)
    receiver.close()
