"""The proxy in front of real containers on Docker and Podman: both protocol eras and legacy SSE through
real SDK clients, policy and audit, faults (container killed, proxy killed), `mcpctl connect`, and
secret containment across every file mcpctl writes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import anyio
import docker
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.client import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import Engine
from tests.e2e.credentials import TEST_CLIENT, bearer, credentialed
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import CLIResult, run_cli
from toolhive_py.errors import ExitCode

pytestmark = pytest.mark.anyio


def mcpctl(engine: Engine, *args: str, input: str | None = None) -> CLIResult:  # noqa: A002 - mirrors run_cli
    return run_cli(*args, "--runtime-socket", engine.base_url, input=input)




def _run(engine: Engine, name: str, *extra: str) -> dict[str, object]:
    result = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", name, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    data: dict[str, object] = result.json()["data"]
    return data


def _proxy_pid(home: Path, name: str) -> int:
    state = json.loads((home / ".local" / "state" / "mcpctl" / "workloads" / name / "proxy.json").read_text())
    return int(state["pid"])


def _wait_ready(url: str, want: int, timeout: float = 30.0) -> None:
    health = url.removesuffix("/mcp") + "/health/ready"
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = httpx.get(health, timeout=3).status_code
        except httpx.HTTPError:
            status = None
        if status == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{health} answered {status}, wanted {want}")


async def _echo(url: str, workload: str, mode: str, text: str) -> str:
    async with Client(credentialed(url, workload), mode=mode) as client:
        result = await client.call_tool("echo", {"text": text})
        return str(result.content[0].text)  # type: ignore[union-attr]


async def test_both_protocol_eras_and_legacy_sse(engine: Engine, workload: str) -> None:
    data = _run(engine, workload)
    url = str(data["url"])
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/mcp")
    assert await _echo(url, workload, "legacy", "handshake era") == "handshake era"
    assert await _echo(url, workload, "auto", "stateless era") == "stateless era"
    async with sse_client(url.removesuffix("/mcp") + "/sse", headers=bearer(workload)) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        assert (await session.call_tool("add", {"a": 2, "b": 40})).structured_content == {"result": 42}
    listed = {w["name"]: w for w in mcpctl(engine, "list", "--json").json()["data"]}
    assert listed[workload]["proxy"] == "up"
    assert listed[workload]["url"] == url
    metrics = httpx.get(url.removesuffix("/mcp") + "/metrics", headers=bearer(workload)).text
    assert 'mcpctl_proxy_tool_calls_total{tool="echo",outcome="ok"} 2' in metrics
    assert "mcpctl_proxy_backend_ready 1" in metrics


async def test_policy_hides_and_refuses_tools_and_everything_is_audited(engine: Engine, workload: str) -> None:
    url = str(_run(engine, workload, "--tools", "echo,add,whoami", "--deny-tools", "whoami",
                   "--rate-limit", "2/m")["url"])
    secret_argument = f"argument-{uuid.uuid4().hex}"
    async with Client(credentialed(url, workload), mode="legacy") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"echo", "add"}
        with pytest.raises(MCPError, match="not allowed"):
            await client.call_tool("whoami", {})
        assert (await client.call_tool("echo", {"text": secret_argument})).is_error is False
        await client.call_tool("echo", {"text": "second"})
        with pytest.raises(MCPError, match="Rate limit"):
            await client.call_tool("echo", {"text": "third"})
    records = run_cli("audit", workload, "--json").json()["data"]
    calls = [(r["target"], r["outcome"]) for r in records if r["method"] == "tools/call"]
    assert calls == [("whoami", "denied"), ("echo", "ok"), ("echo", "ok"), ("echo", "rate_limited")]
    assert all(r["client_name"] == "mcp" and r["session"] and r["trace_id"] for r in records)
    assert all(set(r) == {"time", "server", "client_name", "client_version", "session", "method", "target",
                          "duration_ms", "outcome", "trace_id", "client"} for r in records)
    home = Path(os.environ["HOME"])
    assert not [p for p in home.rglob("*") if p.is_file() and secret_argument.encode() in p.read_bytes()], \
        "argument values must never be logged"


async def test_killed_container_makes_proxy_not_ready_until_restart(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    url = str(_run(engine, workload)["url"])
    _wait_ready(url, 200)
    async with Client(credentialed(url, workload), mode="auto") as listener, \
            listener.listen(tools_list_changed=True) as subscription:
        engine_client.containers.get(f"mcpctl-{workload}").kill()
        with anyio.fail_after(15):
            events = [event async for event in subscription]
    assert events == [], "the listen stream ends gracefully (no SubscriptionLost): the client re-listens"
    _wait_ready(url, 503)
    assert mcpctl(engine, "restart", workload).exit_code == 0
    _wait_ready(url, 200)
    assert await _echo(url, workload, "legacy", "after restart") == "after restart"


async def test_proxy_killed_with_sigkill_comes_back_on_the_same_port(engine: Engine, workload: str) -> None:
    url = str(_run(engine, workload)["url"])
    home = Path(os.environ["HOME"])
    os.kill(_proxy_pid(home, workload), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = {w["name"]: w for w in mcpctl(engine, "list", "--all", "--json").json()["data"]}
        if listed[workload]["proxy"] == "DOWN":
            break
        time.sleep(0.1)
    assert listed[workload]["proxy"] == "DOWN"
    assert mcpctl(engine, "start", workload).exit_code == 0
    assert mcpctl(engine, "status", workload, "--json").json()["data"]["url"] == url
    _wait_ready(url, 200)
    assert await _echo(url, workload, "legacy", "same port") == "same port"


async def test_connect_bridges_a_stdio_client(engine: Engine, workload: str) -> None:
    _run(engine, workload)
    exe = str(Path(sys.executable).with_name("mcpctl"))
    bearer(workload)  # the client's credential, in the secret backend, where the bridge reads it
    params = StdioServerParameters(command=exe, args=["connect", workload, "--client", TEST_CLIENT,
                                                      "--runtime-socket", engine.base_url], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert (await session.call_tool("echo", {"text": "bridged"})).content[0].text == "bridged"  # type: ignore[union-attr]


def test_port_in_use_is_refused_before_anything_is_created(
        engine: Engine, engine_client: docker.DockerClient, workload: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload, "--port", str(port))
    assert result.exit_code == ExitCode.CONFLICT
    assert f"Port {port}" in result.stderr
    assert not engine_client.containers.list(all=True, filters={"name": f"mcpctl-{workload}"})


@pytest.mark.usefixtures("secret_service")
async def test_secret_reaches_the_server_but_no_client_file_or_output(engine: Engine, workload: str) -> None:
    """The server's own ``get_env`` of its injected secret is withheld by the proxy's DLP, in each era and
    over SSE; the refusal is the proof that the value reached the server (DLP refuses a result only when it
    holds the exact value), and no client, file or output gets a copy."""
    value = f"sk-test-{uuid.uuid4().hex}"
    assert run_cli("secret", "set", "proxy_probe", input=value).exit_code == 0
    result = mcpctl(engine, "run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload,
                    "--secret", "proxy_probe:PROBE_TOKEN", "--json")
    assert result.exit_code == 0, result.stderr
    url = result.json()["data"]["url"]
    refusals = []
    for server, mode in ((credentialed(url, workload), "legacy"), (credentialed(url, workload), "2026-07-28"),
                         (sse_client(url.removesuffix("/mcp") + "/sse", headers=bearer(workload)), "legacy")):
        async with Client(server, mode=mode) as client:
            assert (await client.call_tool("get_env", {"name": "HOME"})).content[0].text  # type: ignore[union-attr]
            with pytest.raises(MCPError) as refused:
                await client.call_tool("get_env", {"name": "PROBE_TOKEN"})
            refusals.append(refused.value)
    assert [(e.code, "PROBE_TOKEN" in e.message, value in e.message) for e in refusals] == [(-32006, True, False)] * 3
    records = run_cli("audit", workload, "--json").json()["data"]
    assert [r["target"] for r in records if r["outcome"] == "dlp_withheld"] == ["get_env"] * 3
    outputs = [result.stdout, result.stderr, run_cli("audit", workload, "--json").stdout,
               *(mcpctl(engine, *cmd).stdout for cmd in
                 (("list", "--json"), ("status", workload, "--json"), ("logs", workload, "--proxy"),
                  ("logs", workload)))]
    assert not [o for o in outputs if value in o]
    home = Path(os.environ["HOME"])
    assert not [p for p in home.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]
