"""The stdio bridge behind `mcpctl connect`, driven as a client that spawns it does: requests on stdin,
answers on stdout. Input that ends is not a conversation that ends: every request read is answered,
then the bridge exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

BRIDGE = "import anyio, sys; from toolhive_py.proxy.bridge import bridge; anyio.run(bridge, sys.argv[1])"


def requests(*extra: dict[str, Any], capabilities: dict[str, Any] | None = None) -> bytes:
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities or {},
            "clientInfo": {"name": "pipe", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        *extra,
    ]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def run_bridge(proxy: str, stdin: bytes | None) -> tuple[int, list[dict[str, Any]]]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", BRIDGE, proxy + "/mcp"], input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None, capture_output=True, timeout=30, check=False)
    return completed.returncode, [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]


def call(request_id: int, name: str, **arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}


def test_every_request_piped_in_is_answered_then_the_bridge_exits_0(proxy: str) -> None:
    stdin = requests({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, call(3, "echo", text="hi"),
                     call(4, "progress_echo", text="slow", steps=20))
    code, answers = run_bridge(proxy, stdin)
    assert code == 0
    assert sorted(a["id"] for a in answers if "id" in a) == [1, 2, 3, 4]
    by_id = {a["id"]: a for a in answers if "id" in a}
    assert by_id[3]["result"]["content"][0]["text"] == "hi"
    assert by_id[4]["result"]["content"][0]["text"] == "slow", "answered after stdin closed"


def test_no_input_at_all_exits_0_at_once(proxy: str) -> None:
    assert run_bridge(proxy, None) == (0, [])


def test_a_server_question_after_the_input_ended_is_declined_so_the_call_still_finishes(proxy: str) -> None:
    stdin = requests(call(2, "ask", question="colour?"), capabilities={"elicitation": {}})
    code, answers = run_bridge(proxy, stdin)
    assert code == 0
    (answer,) = [a for a in answers if a.get("id") == 2]
    assert "result" in answer or "error" in answer
