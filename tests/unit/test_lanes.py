"""The modern lane's pure parts: reading the 2026-07-28 envelope, the revisions a probe found, the HTTP
headers of one request, subscription ids, SSE parsing, and which backends get a lane at all."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.inbound import classify_inbound_request, encode_header_value
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
)

from toolhive_py.proxy.backends import ContainerBackendFactory, HttpBackendFactory, ProcessBackendFactory
from toolhive_py.proxy.lanes import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    MODERN_LANE_ENV,
    PROTOCOL_VERSION_KEY,
    SUBSCRIPTION_ID_KEY,
    HttpLaneFactory,
    SseParser,
    StreamLaneFactory,
    _answering,
    _header_value,
    discover_request,
    envelope_of,
    is_modern_request,
    lane_for,
    routing_headers,
    subscription_of,
    versions_of,
    with_subscription,
)


def _meta(capabilities: Any = None) -> dict[str, Any]:
    return {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_INFO_KEY: {"name": "c", "version": "1"},
            CLIENT_CAPABILITIES_KEY: {} if capabilities is None else capabilities}


def test_the_envelope_keys_are_the_sdks() -> None:
    assert (PROTOCOL_VERSION_KEY, CLIENT_INFO_KEY, CLIENT_CAPABILITIES_KEY, SUBSCRIPTION_ID_KEY) == (
        PROTOCOL_VERSION_META_KEY, CLIENT_INFO_META_KEY, CLIENT_CAPABILITIES_META_KEY, SUBSCRIPTION_ID_META_KEY)


def test_envelope_of_reads_version_info_and_capabilities() -> None:
    assert envelope_of({"_meta": _meta({"sampling": {}})}) == ("2026-07-28", {"name": "c", "version": "1"},
                                                               {"sampling": {}})
    assert envelope_of({"_meta": {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_INFO_KEY: "x"}}) == (
        "2026-07-28", {}, {})
    assert envelope_of({"_meta": {"progressToken": 1}}) is None
    assert envelope_of(None) is None
    assert envelope_of({"_meta": [1]}) is None


def test_initialize_is_never_a_modern_request_even_with_the_envelope() -> None:
    assert is_modern_request({"method": "tools/list", "params": {"_meta": _meta()}})
    assert not is_modern_request({"method": "initialize", "params": {"_meta": _meta()}})
    assert not is_modern_request({"method": "tools/list", "params": {}})


def test_the_discover_probe_is_a_request_the_sdk_accepts_as_2026_07_28() -> None:
    probe = discover_request(7, {"name": "mcpctl-proxy", "version": "1"})
    assert probe["id"] == 7
    assert is_modern_request(probe)
    verdict = classify_inbound_request({"method": probe["method"], "params": probe["params"]})  # as on stdio
    assert getattr(verdict, "protocol_version", None) == "2026-07-28", verdict


def test_versions_of_orders_oldest_first_and_keeps_unknown_ones_last() -> None:
    assert versions_of(None, None) == ()
    assert versions_of("2025-11-25", None) == ("2025-11-25",)
    assert versions_of("2025-11-25", ["2026-07-28"]) == ("2025-11-25", "2026-07-28")
    assert versions_of("2025-06-18", ["2027-01-01", "2026-07-28", "2025-06-18", 3]) == (
        "2025-06-18", "2026-07-28", "2027-01-01")


def test_routing_headers_mirror_the_body_and_pass_only_param_headers_on() -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "échec", "arguments": {"region": "eu"}, "_meta": _meta()}}
    headers = routing_headers(message, {"Mcp-Param-Region": "eu", "Authorization": "Bearer secret",
                                        "Cookie": "x", "mcp-session-id": "s"})
    assert headers == {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                       "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                       "Mcp-Name": encode_header_value("échec"), "Mcp-Param-Region": "eu"}
    # the SDK server accepts the body with these headers (its own validation ladder)
    verdict = classify_inbound_request(message, headers={k.lower(): v for k, v in headers.items()})
    assert getattr(verdict, "protocol_version", None) == "2026-07-28", verdict
    read = routing_headers({"method": "resources/read", "params": {"uri": "test://a b", "_meta": _meta()}}, {})
    assert read["Mcp-Name"] == "test://a b"
    assert "Mcp-Name" not in routing_headers({"method": "tools/list", "params": {"_meta": _meta()}}, {})


@pytest.mark.parametrize("value", ["echo", " padded", "é", "=?base64?abc?=", "tab\there", "test://x/y", ""])
def test_header_values_are_encoded_as_the_sdk_encodes_them(value: str) -> None:
    assert _header_value(value) == encode_header_value(value)


def test_subscription_ids_are_read_and_restamped_on_notifications_and_the_final_result() -> None:
    note: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
            "params": {"_meta": {SUBSCRIPTION_ID_KEY: 41, "other": 1}}}
    assert subscription_of(note) == 41
    restamped = with_subscription(note, "client-7")
    assert restamped["params"]["_meta"] == {SUBSCRIPTION_ID_KEY: "client-7", "other": 1}
    assert note["params"]["_meta"][SUBSCRIPTION_ID_KEY] == 41, "the original is not changed"
    final: dict[str, Any] = {"jsonrpc": "2.0", "id": 41, "result": {"resultType": "complete", "_meta": {SUBSCRIPTION_ID_KEY: 41}}}
    assert subscription_of(final) == 41
    assert with_subscription(final, "c")["result"]["_meta"][SUBSCRIPTION_ID_KEY] == "c"
    assert subscription_of({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}) is None


def test_sse_parser_yields_each_events_message() -> None:
    parser = SseParser()
    lines = ["id: 1", "retry: 1000", "data: ", "", ": a comment", "event: message",
             'data: {"jsonrpc":"2.0",', 'data:"method":"notifications/progress"}', "",
             'data: {"jsonrpc":"2.0","id":3,"result":{}}', "", "data: not json", "", "data: [1]", ""]
    messages = [m for m in map(parser.feed, lines) if m is not None]
    assert messages == [{"jsonrpc": "2.0", "method": "notifications/progress"},
                        {"jsonrpc": "2.0", "id": 3, "result": {}}]


def test_lanes_per_backend_kind() -> None:
    process = ProcessBackendFactory(("python", "server.py"))
    assert lane_for(process) == StreamLaneFactory(process)
    http = lane_for(HttpBackendFactory("", "", 0, "streamable-http", url="http://127.0.0.1:1/mcp"))
    assert isinstance(http, HttpLaneFactory)
    assert isinstance(lane_for(HttpBackendFactory("", "", 0, "sse", url="http://127.0.0.1:1/sse")), str)
    reason = lane_for(ContainerBackendFactory("unix:///run/docker.sock", "mcpctl-x"))
    assert isinstance(reason, str)
    assert "one stream" in reason
    assert isinstance(lane_for(object()), str)


def test_the_modern_lane_can_be_turned_off() -> None:
    process = ProcessBackendFactory(("python", "server.py"))
    assert lane_for(process, {MODERN_LANE_ENV: "off"}) == f"the modern lane is turned off ({MODERN_LANE_ENV}=off)"
    assert lane_for(process, {MODERN_LANE_ENV: "on"}) == StreamLaneFactory(process)


def test_a_posts_response_answers_that_request_whatever_id_it_names() -> None:
    assert _answering({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "bad"}}, 9) == {
        "jsonrpc": "2.0", "id": 9, "error": {"code": -32600, "message": "bad"}}
    same = {"jsonrpc": "2.0", "id": 9, "result": {}}
    assert _answering(same, 9) is same
    note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
    assert _answering(note, 9) is note
