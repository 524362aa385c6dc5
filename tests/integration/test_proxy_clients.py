"""Real clients through the proxy, in front of the conformance server over stdio: the mcp SDK client in
each protocol era (forced, so a silent fallback to the other era cannot pass), and the standalone MCP
Inspector CLI (`@modelcontextprotocol/inspector-cli`) listing and calling tools. The Inspector v2
(`mcp-inspector --cli`) is exercised in test_conformance.py."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import anyio
import pytest
from mcp.client.client import Client

from tests.conformance.runner import NODE, TOOLS, node_env, serving, tools_installed

SESSION_ERA = {"2025-03-26", "2025-06-18", "2025-11-25"}


@pytest.fixture(scope="module")
def proxied() -> Iterator[str]:
    """The /mcp URL of one proxy in front of the conformance server, shared by this module's tests."""
    with serving(through_proxy=True) as url:
        yield url


ERAS = [("legacy", SESSION_ERA), ("2026-07-28", {"2026-07-28"})]


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "expected_versions"), ERAS)
async def test_sdk_client_lists_and_calls_tools_in_each_protocol_era(
        proxied: str, mode: str, expected_versions: set[str]) -> None:
    async with Client(proxied, mode=mode) as client:
        assert client.protocol_version in expected_versions
        tools = {tool.name for tool in (await client.list_tools()).tools}
        simple = await client.call_tool("test_simple_text", {})
        argued = await client.call_tool("json_schema_2020_12_tool", {"name": f"era {mode}"})
    assert {"test_simple_text", "test_tool_with_progress", "json_schema_2020_12_tool"} <= tools
    assert simple.content[0].text == "This is a simple text response for testing."  # type: ignore[union-attr]
    assert argued.content[0].text == f"name=era {mode}, address=None"  # type: ignore[union-attr]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_progress_reaches_the_caller_in_each_era(proxied: str, mode: str) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(proxied, mode=mode) as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert result.content[0].text == "Tool with progress executed successfully"  # type: ignore[union-attr]
    assert seen == [0, 50, 100]


@pytest.mark.anyio
async def test_concurrent_clients_of_both_eras_each_get_only_their_own_answers(proxied: str) -> None:
    """The 8 × 2,000 load test (test_proxy_load.py) is session-era only; here half the clients are stateless."""
    clients, calls = 8, 200
    answers: dict[int, list[str]] = {}

    async def run_client(index: int) -> None:
        answers[index] = []
        async with Client(proxied, mode="2026-07-28" if index % 2 else "legacy") as client:
            for call in range(calls):
                result = await client.call_tool("json_schema_2020_12_tool", {"name": f"c{index}-{call}"})
                answers[index].append(result.content[0].text)  # type: ignore[union-attr]

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for index in range(clients):
                tg.start_soon(run_client, index)
    for index, received in answers.items():
        assert received == [f"name=c{index}-{call}, address=None" for call in range(calls)], f"client {index}"


def _inspector_cli(url: str, *args: str) -> dict[str, object]:
    if not tools_installed():
        message = "MCP Inspector CLI not installed (run bash scripts/lib/node-tools, part of scripts/test)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # inspector-cli 1.0.3 looks for its package.json at ../package.json relative to the *working directory*
    # but imports it relative to its own file; from node_modules both resolve to files that exist.
    result = subprocess.run(  # noqa: S603 - our pinned Node and tool
        [str(NODE), str(TOOLS / ".bin" / "mcp-inspector-cli"), "--cli", url, "--transport", "http", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=TOOLS, env=node_env())
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_inspector_cli_lists_and_calls_tools_through_the_proxy(proxied: str) -> None:
    listed = _inspector_cli(proxied, "--method", "tools/list")
    called = _inspector_cli(proxied, "--method", "tools/call", "--tool-name", "json_schema_2020_12_tool",
                            "--tool-arg", "name=inspector")
    assert "json_schema_2020_12_tool" in {tool["name"] for tool in listed["tools"]}  # type: ignore[attr-defined]
    assert called["content"] == [{"type": "text", "text": "name=inspector, address=None"}]
    assert called["isError"] is False
