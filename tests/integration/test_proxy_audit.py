"""The audit log through a live proxy: a tool that fails is recorded as such, and every request the HTTP
front refuses is recorded too, by why it was refused and never with a value from its body."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.helpers import JSON_AND_SSE, audit_records, open_session, sse_messages

SECRET = "hunter2-do-not-log"


def test_a_tool_call_that_reports_an_error_is_audited_as_tool_error(proxy: str, tmp_path: Path) -> None:
    headers = open_session(proxy)
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}}
    (reply,) = sse_messages(httpx.post(proxy + "/mcp", headers=headers, json=body).text)
    assert reply["result"]["isError"] is True
    ok = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}}
    httpx.post(proxy + "/mcp", headers=headers, json=ok)
    calls = [(r["target"], r["outcome"]) for r in audit_records(tmp_path) if r["method"] == "tools/call"]
    assert calls == [("no_such_tool", "tool_error"), ("echo", "ok")]
    assert 'mcpctl_proxy_errors_total{kind="tool_error"} 1' in httpx.get(proxy + "/metrics").text


def test_every_refusal_of_the_front_is_audited_without_values(proxy: str, tmp_path: Path) -> None:
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo",
                                                                         "arguments": {"text": SECRET}}}
    modern = {**JSON_AND_SSE, "MCP-Protocol-Version": "2026-07-28"}
    refused = [
        (httpx.post(proxy + "/mcp", json=call, headers={**JSON_AND_SSE, "Origin": "http://evil.example"}), 403),
        (httpx.post(proxy + "/mcp", json=call, headers={**JSON_AND_SSE, "Host": "evil.example"}), 421),
        (httpx.get(proxy + "/metrics", headers={"Origin": "http://localhost"}), 403),
        (httpx.post(proxy + "/mcp", content=b"{" + SECRET.encode() * 300_000, headers=JSON_AND_SSE), 413),
        (httpx.post(proxy + "/mcp", json=call, headers={**modern, "Mcp-Method": "tools/list"}), 400),
        (httpx.post(proxy + "/mcp", content=b'{"x": "' + SECRET.encode(), headers=modern), 400),
        (httpx.post(proxy + "/mcp", json=call, headers={**JSON_AND_SSE, "Mcp-Session-Id": "nope"}), 404),
        (httpx.post(proxy + "/mcp", json=[call], headers=open_session(proxy)), 400),
    ]
    assert [answer.status_code for answer, _ in refused] == [status for _, status in refused]
    not_refusals = [httpx.get(proxy + "/health/ready"), httpx.get(proxy + "/nowhere")]
    assert [answer.status_code for answer in not_refusals] == [200, 404]
    records = [r for r in audit_records(tmp_path) if r["method"] != "initialize"]
    assert [(r["method"], r["outcome"]) for r in records] == [
        ("", "refused"), ("", "refused"), ("", "refused"), ("", "too_large"), ("tools/call", "invalid"),
        ("", "invalid"), ("tools/call", "invalid"), ("", "invalid")]
    assert all(r["server"] == "routing" and r["time"] and r["trace_id"] for r in records)
    assert SECRET not in (tmp_path / "audit.jsonl").read_text()
