"""Many sessions on one server: every response, progress notification and server→client request reaches
the session it belongs to."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequestParams, ElicitResult

pytestmark = pytest.mark.anyio


async def test_concurrent_sessions_get_only_their_own_progress_and_results(proxy: str) -> None:
    seen: dict[str, list[str]] = {}
    results: dict[str, str] = {}

    async def session(tag: str) -> None:
        seen[tag] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen[tag].append(message or "")

        async with Client(proxy + "/mcp", mode="legacy") as client:
            for round_ in range(5):
                result = await client.call_tool("progress_echo", {"text": f"{tag}-{round_}", "steps": 4},
                                                progress_callback=on_progress)
                results[f"{tag}-{round_}"] = result.content[0].text  # type: ignore[union-attr]

    async with anyio.create_task_group() as tg:
        for index in range(6):
            tg.start_soon(session, f"s{index}")

    assert results == {key: key for key in results}
    assert len(results) == 30
    for tag, messages in seen.items():
        assert len(messages) == 20, f"{tag} got {len(messages)} progress notifications"
        assert all(m.startswith(f"{tag}-") for m in messages), f"{tag} saw someone else's progress"


async def test_elicitation_goes_to_the_session_that_called_the_tool(proxy: str) -> None:
    asked: list[str] = []

    async def answer(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"answer": "forty-two"})

    async def bystander_answer(context: Any, params: ElicitRequestParams) -> ElicitResult:
        raise AssertionError("the idle session must not be asked")

    async with Client(proxy + "/mcp", mode="legacy", elicitation_callback=bystander_answer) as idle, \
            Client(proxy + "/mcp", mode="legacy", elicitation_callback=answer) as caller:
        await idle.list_tools()
        result = await caller.call_tool("ask", {"question": "the answer?"})
    assert result.content[0].text == "forty-two"  # type: ignore[union-attr]
    assert asked == ["the answer?"]


async def test_a_cancel_stops_nothing_in_another_session_that_uses_the_same_request_id(proxy: str) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    slow_call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                 "params": {"name": "progress_echo", "arguments": {"text": "mine", "steps": 60}}}
    async with httpx.AsyncClient(base_url=proxy, timeout=5) as http:
        sessions = []
        for _ in range(2):
            opened = await http.post("/mcp", json=initialize, headers=headers)
            sessions.append({**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                             "MCP-Protocol-Version": "2025-11-25"})
        canceller, worker = sessions
        answers: list[httpx.Response] = []

        async def work() -> None:
            answers.append(await http.post("/mcp", json=slow_call, headers=worker))

        async with anyio.create_task_group() as tg:
            tg.start_soon(work)
            await anyio.sleep(0.1)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}
            assert (await http.post("/mcp", json=cancel, headers=canceller)).status_code == 202
    assert '"result":{"content":[{"text":"mine"' in answers[0].text.replace(" ", "")


async def _server_subscriptions(client: Client) -> list[str]:
    result = await client.call_tool("subscriptions", {})
    return list(result.structured_content["result"]) if result.structured_content else []


@pytest.mark.filterwarnings("ignore:resources/:mcp.shared.exceptions.MCPDeprecationWarning")  # session-era on purpose
async def test_resource_subscriptions_are_per_session_and_survive_a_server_restart(proxy: str) -> None:
    """The server holds one subscription per URI for all sessions: one session unsubscribing or leaving
    never ends another's, updates reach only subscribers, and a restarted server is subscribed again."""
    updates: dict[str, list[str]] = {"a": [], "b": []}

    def collector(who: str) -> Any:
        async def collect(message: Any) -> None:
            root = getattr(message, "root", message)
            if getattr(root, "method", None) == "notifications/resources/updated":
                updates[who].append(str(root.params.uri))
        return collect

    async with Client(proxy + "/mcp", mode="legacy", message_handler=collector("a")) as a:
        async with Client(proxy + "/mcp", mode="legacy", message_handler=collector("b")) as b:
            await a.subscribe_resource("memo://shared")
            await b.subscribe_resource("memo://shared")
            await b.subscribe_resource("memo://b-only")
            assert await _server_subscriptions(a) == ["memo://b-only", "memo://shared"]
            await b.unsubscribe_resource("memo://shared")
            assert await _server_subscriptions(a) == ["memo://b-only", "memo://shared"], "a still wants it"
            for uri in ("memo://shared", "memo://b-only"):
                await b.call_tool("touch", {"uri": uri})
            with anyio.fail_after(10):
                while updates != {"a": ["memo://shared"], "b": ["memo://b-only"]}:
                    await anyio.sleep(0.02)
        with anyio.fail_after(10):  # b left: its subscription goes, a's stays
            while await _server_subscriptions(a) != ["memo://shared"]:
                await anyio.sleep(0.05)

        await a.call_tool("crash", {})
        with anyio.fail_after(30):
            while True:
                with contextlib.suppress(MCPError):  # "not ready" while the server restarts
                    if await _server_subscriptions(a) == ["memo://shared"]:
                        break
                await anyio.sleep(0.1)
        await a.call_tool("touch", {"uri": "memo://shared"})
        with anyio.fail_after(10):
            while updates["a"] != ["memo://shared", "memo://shared"]:
                await anyio.sleep(0.02)
