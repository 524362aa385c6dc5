"""Soak: 1,000 sessions opened and abandoned (never deleted) are all reclaimed once the idle timeout passes,
and the proxy's memory returns to within 10% of where it started."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_proxy
from tests.integration.helpers import INIT, JSON_AND_SSE

pytestmark = pytest.mark.load

SESSIONS = 1000


# Longer than opening 1,000 sessions takes here (~5 s), so they are all held at once before they expire.
@pytest.fixture
def forgetful(tmp_path: Path) -> Iterator[str]:
    yield from start_proxy(tmp_path, "--idle-timeout", "10", "--max-sessions", str(SESSIONS + 10))


def _proxy_pid(proxy: str) -> int:
    port = proxy.rsplit(":", 1)[1]
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = status.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"toolhive_py.proxy" in argv and port.encode() in argv:
            return int(status.parent.name)
    raise AssertionError("no proxy process")


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _active(http: httpx.Client, proxy: str) -> int:
    for line in http.get(proxy + "/metrics").text.splitlines():
        if line.startswith("mcpctl_proxy_active_sessions "):
            return int(line.split()[1])
    raise AssertionError("no session gauge")


def _abandon(http: httpx.Client, proxy: str, count: int) -> None:
    ids = set()
    for index in range(count):
        opened = http.post(proxy + "/mcp", json=INIT, headers=JSON_AND_SSE)
        assert opened.status_code == 200, opened.text
        ids.add(opened.headers["mcp-session-id"])
        headers = {**JSON_AND_SSE, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                   "MCP-Protocol-Version": "2025-11-25"}
        called = http.post(proxy + "/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": f"s{index}"}}})
        assert f"s{index}" in called.text
    assert len(ids) == count


def _drained(http: httpx.Client, proxy: str) -> None:
    deadline = time.monotonic() + 120
    while _active(http, proxy) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _active(http, proxy) == 0, "abandoned sessions were not reclaimed"


def test_a_thousand_abandoned_sessions_are_reclaimed_and_memory_returns(forgetful: str) -> None:
    pid = _proxy_pid(forgetful)
    with httpx.Client(timeout=30) as http:
        # Warm-up, a full round: what the first sessions load and cache stays loaded, and the allocator keeps
        # the arenas its peak needed; memory that is then flat across a second round is what "no leak" means.
        _abandon(http, forgetful, SESSIONS)
        _drained(http, forgetful)
        start = _rss_kb(pid)
        _abandon(http, forgetful, SESSIONS)
        peak, held = _rss_kb(pid), _active(http, forgetful)
        _drained(http, forgetful)
        end = _rss_kb(pid)
    print(f"soak RSS: start {start} kB, {peak} kB with {held} of {SESSIONS} sessions held, "  # noqa: T201
          f"{end} kB once reclaimed")
    assert end <= start * 1.10, f"RSS {start} kB -> {end} kB after {SESSIONS} sessions came and went"
