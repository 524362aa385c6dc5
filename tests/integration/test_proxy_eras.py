"""Real clients of both eras through the proxy, against a server of each era: the mcp SDK client pinned to
2026-07-28 and to the session era, and the TypeScript SDK client, list tools, read a resource and answer an
elicitation and a sampling request.

Against the conformance server (mcp 2.x, both eras) a 2026-07-28 client is relayed natively on the proxy's
second lane; against a server on mcp 1.x (session era only) the proxy translates: the server's questions reach
the 2026-07-28 client as InputRequiredResults carrying the proxy's sealed requestState.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conformance.runner import NODE, SESSION_ERA_PYTHON, SESSION_ERA_SERVER, TOOLS, node_env, serving

TS_CLIENT = Path(__file__).resolve().parents[1] / "fixtures" / "clients_ts" / "era_client.mjs"


@pytest.fixture(scope="module")
def both_eras() -> Iterator[str]:
    with serving(through_proxy=True) as url:
        yield url


@pytest.fixture(scope="module")
def session_era() -> Iterator[str]:
    if not SESSION_ERA_PYTHON.exists():
        pytest.fail("the mcp 1.x venv is missing: bash scripts/lib/session-era-venv")
    with serving(through_proxy=True, backend=(str(SESSION_ERA_PYTHON), str(SESSION_ERA_SERVER))) as url:
        yield url


async def _elicit(context: Any, params: Any) -> Any:
    from mcp_types import ElicitResult

    return ElicitResult(action="accept", content={"name": "Ada", "username": "ada", "email": "ada@example.com",
                                                  "ok": True, "color": "blue"})


async def _sample(context: Any, params: Any) -> Any:
    from mcp_types import CreateMessageResult, TextContent

    return CreateMessageResult(role="assistant", content=TextContent(type="text", text="Paris"), model="m")


async def _roots(context: Any) -> Any:
    from mcp_types import ListRootsResult, Root
    from pydantic import FileUrl

    return ListRootsResult(roots=[Root(uri=FileUrl("file:///work/project"), name="project")])


async def _session(url: str, mode: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """What one SDK client in ``mode`` sees: its revision, the tools, a resource's text and each call's text."""
    from mcp.client.client import Client

    async with Client(url, mode=mode, elicitation_callback=_elicit, sampling_callback=_sample,
                      list_roots_callback=_roots) as client:
        tools = await client.list_tools()
        read = await client.read_resource("test://static-text")
        texts = {}
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            texts[name] = " ".join(getattr(block, "text", "") for block in result.content)
        return {"version": client.protocol_version, "tools": {tool.name for tool in tools.tools},
                "resource": getattr(read.contents[0], "text", None), "calls": texts}


def _run(url: str, mode: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    async def bounded() -> dict[str, Any]:
        with anyio.fail_after(60):
            return await _session(url, mode, calls)

    return anyio.run(bounded)


RESOURCE = "This is the content of the static text resource."


def test_a_2026_07_28_sdk_client_is_relayed_natively(both_eras: str) -> None:
    seen = _run(both_eras, "2026-07-28", [("test_input_required_result_elicitation", {}),
                                          ("test_input_required_result_sampling", {}),
                                          ("test_input_required_result_multi_round", {})])
    assert seen["version"] == "2026-07-28"
    assert {"test_simple_text", "test_input_required_result_elicitation"} <= seen["tools"]
    assert seen["resource"] == RESOURCE
    assert seen["calls"] == {"test_input_required_result_elicitation": "Hello, Ada!",
                             "test_input_required_result_sampling": "Model said: Paris",
                             "test_input_required_result_multi_round": "Three rounds done."}


def test_a_session_era_sdk_client_answers_the_servers_requests_over_its_session(both_eras: str) -> None:
    seen = _run(both_eras, "legacy", [("test_elicitation", {"message": "Who are you?"}),
                                      ("test_sampling", {"prompt": "Capital of France?"})])
    assert seen["version"] == "2025-11-25"
    assert seen["resource"] == RESOURCE
    assert "action=accept" in seen["calls"]["test_elicitation"]
    assert seen["calls"]["test_sampling"] == "LLM response: Paris"


def test_a_2026_07_28_sdk_client_answers_a_session_era_server_through_translation(session_era: str) -> None:
    """The 1.x server asks mid-call; the 2026-07-28 client never sees a server request, only
    InputRequiredResults, answers them with its callbacks and retries, over as many rounds as the server asks."""
    seen = _run(session_era, "2026-07-28", [("test_input_required_result_elicitation", {}),
                                            ("test_input_required_result_sampling", {}),
                                            ("test_input_required_result_list_roots", {}),
                                            ("test_input_required_result_multi_round", {})])
    assert seen["version"] == "2026-07-28"
    assert seen["resource"] == RESOURCE
    assert seen["calls"] == {"test_input_required_result_elicitation": "Hello, Ada!",
                             "test_input_required_result_sampling": "Model said: Paris",
                             "test_input_required_result_list_roots": "Roots: file:///work/project",
                             "test_input_required_result_multi_round": "Ada likes blue."}


def test_a_session_era_sdk_client_still_reaches_a_session_era_server(session_era: str) -> None:
    seen = _run(session_era, "legacy", [("test_input_required_result_elicitation", {})])
    assert seen["resource"] == RESOURCE
    assert seen["calls"] == {"test_input_required_result_elicitation": "Hello, Ada!"}


def test_the_typescript_sdk_client_lists_reads_and_answers_elicitation_and_sampling(both_eras: str) -> None:
    # Node resolves the SDK from the script's own directory upwards: run a copy inside the node tools' tree.
    with tempfile.NamedTemporaryFile("w", suffix=".mjs", dir=TOOLS.parent, delete=False) as copy:
        copy.write(TS_CLIENT.read_text())
    try:
        completed = subprocess.run([str(NODE), copy.name, both_eras], capture_output=True, text=True,  # noqa: S603
                                   timeout=120, check=False, env=node_env())
    finally:
        Path(copy.name).unlink()
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "test_sampling" in seen["tools"]
    assert seen["resource"] == RESOURCE
    assert seen["elicitation"].startswith("User response: action=accept")
    assert seen["sampling"] == "LLM response: Paris"


def _modern_call(url: str, request_id: int, params: dict[str, Any]) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": params["name"]}
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {**params, "_meta": meta}}
    answer: dict[str, Any] = httpx.post(url, json=body, headers=headers, timeout=30).json()
    return answer


def test_a_question_left_unanswered_expires_and_frees_the_servers_turn() -> None:
    """A 2026-07-28 client that never retries: its parked call is cancelled at the input timeout even if no other
    2026-07-28 request comes, so a session-era client's call that may ask questions runs; the stale state is
    refused."""
    if not SESSION_ERA_PYTHON.exists():
        pytest.fail("the mcp 1.x venv is missing: bash scripts/lib/session-era-venv")
    with serving(through_proxy=True, backend=(str(SESSION_ERA_PYTHON), str(SESSION_ERA_SERVER)),
                 options=("--input-timeout", "1")) as url:
        asked = _modern_call(url, 1, {"name": "test_input_required_result_elicitation", "arguments": {}})
        assert asked["result"]["resultType"] == "input_required"
        seen = _run(url, "legacy", [("test_input_required_result_elicitation", {})])
        assert seen["calls"] == {"test_input_required_result_elicitation": "Hello, Ada!"}
        key = next(iter(asked["result"]["inputRequests"]))
        late = _modern_call(url, 2, {"name": "test_input_required_result_elicitation", "arguments": {},
                                     "inputResponses": {key: {"action": "accept", "content": {"name": "Late"}}},
                                     "requestState": asked["result"]["requestState"]})
        assert late["error"]["code"] == -32602


if sys.platform != "linux":  # pragma: no cover - the proxy's stdio backends are tested on Linux
    pytestmark = pytest.mark.skip("Linux only")
