"""The proxy's JSON-RPC codes are the protocol's (pinned to the SDK's values), and its Invalid Request
check tells a request whose id cannot be answered from a notification."""

from __future__ import annotations

import json
from typing import Any

import mcp_types
import pytest

from toolhive_py.proxy import jsonrpc


@pytest.mark.parametrize("name", ["PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS",
                                  "INTERNAL_ERROR", "HEADER_MISMATCH"])
def test_standard_codes_are_the_sdks(name: str) -> None:
    assert getattr(jsonrpc, name) == getattr(mcp_types, name)


def test_the_proxys_own_codes_are_in_the_server_error_range_and_distinct() -> None:
    own = [jsonrpc.NOT_READY, jsonrpc.DENIED, jsonrpc.RATE_LIMITED]
    assert all(-32099 <= code <= -32000 for code in own)
    assert len(set(own)) == len(own)


@pytest.mark.parametrize("value", ["a", "", 0, 7, -3, 2**70])
def test_strings_and_integers_are_request_ids(value: Any) -> None:
    assert jsonrpc.is_request_id(value)


@pytest.mark.parametrize("value", [None, True, False, 1.0, 1.5, {}, {"a": 1}, [1]])
def test_nothing_else_is_a_request_id(value: Any) -> None:
    assert not jsonrpc.is_request_id(value)


@pytest.mark.parametrize("message", [
    {"jsonrpc": "2.0", "id": None, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": True, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 1, "method": 5},
    ["not", "an", "object"],
])
def test_requests_with_unanswerable_ids_or_methods_are_invalid(message: Any) -> None:
    assert jsonrpc.invalid_request_reason(message) is not None


@pytest.mark.parametrize("message", [
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": "r-1", "method": "tools/list"},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}},
    {"jsonrpc": "2.0", "id": "mcpctl-1", "result": {}},
])
def test_requests_notifications_and_responses_pass(message: Any) -> None:
    assert jsonrpc.invalid_request_reason(message) is None


def test_an_error_message_carries_data_only_when_given() -> None:
    assert jsonrpc.error_message(None, -32600, "no") == {"jsonrpc": "2.0", "id": None,
                                                         "error": {"code": -32600, "message": "no"}}
    assert jsonrpc.error_message(3, -32602, "no", {"k": 1})["error"]["data"] == {"k": 1}


@pytest.mark.parametrize(("body", "invalid"), [
    (rb'{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"\ud800"}}', True),
    (rb'{"jsonrpc":"2.0","id":1,"method":"x","params":{"\uDFFF":1}}', True),
    (rb'[{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"\udc00x"}}]', True),
    (rb'[{"jsonrpc":"2.0","id":1,"method":"x"},{"jsonrpc":"2.0","id":null,"method":"x"}]', True),
    (rb'{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"\ud83d\ude00"}}', False),
    (rb'{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"\\ud800"}}', False),
    (rb'{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"caf\u00e9"}}', False),
    (rb'[]', False),
])
def test_a_body_is_refused_for_a_lone_surrogate_or_any_invalid_message(body: bytes, invalid: bool) -> None:
    assert (jsonrpc.invalid_body_reason(body, json.loads(body)) is not None) is invalid
