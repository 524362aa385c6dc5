"""mcpctl's proxy against the two common stdio→HTTP gateways, on the same stdio server and client.

    .venv/bin/python bench/bench_proxy_compare.py [--calls 500] [--sessions 8]

Installs mcp-proxy (PyPI, in its own venv: it needs mcp<2) and supergateway (npm) under
.cache/bench/ on first use. Each gateway fronts tests/fixtures/servers/routing_server.py; one mcp SDK
client measures sequential tools/call latency, then N concurrent sessions measure throughput. The
direct stdio call (no gateway) is the baseline. Results go to bench/results/proxy-compare.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.client import Client

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
SERVER = [sys.executable, str(ROOT / "tests" / "fixtures" / "servers" / "routing_server.py")]
MCP_PROXY_VERSION = "0.13.0"
SUPERGATEWAY_VERSION = "4.0.0"


def ensure_tools() -> dict[str, list[str]]:
    venv = CACHE / "mcp-proxy"
    if not (venv / "bin" / "mcp-proxy").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"mcp-proxy=={MCP_PROXY_VERSION}"],  # noqa: S603
                       check=True)
    node = CACHE / "node"
    gateway = node / "node_modules" / ".bin" / "supergateway"
    if not gateway.exists():
        node.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", str(node),  # noqa: S607
                        f"supergateway@{SUPERGATEWAY_VERSION}"], check=True)
    return {"mcp-proxy": [str(venv / "bin" / "mcp-proxy")], "supergateway": [str(gateway)]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_command(name: str, tools: dict[str, list[str]], port: int) -> list[str]:
    if name == "mcpctl":
        return [sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--log-level", "WARNING",
                "--stdio", "--", *SERVER]
    if name == "mcp-proxy":
        return [*tools["mcp-proxy"], "--host", "127.0.0.1", "--port", str(port), "--", *SERVER]
    return [*tools["supergateway"], "--stdio", " ".join(SERVER), "--outputTransport", "streamableHttp",
            "--port", str(port), "--logLevel", "none"]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout}s")


async def timed_calls(call: Callable[[str], Awaitable[str]], count: int) -> list[float]:
    latencies = []
    for index in range(count):
        token = f"t{index}"
        start = time.perf_counter()
        if await call(token) != token:
            raise AssertionError("wrong echo")
        latencies.append(time.perf_counter() - start)
    return latencies


async def measure_http(url: str, calls: int, sessions: int) -> dict[str, Any]:
    async with Client(url, mode="legacy") as client:
        async def call(token: str) -> str:
            result = await client.call_tool("echo", {"text": token})
            return str(result.content[0].text)  # type: ignore[union-attr]

        await timed_calls(call, 20)
        latencies = await timed_calls(call, calls)
    per_session = max(calls // sessions, 1)

    async def one_session() -> None:
        async with Client(url, mode="legacy") as client:
            for index in range(per_session):
                result = await client.call_tool("echo", {"text": f"c{index}"})
                assert result.content[0].text == f"c{index}"  # type: ignore[union-attr]  # noqa: S101

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(sessions):
            tg.start_soon(one_session)
    elapsed = time.perf_counter() - start
    return summarize(latencies) | {"concurrent_calls_per_s": round(sessions * per_session / elapsed, 1)}


async def measure_direct(calls: int) -> dict[str, Any]:
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def call(token: str) -> str:
            result = await session.call_tool("echo", {"text": token})
            return str(result.content[0].text)  # type: ignore[union-attr]

        await timed_calls(call, 20)
        return summarize(await timed_calls(call, calls))


def summarize(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {"calls": len(ordered), "median_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
            "sequential_calls_per_s": round(len(ordered) / sum(ordered), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    tools = ensure_tools()
    results: dict[str, Any] = {"direct stdio (no gateway)": anyio.run(measure_direct, args.calls)}
    for name in ("mcpctl", "mcp-proxy", "supergateway"):
        port = free_port()
        process = subprocess.Popen(gateway_command(name, tools, port), stdout=subprocess.DEVNULL,  # noqa: S603
                                   stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, process)
            time.sleep(0.5)
            results[name] = anyio.run(measure_http, f"http://127.0.0.1:{port}/mcp", args.calls, args.sessions)
        except Exception as exc:  # noqa: BLE001 - one gateway failing must not hide the others' numbers
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            process.terminate()
            process.wait(timeout=10)
    out = ROOT / "bench" / "results" / "proxy-compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "versions": {"mcp-proxy": MCP_PROXY_VERSION, "supergateway": SUPERGATEWAY_VERSION},
                               "results": results}, indent=2) + "\n")
    print(f"{'target':28} {'median ms':>10} {'p95 ms':>8} {'seq/s':>8} {'conc/s':>8}")  # noqa: T201
    for name, row in results.items():
        if "error" in row:
            print(f"{name:28} {row['error']}")  # noqa: T201
            continue
        print(f"{name:28} {row['median_ms']:>10} {row['p95_ms']:>8} {row['sequential_calls_per_s']:>8} "  # noqa: T201
              f"{row.get('concurrent_calls_per_s', '-'):>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
