"""mcpctl's proxy against the two common stdio→HTTP gateways, on the same stdio server and client.

    .venv/bin/python bench/bench_proxy_compare.py [--calls 500] [--sessions 8]

Installs mcp-proxy (PyPI, in its own venv: it needs mcp<2) and supergateway (npm) under
.cache/bench/ on first use. Each gateway fronts tests/fixtures/servers/routing_server.py. Two clients
measure sequential tools/call latency, then N concurrent sessions measure throughput:

- "sdk": the mcp SDK client, as an application would call; its own HTTP cost (~3 ms) is in every row.
- "raw": a minimal JSON-RPC client (a pipe for stdio, one kept-alive httpx connection for HTTP), so the
  added latency is the gateway plus one HTTP exchange (~0.35 ms for a do-nothing uvicorn app here).

The direct stdio call (no gateway) with the same client is the baseline for "added".

Then each gateway's footprint: the time from its launch to its first answered initialize (median of 5
launches, in front of bench/raw_echo_server.py, a stdio server without an SDK that starts in ~30 ms), and
its own RSS (its server child not counted) with N sessions open, each having made a call.
Results go to bench/results/proxy-compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
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


def gateway_command(name: str, tools: dict[str, list[str]], port: int, server: list[str] = SERVER) -> list[str]:
    if name == "mcpctl":
        return [sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--log-level", "WARNING",
                "--stdio", "--", *server]
    if name == "mcp-proxy":
        return [*tools["mcp-proxy"], "--host", "127.0.0.1", "--port", str(port), "--", *server]
    return [*tools["supergateway"], "--stdio", " ".join(server), "--outputTransport", "streamableHttp",
            "--port", str(port), "--logLevel", "none"]


RAW_SERVER = [sys.executable, str(ROOT / "bench" / "raw_echo_server.py")]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used (its children not included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """The process's own resident set (its server child not included), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


def measure_footprint(name: str, tools: dict[str, list[str]], sessions: int, runs: int = 5) -> dict[str, Any]:
    """Time from launch to the first answered initialize (median of ``runs`` launches, in front of a server
    without an SDK, so the server's own start is ~30 ms of it), and the gateway's RSS with ``sessions``
    sessions open, each having made one call."""
    firsts, rss = [], []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen(gateway_command(name, tools, port, RAW_SERVER),  # noqa: S603
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            with httpx.Client(timeout=5) as http:
                while True:
                    try:
                        if http.post(url, json=INITIALIZE, headers=ACCEPT).status_code == 200:
                            break
                    except httpx.TransportError:
                        if process.poll() is not None or time.perf_counter() - started > 30:
                            return {"error": "no initialize answered within 30 s"}
                        time.sleep(0.005)
            firsts.append(time.perf_counter() - started)
            clients = [RawHttp(url) for _ in range(sessions)]
            for client in clients:
                client.call("warm")
            time.sleep(0.3)
            rss.append(rss_mb(process.pid))
            for client in clients:
                client.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    return {"first_initialize_s": round(statistics.median(firsts), 3), f"rss_mb_{sessions}_sessions": max(rss)}


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
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
            "sequential_calls_per_s": round(len(ordered) / sum(ordered), 1)}


ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def echo_call(index: int, token: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": index, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": token}}}


def echoed(answer: dict[str, Any]) -> str:
    return str(answer["result"]["content"][0]["text"])


class RawStdio:
    """JSON lines over the server's pipes: the cheapest way to call a stdio server."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                                        text=True, bufsize=1)
        self.exchange(INITIALIZE)
        self.send(INITIALIZED)
        self.ids = iter(range(1, 1 << 30))

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None  # noqa: S101
        self.process.stdin.write(json.dumps(message) + "\n")

    def exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdout is not None  # noqa: S101
        self.send(message)
        return dict(json.loads(self.process.stdout.readline()))

    def call(self, token: str) -> str:
        return echoed(self.exchange(echo_call(next(self.ids), token)))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


class RawHttp:
    """One Streamable HTTP session on one kept-alive connection; reads a JSON or an SSE answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=30)
        self.headers = dict(ACCEPT)
        opened = self.http.post(url, json=INITIALIZE, headers=self.headers)
        opened.raise_for_status()
        if "mcp-session-id" in opened.headers:
            self.headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
        self.headers["MCP-Protocol-Version"] = "2025-06-18"
        self.http.post(url, json=INITIALIZED, headers=self.headers)
        self.ids = iter(range(1, 1 << 30))

    def call(self, token: str) -> str:
        index = next(self.ids)
        answer = self.http.post(self.url, content=json.dumps(echo_call(index, token)).encode(), headers=self.headers)
        if answer.headers.get("content-type", "").startswith("application/json"):
            return echoed(answer.json())
        for line in answer.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                message = json.loads(line[5:])
                if message.get("id") == index:
                    return echoed(message)
        raise AssertionError(f"no answer to request {index} in {answer.text[:200]!r}")

    def close(self) -> None:
        self.http.close()


def raw_timed_calls(call: Callable[[str], str], count: int) -> list[float]:
    latencies = []
    for index in range(count):
        token = f"t{index}"
        start = time.perf_counter()
        if call(token) != token:
            raise AssertionError("wrong echo")
        latencies.append(time.perf_counter() - start)
    return latencies


def measure_raw(url: str | None, calls: int, sessions: int) -> dict[str, Any]:
    """Latency from one raw session, then throughput of ``sessions`` raw sessions on their own threads."""

    def open_session() -> RawStdio | RawHttp:
        return RawStdio() if url is None else RawHttp(url)

    first = open_session()
    try:
        raw_timed_calls(first.call, 20)
        summary = summarize(raw_timed_calls(first.call, calls))
    finally:
        first.close()
    if url is None:
        return summary
    per_session = max(calls // sessions, 1)
    clients = [open_session() for _ in range(sessions)]
    threads = [threading.Thread(target=raw_timed_calls, args=(client.call, per_session)) for client in clients]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    return summary | {"concurrent_calls_per_s": round(sessions * per_session / elapsed, 1)}


def with_added(results: dict[str, dict[str, Any]], baseline: str) -> None:
    """Each gateway's added p50/p99 over the direct call with the same client."""
    base = results[baseline]
    for name, row in results.items():
        if name != baseline and "error" not in row:
            row["added_p50_ms"] = round(row["median_ms"] - base["median_ms"], 3)
            row["added_p99_ms"] = round(row["p99_ms"] - base["p99_ms"], 3)


GATEWAYS = ("mcpctl", "mcp-proxy", "supergateway")
SLOW_GATEWAY_CALLS = 30  # a gateway slower than 50 ms a call is measured on this many calls, not --calls


def measure_gateway(name: str, tools: dict[str, list[str]], client: str, calls: int, sessions: int) -> dict[str, Any]:
    port = free_port()
    process = subprocess.Popen(gateway_command(name, tools, port), stdout=subprocess.DEVNULL,  # noqa: S603
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_for_port(port, process)
        time.sleep(0.5)
        probe = RawHttp(url)
        slow = statistics.median(raw_timed_calls(probe.call, 5)) > 0.05
        probe.close()
        count = min(calls, SLOW_GATEWAY_CALLS) if slow else calls
        before = cpu_seconds(process.pid)
        row = measure_raw(url, count, sessions) if client == "raw" else dict(anyio.run(measure_http, url, count, sessions))
        made = 20 + count + sessions * max(count // sessions, 1)  # warm-up, sequential, concurrent
        # The gateway's own CPU per call: unlike wall time, barely moved by other load on a shared machine.
        row["gateway_cpu_ms_per_call"] = round((cpu_seconds(process.pid) - before) * 1000 / made, 3)
        return row
    except Exception as exc:  # noqa: BLE001 - one gateway failing must not hide the others' numbers
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--client", choices=["sdk", "raw", "both", "none"], default="both",
                        help="which clients measure latency and throughput (none: the footprint only)")
    args = parser.parse_args()
    tools = ensure_tools()
    clients = {"both": ["raw", "sdk"], "none": []}.get(args.client, [args.client])
    report: dict[str, dict[str, Any]] = {}
    for client in clients:
        results: dict[str, dict[str, Any]] = {
            "direct stdio (no gateway)": (measure_raw(None, args.calls, args.sessions) if client == "raw"
                                          else anyio.run(measure_direct, args.calls))}
        for name in GATEWAYS:
            results[name] = measure_gateway(name, tools, client, args.calls, args.sessions)
        with_added(results, "direct stdio (no gateway)")
        report[client] = results
    report["footprint"] = {name: measure_footprint(name, tools, args.sessions) for name in GATEWAYS}
    out = ROOT / "bench" / "results" / "proxy-compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "versions": {"mcp-proxy": MCP_PROXY_VERSION, "supergateway": SUPERGATEWAY_VERSION},
                               "sessions": args.sessions, "results": report}, indent=2) + "\n")
    print(f"\n{'footprint':28} {'first initialize s':>20} {f'RSS MB, {args.sessions} sessions':>22}")  # noqa: T201
    for name, row in report["footprint"].items():
        print(f"{name:28} {row.get('first_initialize_s', row.get('error')):>20} "  # noqa: T201
              f"{row.get(f'rss_mb_{args.sessions}_sessions', '-'):>22}")
    for client, results in report.items():
        if client == "footprint":
            continue
        print(f"\n{client} client")  # noqa: T201
        print(f"{'target':28} {'p50 ms':>8} {'p99 ms':>8} {'+p50':>8} {'+p99':>8} {'seq/s':>8} "  # noqa: T201
              f"{f'{args.sessions} sess/s':>10} {'CPU ms/call':>12}")
        for name, row in results.items():
            if "error" in row:
                print(f"{name:28} {row['error']}")  # noqa: T201
                continue
            print(f"{name:28} {row['median_ms']:>8} {row['p99_ms']:>8} {row.get('added_p50_ms', '-'):>8} "  # noqa: T201
                  f"{row.get('added_p99_ms', '-'):>8} {row['sequential_calls_per_s']:>8} "
                  f"{row.get('concurrent_calls_per_s', '-'):>10} {row.get('gateway_cpu_ms_per_call', '-'):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
