"""The session replay buffer: bounded by events and by bytes, ids that name their stream, replays that never
cross streams."""

from __future__ import annotations

from toolhive_py.proxy.events import GET_STREAM, ByteBudget, EventStore, parse_event_id

MB = 1024 * 1024


def test_ten_large_results_do_not_pin_their_total() -> None:
    store = EventStore(max_bytes=4 * MB)
    for _ in range(10):
        store.append(store.open_stream(), b"x" * (MB + 1), final=True)
    assert store.bytes <= 4 * MB
    assert len(store) == 3, "the oldest are evicted first"


def test_an_event_over_the_byte_bound_is_not_kept() -> None:
    store = EventStore(max_bytes=MB)
    stream = store.open_stream()
    store.append(stream, b"small")
    store.append(stream, b"x" * (MB + 1), final=True)
    assert store.bytes == 0
    assert store.after(stream, 0) == []


def test_the_count_bound_holds_too() -> None:
    store = EventStore(max_events=3)
    stream = store.open_stream()
    ids = [store.append(stream, b"{}").event_id for _ in range(5)]
    assert [event.event_id for event in store.after(stream, 0)] == ids[2:]


def test_a_replay_holds_only_its_own_streams_newer_events() -> None:
    store = EventStore()
    first, second = store.open_stream(), store.open_stream()
    start = store.append(first, None)
    store.append(second, b"other")
    mine = store.append(first, b"mine", final=True)
    parsed = parse_event_id(start.event_id)
    assert parsed == (first, 1)
    assert store.after(*parsed) == [mine]
    assert store.after(GET_STREAM, 0) == []


def test_ids_name_their_stream_even_once_evicted() -> None:
    store = EventStore(max_events=1)
    stream = store.open_stream()
    evicted = store.append(stream, b"a")
    store.append(stream, b"b")
    parsed = parse_event_id(evicted.event_id)
    assert parsed is not None
    assert store.is_known_stream(parsed[0])
    assert not store.is_known_stream(stream + 1)
    assert store.is_known_stream(GET_STREAM)


def test_ids_not_issued_by_a_store_parse_to_nothing() -> None:
    for given in ("", "7", "a.b", "1.", ".1", "-1.2", "1.2.3", "9" * 50 + ".1"):
        assert parse_event_id(given) is None, given


def test_sessions_within_their_own_bound_cannot_add_up_past_the_proxys() -> None:
    budget = ByteBudget(limit=3 * MB)
    stores = [EventStore(max_bytes=2 * MB, budget=budget) for _ in range(4)]
    for store in stores:
        store.append(store.open_stream(), b"x" * MB)
        store.append(store.open_stream(), b"y" * (MB // 2))
    assert budget.used <= 3 * MB
    assert budget.used == sum(store.bytes for store in stores)
    assert all(store.bytes <= 2 * MB for store in stores)
    stores[0].clear()
    assert budget.used == sum(store.bytes for store in stores[1:])
    assert stores[0] not in budget.stores
