"""Requests no JSON-RPC peer may send get Invalid Request (-32600) from the proxy, on every transport, are
audited, and leave the session and the server working: a lone surrogate in a string (not Unicode, so it
cannot be written on to the server) and request ids that are null, booleans, floats or objects (which the
transports took for notifications and never answered)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import JSON_AND_SSE, audit_records, open_session, sse_messages

SURROGATE = (b'{"jsonrpc":"2.0","id":5,"method":"tools/call",'
             b'"params":{"name":"echo","arguments":{"text":"\\ud800"}}}')
MODERN = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}


def echo_works(proxy: str, headers: dict[str, str]) -> bool:
    answer = httpx.post(proxy + "/mcp", headers=headers, json={
        "jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "ok"}}})
    return any("result" in m and m["result"]["content"][0]["text"] == "ok" for m in sse_messages(answer.text))


@pytest.mark.parametrize("accept", ["application/json, text/event-stream", "application/json"])
def test_a_lone_surrogate_is_invalid_request_not_a_500(proxy: str, tmp_path: Path, accept: str) -> None:
    headers = open_session(proxy)
    answer = httpx.post(proxy + "/mcp", content=SURROGATE, headers={**headers, "Accept": accept})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32600
    assert answer.json()["id"] == 5
    assert echo_works(proxy, headers), "the session survives"
    refused = [r for r in audit_records(tmp_path) if r["outcome"] == "invalid"]
    assert [(r["method"], r["session"]) for r in refused] == [("tools/call", headers["Mcp-Session-Id"])]
    assert "ud800" not in (tmp_path / "audit.jsonl").read_text(), "no argument values in the audit log"


def test_a_valid_surrogate_pair_is_relayed(proxy: str) -> None:
    headers = open_session(proxy)
    body = SURROGATE.replace(b"\\ud800", b"\\ud83d\\ude00")
    (reply,) = sse_messages(httpx.post(proxy + "/mcp", content=body, headers=headers).text)
    assert reply["result"]["content"][0]["text"] == "\U0001f600"


def test_requests_with_ids_no_one_can_answer_are_invalid_requests(proxy: str) -> None:
    headers = open_session(proxy)
    request_ids: list[Any] = [None, True, False, 1.5, {"a": 1}, ["x"]]
    for request_id in request_ids:
        request = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
        for body in (request, [request], {**request, "method": "initialize"}):
            answer = httpx.post(proxy + "/mcp", json=body, headers=headers)
            assert answer.status_code == 400, body
            assert answer.json() == {"jsonrpc": "2.0", "id": None, "error": {
                "code": -32600, "message": "Invalid Request: id must be a string or an integer"}}
        opening = httpx.post(proxy + "/mcp", json={**request, "method": "initialize"}, headers=JSON_AND_SSE)
        assert opening.status_code == 400
        assert "mcp-session-id" not in opening.headers
        modern = httpx.post(proxy + "/mcp", json={**request, "method": "tools/call", "params": {"name": "echo"}},
                            headers={**JSON_AND_SSE, **MODERN})
        assert modern.json()["error"]["code"] == -32600, request_id
    assert echo_works(proxy, headers)


def test_legacy_sse_posts_are_checked_too(proxy: str, tmp_path: Path) -> None:
    with httpx.stream("GET", proxy + "/sse", timeout=10) as stream:
        lines = stream.iter_lines()
        endpoint = next(line[5:].strip() for line in lines if line.startswith("data:"))
        url = proxy + endpoint
        for body in (SURROGATE, json.dumps({"jsonrpc": "2.0", "id": None, "method": "tools/list"}).encode()):
            answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == -32600
    assert sum(r["outcome"] == "invalid" for r in audit_records(tmp_path)) == 2


def test_the_modern_revision_refuses_a_lone_surrogate(proxy: str) -> None:
    answer = httpx.post(proxy + "/mcp", content=SURROGATE, headers={**JSON_AND_SSE, **MODERN})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32600
