"""Resource subscriptions of many sessions on one server connection: the server is asked on the first
subscriber and told on the last one leaving; nobody's leaving ends another's subscription."""

from __future__ import annotations

from toolhive_py.proxy.subscriptions import SubscriptionTable


def test_only_the_first_subscriber_asks_the_server() -> None:
    table = SubscriptionTable()
    assert table.add("memo://a", "s1")
    assert not table.add("memo://a", "s2")
    assert not table.add("memo://a", "s1"), "subscribing twice is one subscription"
    assert table.subscribers("memo://a") == frozenset({"s1", "s2"})


def test_only_the_last_unsubscriber_tells_the_server() -> None:
    table = SubscriptionTable()
    table.add("memo://a", "s1")
    table.add("memo://a", "s2")
    assert not table.remove("memo://a", "s1")
    assert table.subscribers("memo://a") == frozenset({"s2"})
    assert table.remove("memo://a", "s2")
    assert table.subscribers("memo://a") == frozenset()
    assert table.uris() == []


def test_unsubscribing_what_was_never_subscribed_changes_nothing() -> None:
    table = SubscriptionTable()
    table.add("memo://a", "s1")
    assert not table.remove("memo://a", "s2")
    assert not table.remove("memo://b", "s1")
    assert table.subscribers("memo://a") == frozenset({"s1"})


def test_a_session_leaving_gives_back_only_the_uris_nobody_else_wants() -> None:
    table = SubscriptionTable()
    table.add("memo://shared", "s1")
    table.add("memo://shared", "s2")
    table.add("memo://mine", "s1")
    assert table.drop_session("s1") == ["memo://mine"]
    assert table.uris() == ["memo://shared"]
    assert table.subscribers("memo://shared") == frozenset({"s2"})
    assert table.drop_session("s1") == []


def test_uris_are_what_a_restarted_server_is_asked_for_again_in_order() -> None:
    table = SubscriptionTable()
    for uri in ("memo://c", "memo://a", "memo://b"):
        table.add(uri, "s1")
    assert table.uris() == ["memo://a", "memo://b", "memo://c"]
