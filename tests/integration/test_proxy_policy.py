"""The tool policy holds against calls shaped to slip past it, through a live proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import audit_records, open_session, sse_messages


@pytest.mark.parametrize("name", [["crash"], 7, None, {"name": "crash"}])
def test_a_tools_call_whose_name_is_not_a_string_is_refused_as_invalid_params(
        guarded_proxy: str, tmp_path: Path, name: Any) -> None:
    headers = open_session(guarded_proxy)
    params: dict[str, Any] = {"arguments": {}}
    if name is not None:
        params["name"] = name
    answered = httpx.post(guarded_proxy + "/mcp", headers=headers,
                          json={"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params})
    (reply,) = sse_messages(answered.text)
    assert reply["id"] == 5
    assert reply["error"]["code"] == -32602
    calls = [r for r in audit_records(tmp_path) if r["method"] == "tools/call"]
    assert [(r["target"], r["outcome"]) for r in calls] == [(None, "invalid")]
    assert httpx.get(guarded_proxy + "/health/ready").status_code == 200, "the server is still up (crash never ran)"


def test_denied_and_rate_limited_calls_are_still_refused(guarded_proxy: str, tmp_path: Path) -> None:
    headers = open_session(guarded_proxy)

    def call(request_id: int, tool: str) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                "params": {"name": tool, "arguments": {"text": "x"}}}
        (reply,) = sse_messages(httpx.post(guarded_proxy + "/mcp", headers=headers, json=body).text)
        return reply

    assert call(2, "crash")["error"]["code"] == -32003
    assert "result" in call(3, "echo")
    assert "result" in call(4, "echo")
    assert call(5, "echo")["error"]["code"] == -32029
    calls = [(r["target"], r["outcome"]) for r in audit_records(tmp_path) if r["method"] == "tools/call"]
    assert calls == [("crash", "denied"), ("echo", "ok"), ("echo", "ok"), ("echo", "rate_limited")]
