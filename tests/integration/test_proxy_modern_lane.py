"""The modern lane against real servers: the conformance server as a stdio process (the lane is a second
process) and over Streamable HTTP (the lane is a POST per request), driven through Multiplexer.modern the
way the stateless front drives it, with a session-era session on the handshake lane at the same time; and
through a real proxy process with raw HTTP requests and SDK clients of both eras."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.conftest import start_proxy
from tests.integration.helpers import JSON_AND_SSE
from toolhive_py.proxy.backends import BackendFactory, HttpBackendFactory, ProcessBackendFactory
from toolhive_py.proxy.lanes import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    PROTOCOL_VERSION_KEY,
    SUBSCRIPTION_ID_KEY,
    HttpLaneFactory,
)
from toolhive_py.proxy.mux import Multiplexer, RequestContext
from toolhive_py.proxy.supervisor import free_port

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).parents[1] / "conformance" / "server.py"
ROUTING_SERVER = Path(__file__).parents[1] / "fixtures" / "servers" / "routing_server.py"
PARAM_HEADER_SERVER = Path(__file__).parents[1] / "fixtures" / "servers" / "param_header_server.py"


def envelope(capabilities: dict[str, Any] | None = None, name: str = "modern-client") -> dict[str, Any]:
    return {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_INFO_KEY: {"name": name, "version": "1"},
            CLIENT_CAPABILITIES_KEY: capabilities or {}}


def call(request_id: Any, tool: str, meta: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": tool, "arguments": {}, "_meta": meta or envelope(), **params}}


async def relayed(mux: Multiplexer, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message Multiplexer.modern delivers for one request, the final response last."""
    got: list[dict[str, Any]] = []
    with anyio.fail_after(30):
        await mux.modern(message, RequestContext(), got.append)
    return got


@contextmanager
def serve_http(script: Path, *args: str) -> Iterator[str]:
    """Run a Streamable HTTP server script (``*args`` say on which port); its /mcp URL once it listens."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(script), *(a.replace("PORT", str(port)) for a in args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, f"{script.name} exited"
                time.sleep(0.1)
        else:
            raise AssertionError(f"{script.name} never listened")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """The conformance server over Streamable HTTP (both eras on one endpoint); its /mcp URL."""
    with serve_http(SERVER, "--transport", "streamable-http", "--port", "PORT") as url:
        yield url


def stdio_backend() -> BackendFactory:
    return ProcessBackendFactory((sys.executable, str(SERVER)))


@pytest.fixture(params=["stdio", "http"])
def backend(request: pytest.FixtureRequest) -> BackendFactory:
    if request.param == "stdio":
        return stdio_backend()
    url = request.getfixturevalue("http_server")
    return HttpBackendFactory("", "", 0, "streamable-http", url=url)


@asynccontextmanager
async def running(factory: BackendFactory) -> AsyncIterator[Multiplexer]:
    mux = Multiplexer(factory, server_name="conformance")
    async with anyio.create_task_group() as tg:
        tg.start_soon(mux.run)
        assert await mux.wait_ready(30)
        assert await mux.wait_probed(30)
        yield mux
        mux.stop()
        tg.cancel_scope.cancel()


async def test_the_probe_finds_both_revisions(backend: BackendFactory) -> None:
    async with running(backend) as mux:
        assert mux.backend_versions == ("2025-11-25", "2026-07-28")
        assert mux.speaks_modern, mux.modern_unavailable


async def test_input_required_comes_back_natively_and_the_retry_completes(backend: BackendFactory) -> None:
    async with running(backend) as mux:
        meta = envelope({"elicitation": {}})
        (asked,) = await relayed(mux, call(1, "mcpctl_ask_name", meta))
        result = asked["result"]
        assert asked["id"] == 1
        assert result["resultType"] == "input_required"
        assert result["inputRequests"]["name"]["method"] == "elicitation/create"
        state = result["requestState"]
        assert state.startswith("v1."), "the server's own sealed state, not one of the proxy's"
        (done,) = await relayed(mux, call(2, "mcpctl_ask_name", meta, requestState=state, inputResponses={
            "name": {"action": "accept", "content": {"name": "Ada"}}}))
        assert done["id"] == 2
        assert done["result"]["content"][0]["text"] == "Hello, Ada!"
        assert done["result"]["resultType"] == "complete"


async def test_concurrent_clients_with_the_same_id_each_get_their_own_answer_and_capabilities(
        backend: BackendFactory) -> None:
    """Each caller's tool sees the capabilities that caller declared: the envelope reaches the server
    untouched, per request, and the answers do not cross although both callers use id 1."""
    declared: list[dict[str, Any]] = [{"elicitation": {}}, {"sampling": {}, "roots": {"listChanged": True}}, {}]
    async with running(backend) as mux:
        answers: list[list[dict[str, Any]]] = [[] for _ in declared]

        async def one(capabilities: dict[str, Any], box: list[dict[str, Any]]) -> None:
            box.extend(await relayed(mux, call(1, "mcpctl_client_capabilities", envelope(capabilities))))

        async with anyio.create_task_group() as tg:
            for capabilities, box in zip(declared, answers, strict=True):
                tg.start_soon(one, capabilities, box)
    for capabilities, box in zip(declared, answers, strict=True):
        assert [m["id"] for m in box] == [1]
        assert box[0]["result"]["structuredContent"] == {"capabilities": capabilities}


async def test_progress_comes_back_with_the_clients_own_token(backend: BackendFactory) -> None:
    async with running(backend) as mux:
        got = await relayed(mux, call("p", "test_tool_with_progress", {**envelope(), "progressToken": "mine"}))
    progress = [m["params"] for m in got if m.get("method") == "notifications/progress"]
    assert [(p["progressToken"], p["progress"]) for p in progress] == [("mine", 0), ("mine", 50), ("mine", 100)]
    assert got[-1]["id"] == "p"


async def test_subscriptions_listen_is_acknowledged_with_the_clients_subscription_id(backend: BackendFactory) -> None:
    listen = {"jsonrpc": "2.0", "id": "watch-1", "method": "subscriptions/listen",
              "params": {"notifications": {"toolsListChanged": True}, "_meta": envelope()}}
    async with running(backend) as mux:
        got: list[dict[str, Any]] = []
        with anyio.move_on_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(mux.modern, listen, RequestContext(), got.append)
                while not got:
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
        assert got, "no acknowledgement"
        assert got[0]["method"] == "notifications/subscriptions/acknowledged"
        assert got[0]["params"]["_meta"][SUBSCRIPTION_ID_KEY] == "watch-1"
        assert not mux._pending, "the cancelled listen is forgotten"  # the server was told (notifications/cancelled)
        (after,) = await relayed(mux, call(1, "test_simple_text"))
        assert after["result"]["content"][0]["text"].startswith("This is a simple text")


async def test_log_messages_reach_only_the_caller_they_belong_to(http_server: str) -> None:
    """Over HTTP each answer is the request's own stream, so two concurrent callers get exactly their own
    log messages. (A stdio lane cannot tell; it delivers a log message only while one call runs.)"""
    async with running(HttpBackendFactory("", "", 0, "streamable-http", url=http_server)) as mux:
        meta = {**envelope(), "io.modelcontextprotocol/logLevel": "info"}
        logged, quiet = [], []

        async def logging_call() -> None:
            logged.extend(await relayed(mux, call(1, "test_tool_with_logging", meta)))

        async def progress_call() -> None:
            quiet.extend(await relayed(mux, call(1, "test_tool_with_progress", {**meta, "progressToken": 1})))

        async with anyio.create_task_group() as tg:
            tg.start_soon(logging_call)
            tg.start_soon(progress_call)
    assert [m["params"]["data"] for m in logged if m.get("method") == "notifications/message"] == [
        "Tool execution started", "Tool processing data", "Tool execution completed"]
    assert not [m for m in quiet if m.get("method") == "notifications/message"]


async def test_a_stdio_lane_never_gives_one_callers_log_messages_to_another() -> None:
    async with running(stdio_backend()) as mux:
        meta = {**envelope(), "io.modelcontextprotocol/logLevel": "info"}
        alone = await relayed(mux, call(1, "test_tool_with_logging", meta))
        assert len([m for m in alone if m.get("method") == "notifications/message"]) == 3
        logged, other = [], []

        async def logging_call() -> None:
            logged.extend(await relayed(mux, call(1, "test_tool_with_logging", meta)))

        async def other_call() -> None:
            other.extend(await relayed(mux, call(1, "test_tool_with_progress", {**meta, "progressToken": 1})))

        async with anyio.create_task_group() as tg:
            tg.start_soon(other_call)
            tg.start_soon(logging_call)
    assert not [m for m in other if m.get("method") == "notifications/message"]


async def test_a_session_era_session_keeps_sampling_and_elicitation_beside_modern_callers(
        backend: BackendFactory) -> None:
    """The handshake lane still carries server→client requests: a 2025-11-25 session's sampling and
    elicitation are answered by that session while 2026-07-28 callers run on the other lane."""
    async with running(backend) as mux:
        inbox_in, inbox = anyio.create_memory_object_stream[tuple[dict[str, Any], Any]](math.inf)
        session = mux.open_session(lambda message, related: inbox_in.send_nowait((message, related)))
        await mux.from_client(session, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}, "elicitation": {}},
            "clientInfo": {"name": "legacy-client", "version": "1"}}})
        answers: dict[Any, dict[str, Any]] = {}
        modern_answers: list[list[dict[str, Any]]] = []

        async def legacy_client() -> None:
            async for message, _ in inbox:
                if message.get("method") == "sampling/createMessage":
                    await mux.from_client(session, {"jsonrpc": "2.0", "id": message["id"], "result": {
                        "role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"}})
                elif message.get("method") == "elicitation/create":
                    await mux.from_client(session, {"jsonrpc": "2.0", "id": message["id"], "result": {
                        "action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}})
                elif "method" not in message:
                    answers[message["id"]] = message
                    if {1, 2} <= answers.keys():
                        return

        async def modern_caller() -> None:
            modern_answers.append(await relayed(mux, call(1, "mcpctl_client_capabilities",
                                                          envelope({"elicitation": {}}))))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(legacy_client)
                await mux.from_client(session, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "name": "test_sampling", "arguments": {"prompt": "Capital of France?"}}})
                await mux.from_client(session, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                    "name": "test_elicitation", "arguments": {"message": "Who are you?"}}})
                for _ in range(3):
                    tg.start_soon(modern_caller)
        await mux.close_session(session)
        inbox_in.close()
        inbox.close()
    assert answers[0]["result"]["protocolVersion"] == "2025-11-25"
    assert answers[1]["result"]["content"][0]["text"] == "LLM response: Paris"
    assert "action=accept" in answers[2]["result"]["content"][0]["text"]
    assert [box[-1]["result"]["structuredContent"] for box in modern_answers] == [
        {"capabilities": {"elicitation": {}}}] * 3


async def test_an_http_lane_passes_the_callers_mcp_param_headers_on() -> None:
    """A tool with an ``x-mcp-header`` argument: the server checks the header against the body, so the
    lane must carry the caller's ``Mcp-Param-*`` header, and nothing makes one up when it was missing."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "regional", "arguments": {"region": "eu"}, "_meta": envelope()}}
    with serve_http(PARAM_HEADER_SERVER, "PORT") as url:
        async with running(HttpBackendFactory("", "", 0, "streamable-http", url=url)) as mux:
            answers = []
            for headers in ({"mcp-param-region": "eu"}, {}, {"Mcp-Param-Region": "us"}):
                got: list[dict[str, Any]] = []
                await mux.modern(request, RequestContext(), got.append, headers=headers)
                answers.append(got[-1])
    assert answers[0]["result"]["content"][0]["text"] == "region=eu"
    assert [a.get("error", {}).get("code") for a in answers[1:]] == [-32020, -32020]


async def first_answer(url: str) -> tuple[dict[str, Any], Any]:
    """What an HTTP lane to ``url`` delivers first for one request, with the backend id it belongs to."""
    async def endpoint() -> str:
        return url

    async with HttpLaneFactory(endpoint, "test").connect() as lane:
        await lane.send(call(41, "anything"), {})
        with anyio.fail_after(20):
            return await anext(aiter(lane.messages()))


async def test_an_http_lane_answers_every_request_even_when_the_server_does_not() -> None:
    """A request whose POST fails (an HTTP error without JSON-RPC, nothing listening) still gets its one
    response, so no caller waits forever."""
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "http.server never listened"
                time.sleep(0.1)
        http_error, related = await first_answer(f"http://127.0.0.1:{port}/mcp")
    finally:
        web.terminate()
        web.wait(timeout=10)
    unreachable, _ = await first_answer(f"http://127.0.0.1:{free_port()}/mcp")
    assert (http_error["id"], related, http_error["error"]["code"]) == (41, 41, -32603)
    assert "HTTP 501" in http_error["error"]["message"]
    assert (unreachable["id"], unreachable["error"]["code"]) == (41, -32000)


async def wait_until(predicate: Any, seconds: float = 30) -> None:
    with anyio.fail_after(seconds):
        while not predicate():
            await anyio.sleep(0.05)


async def test_the_modern_lane_comes_back_after_its_server_process_exits_and_the_handshake_lane_stays() -> None:
    async with running(ProcessBackendFactory((sys.executable, str(ROUTING_SERVER)))) as mux:
        (bye,) = await relayed(mux, call(1, "crash"))
        assert bye["result"]["content"][0]["text"] == "bye"
        await wait_until(lambda: not mux.speaks_modern)
        assert mux.ready, "the handshake lane's process is another one: it stays"
        await wait_until(lambda: mux.speaks_modern)
        (echoed,) = await relayed(mux, call(2, "echo", arguments={"text": "again"}))
        assert echoed["result"]["content"][0]["text"] == "again"
        assert mux.metrics.backend_restarts == 0


async def test_the_modern_lane_is_probed_again_when_the_handshake_lane_reconnects() -> None:
    async with running(ProcessBackendFactory((sys.executable, str(ROUTING_SERVER)))) as mux:
        got: list[tuple[dict[str, Any], Any]] = []
        session = mux.open_session(lambda message, related: got.append((message, related)))
        await mux.from_client(session, {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                        "params": {"name": "crash", "arguments": {}}})
        await wait_until(lambda: mux.metrics.backend_restarts == 1 and mux.ready and mux.speaks_modern)
        (echoed,) = await relayed(mux, call(2, "echo", arguments={"text": "after the restart"}))
        assert echoed["result"]["content"][0]["text"] == "after the restart"
        await mux.close_session(session)


# ----- through a real proxy process (python -m toolhive_py.proxy --stdio) ---------------------------------


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A proxy process in front of the conformance server over stdio, its modern lane up; its base URL.

    /health/ready answers for the handshake lane; the modern lane opens after it (a second server process),
    so the fixture waits until a 2026-07-28-only tool answers natively (on the handshake lane it fails)."""
    for base in start_proxy(tmp_path_factory.mktemp("proxy"), server=SERVER):
        deadline = time.monotonic() + 30
        while "input_required" not in post(base, call(0, "mcpctl_ask_name", envelope({"elicitation": {}}))).text:
            assert time.monotonic() < deadline, "the proxy's modern lane never came up"
            time.sleep(0.2)
        yield base


def post(base: str, message: dict[str, Any]) -> httpx.Response:
    params = message["params"]
    headers = {**JSON_AND_SSE, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": message["method"]}
    if "name" in params:
        headers["Mcp-Name"] = params["name"]
    return httpx.post(base + "/mcp", json=message, headers=headers, timeout=30)


def test_a_raw_2026_07_28_client_gets_input_required_natively_and_the_retry_completes(proxy: str) -> None:
    meta = envelope({"elicitation": {}})
    asked = post(proxy, call(1, "mcpctl_ask_name", meta))
    assert asked.status_code == 200, asked.text
    result = asked.json()["result"]
    assert result["resultType"] == "input_required"
    assert result["requestState"].startswith("v1."), "the server's own sealed state, relayed as it was"
    done = post(proxy, call(1, "mcpctl_ask_name", meta, requestState=result["requestState"],
                            inputResponses={"name": {"action": "accept", "content": {"name": "Grace"}}}))
    assert done.json()["result"]["content"][0]["text"] == "Hello, Grace!"


def test_raw_clients_using_the_same_id_concurrently_get_their_own_capabilities_back(proxy: str) -> None:
    declared: list[dict[str, Any]] = [{"elicitation": {}}, {"sampling": {}}, {"roots": {"listChanged": True}}, {}]
    seen: list[Any] = [None] * len(declared)

    async def one(index: int) -> None:
        answer = await anyio.to_thread.run_sync(post, proxy, call(7, "mcpctl_client_capabilities",
                                                                  envelope(declared[index])))
        seen[index] = (answer.json()["id"], answer.json()["result"]["structuredContent"]["capabilities"])

    async def all_at_once() -> None:
        async with anyio.create_task_group() as tg:
            for index in range(len(declared)):
                tg.start_soon(one, index)

    anyio.run(all_at_once)
    assert seen == [(7, capabilities) for capabilities in declared]


async def test_sdk_clients_of_both_eras_at_once_elicitation_and_sampling_each_on_its_lane(proxy: str) -> None:
    """The SDK client pinned to 2026-07-28 answers the InputRequiredResult by itself (its elicitation
    callback, then the retry with the server's requestState); the session-era client answers the same
    server's sampling and elicitation requests over its session, on the handshake lane."""
    from mcp.client.client import Client
    from mcp_types import CreateMessageResult, ElicitResult, TextContent

    async def elicit(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"name": "Ada", "username": "ada", "email": "a@example.com"})

    async def sample(context: Any, params: Any) -> CreateMessageResult:
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="Paris"), model="m")

    results: dict[str, str] = {}

    async def modern() -> None:
        async with Client(proxy + "/mcp", mode="2026-07-28", elicitation_callback=elicit) as client:
            assert client.protocol_version == "2026-07-28"
            asked = await client.call_tool("mcpctl_ask_name", {})
            results["modern"] = asked.content[0].text  # type: ignore[union-attr]
            capabilities = await client.call_tool("mcpctl_client_capabilities", {})
            results["capabilities"] = json.dumps(capabilities.structured_content)

    async def legacy() -> None:
        async with Client(proxy + "/mcp", mode="legacy", elicitation_callback=elicit,
                          sampling_callback=sample) as client:
            sampled = await client.call_tool("test_sampling", {"prompt": "Capital of France?"})
            elicited = await client.call_tool("test_elicitation", {"message": "Who are you?"})
            results["sampling"] = sampled.content[0].text  # type: ignore[union-attr]
            results["elicitation"] = elicited.content[0].text  # type: ignore[union-attr]

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(modern)
            tg.start_soon(legacy)
    assert results["modern"] == "Hello, Ada!"
    assert "elicitation" in json.loads(results["capabilities"])["capabilities"]
    assert results["sampling"] == "LLM response: Paris"
    assert "action=accept" in results["elicitation"]
