"""The proxy's HTTP face refuses what a web page or a broken client sends, with the right status and a
JSON-RPC error body, and keeps serving everyone else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.client.client import Client

from tests.integration.conftest import start_proxy

pytestmark = pytest.mark.anyio

JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}


def test_foreign_origins_and_hosts_are_refused(proxy: str) -> None:
    for path in ("/mcp", "/sse", "/health/live", "/metrics"):
        assert httpx.get(proxy + path, headers={"Origin": "http://evil.example"}).status_code == 403
        assert httpx.get(proxy + path, headers={"Host": "evil.example"}).status_code == 421
    port = proxy.rsplit(":", 1)[1]
    assert httpx.get(proxy + "/health/live", headers={"Origin": f"http://localhost:{port}"}).status_code == 200
    for page in ("http://localhost", "http://127.0.0.1", "http://localhost:80", f"http://localhost:{int(port) + 1}"):
        for path in ("/mcp", "/sse", "/metrics"):
            assert httpx.get(proxy + path, headers={"Origin": page}).status_code == 403, (page, path)
        posted = httpx.post(proxy + "/mcp", json=INIT, headers={**JSON_AND_SSE, "Origin": page})
        assert posted.status_code == 403, "a page on another local port cannot open a session"


def test_oversized_and_malformed_bodies_get_errors_not_crashes(proxy: str) -> None:
    too_big = httpx.post(proxy + "/mcp", content=b"{" + b" " * (4 * 1024 * 1024 + 1), headers=JSON_AND_SSE)
    assert too_big.status_code == 413
    broken = httpx.post(proxy + "/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=JSON_AND_SSE)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == -32700
    not_rpc = httpx.post(proxy + "/mcp", json={"hello": "world"}, headers=JSON_AND_SSE)
    assert not_rpc.status_code == 400
    assert "error" in not_rpc.json()
    unknown = httpx.post(proxy + "/mcp", json=INIT, headers={**JSON_AND_SSE, "Mcp-Session-Id": "nope"})
    assert unknown.status_code == 404
    modern_get = httpx.get(proxy + "/mcp", headers={"MCP-Protocol-Version": "2026-07-28"})
    assert modern_get.status_code == 405
    modern_broken = httpx.post(proxy + "/mcp", content=b"[[[", headers={**JSON_AND_SSE,
                                                                        "MCP-Protocol-Version": "2026-07-28"})
    assert modern_broken.json()["error"]["code"] == -32700
    mismatch = httpx.post(proxy + "/mcp", headers={**JSON_AND_SSE, "MCP-Protocol-Version": "2026-07-28",
                                                   "Mcp-Method": "tools/list"},
                          json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo"}})
    assert mismatch.status_code == 400
    assert mismatch.json()["id"] == 7
    assert httpx.get(proxy + "/health/ready").status_code == 200


def test_session_lifecycle_over_raw_http(proxy: str) -> None:
    opened = httpx.post(proxy + "/mcp", json=INIT, headers=JSON_AND_SSE)
    assert opened.status_code == 200
    session = opened.headers["mcp-session-id"]
    headers = {**JSON_AND_SSE, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    notified = httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                          headers=headers)
    assert notified.status_code == 202
    unknown_method = httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "no/such"},
                                headers=headers)
    assert '"code":-32601' in unknown_method.text.replace(" ", "")
    event_id = next(line.split(":", 1)[1].strip() for line in unknown_method.text.splitlines()
                    if line.startswith("id:"))
    # A Last-Event-ID on anything but a GET resumes nothing: the DELETE ends the session.
    assert httpx.delete(proxy + "/mcp", headers={**headers, "Last-Event-ID": event_id}).status_code == 200
    after = httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers=headers)
    assert after.status_code == 404


def _open_session(proxy: str) -> dict[str, str]:
    initialize = {**INIT, "params": {**INIT["params"], "protocolVersion": "2025-11-25"}}  # type: ignore[dict-item]
    opened = httpx.post(proxy + "/mcp", json=initialize, headers=JSON_AND_SSE)
    assert opened.status_code == 200
    headers = {**JSON_AND_SSE, "Mcp-Session-Id": opened.headers["mcp-session-id"],
               "MCP-Protocol-Version": "2025-11-25"}
    httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def _events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.partition(": ")[::2] for line in block.splitlines())
        if fields:
            events.append(fields)
    return events


def test_a_request_stream_primes_numbers_its_events_and_resumes_after_a_drop(proxy: str) -> None:
    headers = _open_session(proxy)
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "progress_echo", "arguments": {"text": "p", "steps": 40}, "_meta": {"progressToken": "t"}}}
    seen: list[dict[str, str]] = []
    with httpx.stream("POST", proxy + "/mcp", json=call, headers=headers) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert streamed.headers["mcp-session-id"] == headers["Mcp-Session-Id"]
        buffer = ""
        for chunk in streamed.iter_text():
            buffer += chunk
            seen = _events(buffer.rsplit("\r\n\r\n", 1)[0]) if "\r\n\r\n" in buffer else []
            if len(seen) >= 3:
                break  # the client drops the stream mid-request
    priming, *numbered = seen
    assert priming["data"] == ""
    assert priming["retry"] == "1000"
    assert priming["id"]
    assert all(event["id"] and "notifications/progress" in event["data"] for event in numbered)
    rest: list[dict[str, str]] = []
    with httpx.stream("GET", proxy + "/mcp", headers={**headers, "Last-Event-ID": numbered[-1]["id"]},
                      timeout=10) as resumed:
        buffer = ""
        for chunk in resumed.iter_text():  # a resumed stream stays open; the client ends it at the result
            buffer += chunk
            rest = [event for event in _events(buffer) if event.get("data")]
            if rest and '"result"' in rest[-1]["data"]:
                break
    progress = [event for event in rest if "notifications/progress" in event["data"]]
    assert len(numbered) + len(progress) == 40, "every progress event arrives once, before or after the drop"
    assert '"result"' in rest[-1]["data"]
    assert '"text":"p"' in rest[-1]["data"].replace(" ", "")


def test_requests_the_proxy_does_not_stream_itself_still_get_the_transports_answers(proxy: str) -> None:
    headers = _open_session(proxy)
    batch = httpx.post(proxy + "/mcp", headers=headers, json=[{"jsonrpc": "2.0", "id": 4, "method": "tools/list"}])
    assert batch.status_code == 400, "the 2025-11-25 revision has no batches; the SDK transport says so"
    json_only = httpx.post(proxy + "/mcp", headers={**headers, "Accept": "application/json"},
                           json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"})
    assert json_only.status_code == 406
    wrong_type = httpx.post(proxy + "/mcp", headers={**headers, "Content-Type": "text/plain"},
                            content=b'{"jsonrpc": "2.0", "id": 6, "method": "tools/list"}')
    assert wrong_type.status_code == 400
    assert "content-type" in wrong_type.text.lower()


async def test_modern_discover_answers_from_the_servers_initialize(proxy: str) -> None:
    async with Client(proxy + "/mcp", mode="auto") as client:
        assert client.session.discover_result is not None
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"echo", "ask", "progress_echo"} <= tools
        assert (await client.call_tool("echo", {"text": "modern"})).content[0].text == "modern"  # type: ignore[union-attr]


async def test_modern_clients_listen_for_list_changes_through_the_proxy(proxy: str) -> None:
    async with Client(proxy + "/mcp", mode="auto") as listener, Client(proxy + "/mcp", mode="auto") as changer:
        async with listener.listen(tools_list_changed=True, prompts_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed is True
            assert subscription.honored.prompts_list_changed is True
            await changer.call_tool("change_tools", {})
            with anyio.fail_after(10):
                event = await subscription.__anext__()
            assert type(event).__name__ == "ToolsListChanged"


async def test_a_listen_stream_gets_updates_of_the_resources_it_subscribed_to(proxy: str) -> None:
    """Relayed natively (the server speaks 2026-07-28): the server holds the stream's subscription itself."""
    async with Client(proxy + "/mcp", mode="auto") as listener, Client(proxy + "/mcp", mode="auto") as other:
        async with listener.listen(resource_subscriptions=["memo://watched"]) as subscription:
            assert list(subscription.honored.resource_subscriptions or []) == ["memo://watched"]
            await other.call_tool("touch", {"uri": "memo://elsewhere"})
            await other.call_tool("touch", {"uri": "memo://watched"})
            with anyio.fail_after(10):
                event = await subscription.__anext__()
            assert (type(event).__name__, str(getattr(event, "uri", ""))) == ("ResourceUpdated", "memo://watched")


@pytest.fixture
def translating_proxy(tmp_path: Path) -> Iterator[str]:
    """A proxy without the 2026-07-28 lane: every 2026-07-28 request is translated onto the session-era one."""
    yield from start_proxy(tmp_path, env={"MCPCTL_PROXY_MODERN_LANE": "off"})


async def test_a_translated_listen_stream_holds_its_resource_subscriptions_while_it_is_open(
        translating_proxy: str) -> None:
    """Translated: the proxy subscribes on the stream's behalf at the session-era server, and unsubscribes
    when the stream ends."""
    proxy = translating_proxy
    async with Client(proxy + "/mcp", mode="auto") as listener, Client(proxy + "/mcp", mode="auto") as other:
        async with listener.listen(resource_subscriptions=["memo://watched"]) as subscription:
            assert list(subscription.honored.resource_subscriptions or []) == ["memo://watched"]
            assert (await other.call_tool("subscriptions", {})).structured_content == {"result": ["memo://watched"]}
            await other.call_tool("touch", {"uri": "memo://elsewhere"})
            await other.call_tool("touch", {"uri": "memo://watched"})
            with anyio.fail_after(10):
                event = await subscription.__anext__()
            assert (type(event).__name__, str(getattr(event, "uri", ""))) == ("ResourceUpdated", "memo://watched")
        with anyio.fail_after(10):
            while (await other.call_tool("subscriptions", {})).structured_content != {"result": []}:
                await anyio.sleep(0.05)


async def test_a_translated_listen_stream_gets_list_changes(translating_proxy: str) -> None:
    async with Client(translating_proxy + "/mcp", mode="auto") as listener, \
            Client(translating_proxy + "/mcp", mode="auto") as changer:
        async with listener.listen(tools_list_changed=True) as subscription:
            await changer.call_tool("change_tools", {})
            with anyio.fail_after(10):
                event = await subscription.__anext__()
            assert type(event).__name__ == "ToolsListChanged"


def test_listen_needs_a_stream_and_stamps_every_frame(proxy: str) -> None:
    headers = {**JSON_AND_SSE, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {}}
    listen = {"jsonrpc": "2.0", "id": "sub-1", "method": "subscriptions/listen",
              "params": {"notifications": {"toolsListChanged": True, "madeUp": True}, "_meta": meta}}
    refused = httpx.post(proxy + "/mcp", json=listen, headers={**headers, "Accept": "application/json"})
    assert refused.json()["error"]["code"] == -32600
    with httpx.stream("POST", proxy + "/mcp", json=listen, headers=headers, timeout=10) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        ack = next(json.loads(line[5:]) for line in lines if line.startswith("data:"))
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"] == {"notifications": {"toolsListChanged": True},
                             "_meta": {"io.modelcontextprotocol/subscriptionId": "sub-1"}}
