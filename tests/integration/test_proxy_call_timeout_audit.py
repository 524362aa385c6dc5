"""A tool call that outlives ``--call-timeout`` is recorded as ``cancelled`` when the proxy gives up on it,
not when (or if) the server answers: the multiplexer forgets the call at the cancellation, so the server's
late answer adds no second record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import start_proxy
from tests.integration.helpers import audit_records, open_session, sse_messages


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[str]:
    yield from start_proxy(tmp_path, "--call-timeout", "1")



def _call(proxy: str, headers: dict[str, str], request_id: int, name: str, arguments: dict[str, Any]) -> Any:
    answered = httpx.post(proxy + "/mcp", headers=headers, timeout=30, json={
        "jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
    return sse_messages(answered.text)[-1]


def _calls(tmp_path: Path, tool: str) -> list[str]:
    return [r["outcome"] for r in audit_records(tmp_path) if r["method"] == "tools/call" and r["target"] == tool]


def test_a_call_the_server_never_answers_is_audited_as_cancelled_at_its_timeout(proxy: str, tmp_path: Path) -> None:
    headers = open_session(proxy, {"elicitation": {}})
    answer = _call(proxy, headers, 7, "ask", {"question": "?"})  # the elicitation is never answered
    assert answer["id"] == 7
    assert answer["error"]["code"] == -32001
    assert _calls(tmp_path, "ask") == ["cancelled"], "recorded before the timeout error was sent"


def test_a_late_answer_adds_no_second_record(proxy: str, tmp_path: Path) -> None:
    headers = open_session(proxy, {"elicitation": {}})
    answer = _call(proxy, headers, 8, "progress_echo", {"text": "late", "steps": 600})  # 3 s or more
    assert answer["error"]["code"] == -32001
    assert _calls(tmp_path, "progress_echo") == ["cancelled"]
    time.sleep(3)  # the server, had it not heard of the cancellation, would have answered by now
    assert _call(proxy, headers, 9, "echo", {"text": "after"})["result"]["content"][0]["text"] == "after"
    assert _calls(tmp_path, "progress_echo") == ["cancelled"]
    assert _calls(tmp_path, "echo") == ["ok"]
