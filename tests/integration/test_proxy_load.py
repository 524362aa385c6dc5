"""Load: 8 concurrent client sessions × 2,000 tool calls through one proxy onto one stdio server. Every
response must reach the session that asked, none lost, none duplicated (cross-checked in /metrics and
the audit log)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.client.client import Client

pytestmark = [pytest.mark.anyio, pytest.mark.load]

SESSIONS = 8
CALLS = 2000


async def test_eight_sessions_times_two_thousand_calls(proxy: str, tmp_path: Path) -> None:
    answers: dict[int, list[str]] = {}

    async def session(index: int) -> None:
        answers[index] = []
        async with Client(proxy + "/mcp", mode="legacy") as client:
            for call in range(CALLS):
                result = await client.call_tool("echo", {"text": f"s{index}-c{call}"})
                answers[index].append(result.content[0].text)  # type: ignore[union-attr]

    with anyio.fail_after(600):
        async with anyio.create_task_group() as tg:
            for index in range(SESSIONS):
                tg.start_soon(session, index)

    for index, received in answers.items():
        assert received == [f"s{index}-c{call}" for call in range(CALLS)], f"session {index} got foreign answers"
    metrics = httpx.get(proxy + "/metrics").text
    ok_calls = re.search(r'mcpctl_proxy_tool_calls_total\{tool="echo",outcome="ok"\} (\d+)', metrics)
    assert ok_calls is not None
    assert int(ok_calls.group(1)) == SESSIONS * CALLS
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sum(1 for r in audit if r["method"] == "tools/call" and r["outcome"] == "ok") == SESSIONS * CALLS
    assert len({r["session"] for r in audit if r["method"] == "tools/call"}) == SESSIONS
