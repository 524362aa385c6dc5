"""/metrics through a live proxy: the server's tools have their own series from the start, and names a
client makes up can neither forge samples nor add series."""

from __future__ import annotations

import httpx

from tests.integration.helpers import open_session


def test_client_chosen_names_neither_forge_samples_nor_add_series(proxy: str) -> None:
    headers = open_session(proxy)
    forged = 'echo"} 1\nmcpctl_proxy_backend_ready 0\nx{a="'
    for i in range(50):
        httpx.post(proxy + "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 10 + i, "method": f"{forged}/{i}"})
        httpx.post(proxy + "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                                                          "params": {"name": f"{forged}{i}", "arguments": {}}})
    httpx.post(proxy + "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 200, "method": "tools/call",
                                                      "params": {"name": "echo", "arguments": {"text": "hi"}}})
    text = httpx.get(proxy + "/metrics").text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert [line for line in samples if "backend_ready" in line] == ["mcpctl_proxy_backend_ready 1"]
    assert 'mcpctl_proxy_tool_calls_total{tool="echo",outcome="ok"} 1' in samples, "listed by the server"
    made_up = [line for line in samples if line.startswith('mcpctl_proxy_tool_calls_total{tool="other",')]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in made_up) == 50, "one series per outcome for them all"
    assert 'mcpctl_proxy_requests_total{method="other",outcome="error"} 50' in samples
    assert "made" not in text
    assert len(samples) < 120
