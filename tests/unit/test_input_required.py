"""The proxy's own InputRequiredResult for session-era servers: the sealed requestState, the parked calls, and
the shape of 2026-07-28 results made from session-era ones."""

from __future__ import annotations

import base64
import json

import pytest

from toolhive_py.proxy.http.input_required import (
    ParkedCall,
    ParkedCalls,
    StateSealer,
    input_required_result,
    request_fingerprint,
)
from toolhive_py.proxy.http.stateless import modernize


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


FINGERPRINT = request_fingerprint("tools/call", {"name": "ask", "arguments": {"q": 1}})


def test_a_sealed_state_opens_for_the_same_client_and_request() -> None:
    sealer = StateSealer()
    state = sealer.seal("park-1", client="vscode", fingerprint=FINGERPRINT)
    assert sealer.open(state, client="vscode", fingerprint=FINGERPRINT) == "park-1"


@pytest.mark.parametrize("change", ["append", "flip-body", "flip-tag", "swap-claims"])
def test_a_tampered_state_is_refused(change: str) -> None:
    sealer = StateSealer()
    state = sealer.seal("park-1", client="vscode", fingerprint=FINGERPRINT)
    body, tag = state.split(".")
    if change == "append":
        tampered = state + "-TAMPERED"
    elif change == "flip-body":
        tampered = ("B" if body[0] != "B" else "C") + body[1:] + "." + tag
    elif change == "flip-tag":
        tampered = body + "." + ("B" if tag[0] != "B" else "C") + tag[1:]
    else:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["p"] = "park-2"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        tampered = forged + "." + tag
    assert sealer.open(tampered, client="vscode", fingerprint=FINGERPRINT) is None


def test_a_state_is_bound_to_its_client_its_request_and_this_process() -> None:
    sealer = StateSealer()
    state = sealer.seal("park-1", client="vscode", fingerprint=FINGERPRINT)
    other_request = request_fingerprint("tools/call", {"name": "ask", "arguments": {"q": 2}})
    assert sealer.open(state, client="cursor", fingerprint=FINGERPRINT) is None
    assert sealer.open(state, client="vscode", fingerprint=other_request) is None
    assert StateSealer().open(state, client="vscode", fingerprint=FINGERPRINT) is None


def test_a_state_expires() -> None:
    clock = Clock()
    sealer = StateSealer(ttl=60, clock=clock)
    state = sealer.seal("park-1", client="-", fingerprint=FINGERPRINT)
    clock.now += 59
    assert sealer.open(state, client="-", fingerprint=FINGERPRINT) == "park-1"
    clock.now += 2
    assert sealer.open(state, client="-", fingerprint=FINGERPRINT) is None


@pytest.mark.parametrize("state", [None, 7, "", ".", "a.b.c", "no-dot", "é.é", "x" * 2000, "AAAA.!!!!"])
def test_garbage_is_refused_without_an_exception(state: object) -> None:
    assert StateSealer().open(state, client="-", fingerprint=FINGERPRINT) is None


def test_the_fingerprint_ignores_the_envelope_and_the_retry_fields_only() -> None:
    params = {"name": "ask", "arguments": {"q": 1}}
    retry = {**params, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"},
             "inputResponses": {"k": {}}, "requestState": "s"}
    assert request_fingerprint("tools/call", retry) == request_fingerprint("tools/call", params)
    assert request_fingerprint("prompts/get", params) != request_fingerprint("tools/call", params)
    assert request_fingerprint("tools/call", {**params, "arguments": {"q": 2}}) != request_fingerprint(
        "tools/call", params)


def _call() -> ParkedCall:
    return ParkedCall(session=None, events=None, asked={}, questions={})


def test_parked_calls_are_taken_once_and_expire() -> None:
    clock = Clock()
    parked = ParkedCalls(clock=clock)
    first, _ = parked.park(_call(), ttl=10)
    assert parked.take(first) is not None
    assert parked.take(first) is None
    second, _ = parked.park(_call(), ttl=10)
    clock.now += 11
    assert parked.take(second) is None  # expired: not resumable, but still there to be closed
    assert len(parked.evicted()) == 1
    assert len(parked) == 0


def test_parked_calls_are_bounded_oldest_first() -> None:
    parked = ParkedCalls(limit=2)
    oldest = _call()
    parked.park(oldest, ttl=60)
    parked.park(_call(), ttl=60)
    _, evicted = parked.park(_call(), ttl=60)
    assert evicted == [oldest]
    assert len(parked) == 2


def test_an_input_required_result_asks_every_question_with_its_state() -> None:
    asked = {"mcpctl-1": {"jsonrpc": "2.0", "id": 1, "method": "elicitation/create", "params": {"message": "Name?"}},
             "mcpctl-2": {"jsonrpc": "2.0", "id": 2, "method": "roots/list"}}
    assert input_required_result(asked, "S") == {
        "resultType": "input_required", "requestState": "S",
        "inputRequests": {"mcpctl-1": {"method": "elicitation/create", "params": {"message": "Name?"}},
                          "mcpctl-2": {"method": "roots/list"}}}


def test_modernize_keeps_every_field_and_adds_cache_hints_where_cacheable() -> None:
    read = {"contents": [{"uri": "test://a", "text": "hi", "mimeType": "text/plain"}], "extra": 1}
    assert modernize("resources/read", read) == {**read, "resultType": "complete", "ttlMs": 0,
                                                 "cacheScope": "private"}
    assert modernize("tools/list", {"tools": [], "ttlMs": 500, "cacheScope": "public"})["ttlMs"] == 500
    assert modernize("tools/call", {"content": []}) == {"content": [], "resultType": "complete"}
    asked = {"resultType": "input_required", "inputRequests": {}, "requestState": "S"}
    assert modernize("resources/read", asked) == asked
