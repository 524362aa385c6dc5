"""What the modern lane (proxy/lanes.py) costs: memory and the added latency of a 2026-07-28 tools/call.

    .venv/bin/python bench/bench_modern_lane.py [--calls 300]

Compares, on the conformance server over stdio:
- direct: a raw client writing enveloped tools/call lines to the server process (its 2026-07-28 era);
- mux: Multiplexer.modern in-process on the modern lane (the lane's own cost, no HTTP);
- proxy native: raw HTTP POSTs to a real proxy process (`python -m toolhive_py.proxy --stdio`), relayed on the
  modern lane; proxy translated: the same with MCPCTL_PROXY_MODERN_LANE=off (the handshake lane);
and the RSS of the proxy process and of its server processes in both set-ups, after the same calls.
Results go to bench/results/modern-lane.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from toolhive_py.proxy.backends import ProcessBackendFactory  # noqa: E402
from toolhive_py.proxy.lanes import MODERN_LANE_ENV  # noqa: E402
from toolhive_py.proxy.mux import Multiplexer, RequestContext  # noqa: E402
from toolhive_py.proxy.supervisor import free_port  # noqa: E402

SERVER = ROOT / "tests" / "conformance" / "server.py"
TOOL = "test_simple_text"
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": TOOL}


def call(request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": TOOL, "arguments": {}, "_meta": META}}


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {"p50_ms": round(statistics.median(ms), 3), "p90_ms": round(ms[int(len(ms) * 0.9)], 3),
            "calls": len(ms)}


async def direct(calls: int) -> dict[str, float]:
    async with await anyio.open_process([sys.executable, str(SERVER)], stderr=subprocess.DEVNULL) as process:
        assert process.stdin is not None  # noqa: S101 - pipes asked for
        assert process.stdout is not None  # noqa: S101 - pipes asked for
        buffer, samples = b"", []
        for i in range(calls + 20):
            started = time.perf_counter()
            await process.stdin.send(json.dumps(call(i)).encode() + b"\n")
            while b"\n" not in buffer:
                buffer += await process.stdout.receive()
            line, _, buffer = buffer.partition(b"\n")
            assert json.loads(line)["id"] == i  # noqa: S101 - one call at a time
            if i >= 20:
                samples.append(time.perf_counter() - started)
        process.terminate()
    return summary(samples)


async def through_mux(calls: int) -> dict[str, float]:
    mux = Multiplexer(ProcessBackendFactory((sys.executable, str(SERVER))), server_name="bench")
    samples = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(mux.run)
        assert await mux.wait_probed(60)  # noqa: S101 - the lane must be up
        assert mux.speaks_modern  # noqa: S101 - the lane must be up
        for i in range(calls + 20):
            got: list[dict[str, Any]] = []
            started = time.perf_counter()
            await mux.modern(call(i), RequestContext(), got.append)
            if i >= 20:
                samples.append(time.perf_counter() - started)
        mux.stop()
        tg.cancel_scope.cancel()
    return summary(samples)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def through_proxy(calls: int, *, lane: bool) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, **({} if lane else {MODERN_LANE_ENV: "off"})}
    process = subprocess.Popen([sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--stdio", "--",
                                sys.executable, str(SERVER)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.get(base + "/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            time.sleep(3)  # the modern lane opens once the handshake lane is ready
            samples = []
            for i in range(calls + 20):
                started = time.perf_counter()
                answer = client.post(base + "/mcp", json=call(i), headers=HEADERS)
                assert answer.status_code == 200, answer.text  # noqa: S101 - the bench needs answers
                if i >= 20:
                    samples.append(time.perf_counter() - started)
        servers = children(process.pid)
        return {**summary(samples), "proxy_rss_mb": round(rss_kb(process.pid) / 1024, 1),
                "server_processes": len(servers),
                "servers_rss_mb": round(sum(rss_kb(pid) for pid in servers) / 1024, 1)}
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # Rounds alternate the set-ups and each keeps its best round: the machine is shared, and a neighbour's
    # burst should not be charged to whichever set-up happened to run during it.
    rounds: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        rounds.setdefault("direct_stdio", []).append(anyio.run(direct, args.calls))
        rounds.setdefault("mux_modern_lane", []).append(anyio.run(through_mux, args.calls))
        rounds.setdefault("proxy_native", []).append(through_proxy(args.calls, lane=True))
        rounds.setdefault("proxy_translated", []).append(through_proxy(args.calls, lane=False))
    results: dict[str, Any] = {name: min(runs, key=lambda r: r["p50_ms"]) for name, runs in rounds.items()}
    base = results["direct_stdio"]["p50_ms"]
    for name in ("mux_modern_lane", "proxy_native", "proxy_translated"):
        results[name]["added_p50_ms"] = round(results[name]["p50_ms"] - base, 3)
    out = ROOT / "bench" / "results" / "modern-lane.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
