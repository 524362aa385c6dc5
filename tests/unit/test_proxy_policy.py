"""The tool policy, the rate limiter and the verdict on a ``tools/call``: pure decisions."""

from __future__ import annotations

from typing import Any

import pytest

from toolhive_py.errors import UsageError
from toolhive_py.proxy.policy import RateLimit, RateLimiter, ToolPolicy, check_tool_call, parse_rate_limit


@pytest.mark.parametrize(("text", "limit"), [
    ("60/m", RateLimit(60, 60.0)), ("10/s", RateLimit(10, 1.0)), ("1000/h", RateLimit(1000, 3600.0)),
    ("5/10s", RateLimit(5, 10.0)), (" 3 / 2 m ", RateLimit(3, 120.0)),
])
def test_rate_limits_parse(text: str, limit: RateLimit) -> None:
    assert parse_rate_limit(text) == limit


@pytest.mark.parametrize("text", ["", "60", "0/m", "-1/m", "60/d", "m/60", "1.5/s"])
def test_bad_rate_limits_are_usage_errors_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_rate_limit(text)
    assert raised.value.hint


@pytest.mark.parametrize("text", ["60/m", "10/s", "1000/h", "5/10s"])
def test_a_rate_limit_reads_back_as_written(text: str) -> None:
    assert str(parse_rate_limit(text)) == text


def test_an_empty_policy_is_open_and_permits_everything() -> None:
    policy = ToolPolicy()
    assert policy.is_open
    assert policy.permits("anything")


def test_deny_wins_over_allow() -> None:
    policy = ToolPolicy(allow=frozenset({"a", "b"}), deny=frozenset({"b"}))
    assert [policy.permits(t) for t in ("a", "b", "c")] == [True, False, False]
    assert not policy.is_open


def test_tools_list_shows_only_permitted_tools() -> None:
    policy = ToolPolicy(deny=frozenset({"rm"}))
    tools = [{"name": "ls"}, {"name": "rm"}, "not-a-dict"]
    assert policy.filter_tools(tools) == [{"name": "ls"}, "not-a-dict"]


def test_a_policy_survives_its_label_round_trip() -> None:
    policy = ToolPolicy.from_options("a, b,", "c", "5/10s")
    assert policy == ToolPolicy(frozenset({"a", "b"}), frozenset({"c"}), RateLimit(5, 10.0))
    assert ToolPolicy.from_json(policy.to_json()) == policy
    assert ToolPolicy.from_json(None) == ToolPolicy.from_json("") == ToolPolicy()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_allows_a_burst_then_refills_evenly_per_tool() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(2, 60.0), clock=clock)
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False]
    assert limiter.allow("b"), "each tool has its own bucket"
    clock.now += 29.0
    assert not limiter.allow("a"), "half a token after 29 s of a 2/60 s bucket"
    clock.now += 1.5
    assert limiter.allow("a")
    assert not limiter.allow("a")
    clock.now += 3600
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False], "never above the limit"


@pytest.mark.parametrize("params", [{"name": ["echo"]}, {"name": 7}, {"name": None}, {"arguments": {}},
                                    {"name": {"name": "echo"}}, None, ["echo"], "echo"])
def test_a_call_without_a_string_name_is_invalid_params_even_under_an_open_policy(params: Any) -> None:
    for policy in (ToolPolicy(), ToolPolicy(deny=frozenset({"echo"}))):
        refusal = check_tool_call(policy, None, params)
        assert refusal is not None
        assert (refusal.code, refusal.outcome) == (-32602, "invalid")


def test_a_call_is_denied_then_rate_limited_then_relayed() -> None:
    clock = Clock()
    policy = ToolPolicy(allow=frozenset({"echo"}), rate_limit=RateLimit(1, 60.0))
    limiter = RateLimiter(RateLimit(1, 60.0), clock=clock)
    denied = check_tool_call(policy, limiter, {"name": "rm"})
    assert denied is not None
    assert (denied.code, denied.outcome) == (-32003, "denied")
    assert check_tool_call(policy, limiter, {"name": "echo", "arguments": {"x": 1}}) is None
    limited = check_tool_call(policy, limiter, {"name": "echo"})
    assert limited is not None
    assert (limited.code, limited.outcome) == (-32029, "rate_limited")
    assert "1/m" in limited.message


def test_a_denied_call_does_not_spend_a_token() -> None:
    limiter = RateLimiter(RateLimit(1, 60.0), clock=Clock())
    policy = ToolPolicy(deny=frozenset({"rm"}), rate_limit=RateLimit(1, 60.0))
    assert check_tool_call(policy, limiter, {"name": "rm"}) is not None
    assert check_tool_call(policy, limiter, {"name": "rm"}) is not None
    assert check_tool_call(policy, limiter, {"name": "echo"}) is None
