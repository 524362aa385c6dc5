"""The proxy's HTTP face refuses what a web page or a broken client sends, with the right status and a
JSON-RPC error body, and keeps serving everyone else."""

from __future__ import annotations

import httpx
import pytest
from mcp.client.client import Client

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
    assert httpx.delete(proxy + "/mcp", headers=headers).status_code == 200
    after = httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers=headers)
    assert after.status_code == 404


async def test_modern_discover_answers_from_the_servers_initialize(proxy: str) -> None:
    async with Client(proxy + "/mcp", mode="auto") as client:
        assert client.session.discover_result is not None  # type: ignore[attr-defined]
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"echo", "ask", "progress_echo"} <= tools
        assert (await client.call_tool("echo", {"text": "modern"})).content[0].text == "modern"  # type: ignore[union-attr]
