"""The proxy's event store: what a resumed stream replays and follows."""

from __future__ import annotations

from typing import Any

import anyio

from toolhive_py.proxy.events import MemoryEventStore


def _progress(step: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "t", "progress": step}}


def test_a_follower_gets_what_is_stored_while_it_replays_and_nothing_from_other_streams() -> None:
    async def scenario() -> list[int]:
        store = MemoryEventStore()
        last = store.store_plain("7", _progress(0))
        for step in (1, 2):
            store.store_plain("7", _progress(step))
        store.store_plain("8", _progress(99))
        seen: list[int] = []
        async for _, message in store.follow(last, "7"):
            assert isinstance(message, dict)
            if "method" not in message:
                break
            seen.append(message["params"]["progress"])
            if len(seen) == 1:
                await anyio.sleep(0)  # the backend keeps sending while the replay is on its way out
                store.store_plain("7", _progress(3))
                store.store_plain("7", None)
                store.store_plain("7", {"jsonrpc": "2.0", "id": 7, "result": {}})
        return seen

    assert anyio.run(scenario) == [1, 2, 3]


def test_a_follower_waits_for_events_stored_later() -> None:
    async def scenario() -> list[str]:
        store = MemoryEventStore()
        last = store.store_plain("7", None)
        ids: list[str] = []

        async def follow() -> None:
            async for event_id, _ in store.follow(last, "7"):
                ids.append(event_id)
                if len(ids) == 2:
                    return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow)
            await anyio.sleep(0.01)
            store.store_plain("7", _progress(1))
            await anyio.sleep(0.01)
            store.store_plain("7", _progress(2))
        return ids

    assert anyio.run(scenario) == ["2", "3"]


def test_unknown_and_evicted_ids_name_no_stream() -> None:
    async def scenario() -> MemoryEventStore:
        store = MemoryEventStore(capacity=2)
        for step in range(3):
            store.store_plain("7", _progress(step))
        return store

    store = anyio.run(scenario)
    assert store.stream_of("1") is None
    assert store.stream_of("not-a-number") is None
    assert store.stream_of("3") == "7"
