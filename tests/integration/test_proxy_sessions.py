"""The proxy's own session-era Streamable HTTP transport, where it goes beyond what the other front tests
cover: JSON-RPC batches (2025-03-26 only) and the one standalone stream a session may hold."""

from __future__ import annotations

import httpx

from tests.integration.helpers import INIT, JSON_AND_SSE, sse_messages


def _open(proxy: str, version: str) -> dict[str, str]:
    opened = httpx.post(proxy + "/mcp", json={**INIT, "params": {**INIT["params"], "protocolVersion": version}},
                        headers=JSON_AND_SSE)
    assert opened.status_code == 200, opened.text
    headers = {**JSON_AND_SSE, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": version}
    httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def _echo(request_id: int, text: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}}}


def test_a_2025_03_26_batch_is_answered_on_one_stream_that_ends_with_its_last_answer(proxy: str) -> None:
    headers = _open(proxy, "2025-03-26")
    batch = [_echo(1, "a"), {"jsonrpc": "2.0", "method": "notifications/progress",
                              "params": {"progressToken": "x", "progress": 1}}, _echo(2, "b")]
    answered = httpx.post(proxy + "/mcp", json=batch, headers=headers, timeout=30)
    assert answered.status_code == 200
    texts = {m["id"]: m["result"]["content"][0]["text"] for m in sse_messages(answered.text)}
    assert texts == {1: "a", 2: "b"}
    notified = httpx.post(proxy + "/mcp", headers=headers, json=[
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}])
    assert notified.status_code == 202
    with_initialize = httpx.post(proxy + "/mcp", json=[INIT], headers=headers)
    assert with_initialize.status_code == 400
    assert httpx.post(proxy + "/mcp", json=[], headers=headers).status_code == 400


def test_later_revisions_have_no_batches(proxy: str) -> None:
    headers = _open(proxy, "2025-06-18")
    assert httpx.post(proxy + "/mcp", json=[_echo(1, "a")], headers=headers).status_code == 400


def test_a_session_holds_one_standalone_stream(proxy: str) -> None:
    headers = _open(proxy, "2025-11-25")
    with httpx.stream("GET", proxy + "/mcp", headers=headers, timeout=10) as first:
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("text/event-stream")
        second = httpx.get(proxy + "/mcp", headers=headers, timeout=10)
        assert second.status_code == 409
    missing = httpx.get(proxy + "/mcp", headers={"Accept": "text/event-stream"})
    assert missing.status_code == 400
