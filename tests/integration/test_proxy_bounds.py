"""Nothing a client does holds the proxy's memory or connections forever: idle sessions expire, sessions are
capped, replay buffers are bounded by bytes, slow request heads are dropped, and a tool call that outlives its
timeout is cancelled and answered."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_proxy
from tests.integration.helpers import INIT, JSON_AND_SSE, audit_records, open_session, sse_messages


def _events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.split("\r\n\r\n"):
        fields = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields[name.rstrip(":")] = value
        if fields:
            events.append(fields)
    return events


def _active_sessions(proxy: str) -> int:
    for line in httpx.get(proxy + "/metrics").text.splitlines():
        if line.startswith("mcpctl_proxy_active_sessions "):
            return int(line.split()[1])
    raise AssertionError("no session gauge")


@pytest.fixture
def short_lived(tmp_path: Path) -> Iterator[str]:
    yield from start_proxy(tmp_path, "--idle-timeout", "1", "--header-timeout", "1",
                           "--tool-timeout", "ask=1", "--tool-timeout", "progress_echo=1")


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[str]:
    yield from start_proxy(tmp_path, "--max-sessions", "3")


def test_an_idle_session_expires_and_its_state_is_reclaimed(short_lived: str) -> None:
    headers = open_session(short_lived)
    assert _active_sessions(short_lived) == 1
    deadline = time.monotonic() + 30
    while _active_sessions(short_lived) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _active_sessions(short_lived) == 0
    after = httpx.post(short_lived + "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)
    assert after.status_code == 404, "an expired session is gone; its client starts a new one"


def test_a_session_in_use_does_not_expire(short_lived: str) -> None:
    headers = open_session(short_lived)
    for step in range(6):
        time.sleep(0.5)
        listed = httpx.post(short_lived + "/mcp", json={"jsonrpc": "2.0", "id": step + 2, "method": "tools/list"},
                            headers=headers)
        assert listed.status_code == 200, f"request {step} of a session used every 0.5 s"


def test_sessions_beyond_the_cap_get_503_with_a_json_rpc_error_and_are_audited(capped: str, tmp_path: Path) -> None:
    opened = [open_session(capped) for _ in range(3)]
    refused = httpx.post(capped + "/mcp", json=INIT, headers=JSON_AND_SSE)
    assert refused.status_code == 503
    assert refused.json()["id"] == 1
    assert refused.json()["error"]["code"] == -32000
    assert "mcp-session-id" not in refused.headers
    assert refused.headers["retry-after"]
    assert any(r["method"] == "initialize" and r["outcome"] == "error" and r["duration_ms"] == 0.0
               for r in audit_records(tmp_path))
    assert httpx.delete(capped + "/mcp", headers=opened[0]).status_code == 200
    open_session(capped)


def test_the_replay_buffer_is_bounded_by_bytes_and_an_evicted_answer_is_answered_as_lost(proxy: str) -> None:
    headers = open_session(proxy)
    big = "x" * (1536 * 1024)
    primings = []
    for call in range(4):  # 6 MB of results against the 4 MB bound
        answer = httpx.post(proxy + "/mcp", headers=headers, timeout=30, json={
            "jsonrpc": "2.0", "id": 10 + call, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": big}}})
        assert answer.status_code == 200
        primings.append(_events(answer.text)[0]["id"])
    latest = httpx.get(proxy + "/mcp", headers={**headers, "Last-Event-ID": primings[-1]}, timeout=30)
    assert sse_messages(latest.text)[-1]["result"]["structuredContent"]["result"] == big
    first = httpx.get(proxy + "/mcp", headers={**headers, "Last-Event-ID": primings[0]}, timeout=30)
    lost = sse_messages(first.text)
    assert lost == [{"jsonrpc": "2.0", "id": 10, "error": {"code": -32603, "message": lost[0]["error"]["message"]}}]
    forged = httpx.get(proxy + "/mcp", headers={**headers, "Last-Event-ID": "999.1"})
    assert forged.status_code == 400


def test_connections_that_never_finish_their_headers_are_dropped(short_lived: str) -> None:
    port = int(short_lived.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            slow.append(sock)
        assert httpx.get(short_lived + "/health/live", timeout=10).status_code == 200, "others are still served"
        open_ones = set(slow)
        deadline = time.monotonic() + 30
        while open_ones and time.monotonic() < deadline:
            readable, _, _ = select.select(list(open_ones), [], [], 1.0)
            for sock in readable:
                if sock.recv(1024) == b"":
                    open_ones.discard(sock)
        assert not open_ones, f"{len(open_ones)} of 200 slow connections still held"
    finally:
        for sock in slow:
            sock.close()


def test_a_tool_call_past_its_timeout_is_answered_and_progress_restarts_the_clock(short_lived: str) -> None:
    headers = open_session(short_lived, {"elicitation": {}})
    asked = httpx.post(short_lived + "/mcp", headers=headers, timeout=30, json={
        "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": "?"}}})
    messages = sse_messages(asked.text)
    assert messages[0]["method"] == "elicitation/create", "the question reached the client, which never answers"
    assert messages[-1]["id"] == 7
    assert messages[-1]["error"]["code"] == -32001
    progressing = httpx.post(short_lived + "/mcp", headers=headers, timeout=60, json={
        "jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
            "name": "progress_echo", "arguments": {"text": "p", "steps": 400}, "_meta": {"progressToken": "t"}}})
    messages = sse_messages(progressing.text)
    assert sum(1 for m in messages if m.get("method") == "notifications/progress") == 400
    assert json.dumps(messages[-1]["result"]["structuredContent"]) == '{"result": "p"}'


def test_a_request_head_over_the_size_bound_is_refused(proxy: str) -> None:
    oversized = httpx.get(proxy + "/health/live", headers={"X-Padding": "x" * (32 * 1024)})
    assert oversized.status_code == 400
    assert httpx.get(proxy + "/health/live").status_code == 200
