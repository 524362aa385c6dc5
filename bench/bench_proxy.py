"""Where a proxied tools/call spends its time: the same conformance server called over stdio, over its own
Streamable HTTP (the mcp SDK server, no proxy) and through mcpctl's proxy, in both protocol eras.

    .venv/bin/python bench/bench_proxy.py [--calls 500] [--sessions 8]

The proxy's own cost is "through the proxy" minus "direct Streamable HTTP" of the same era: both pay for
the SDK HTTP client, which the stdio baseline does not. Results go to bench/results/proxy-overhead.json
and .md. bench_proxy_compare.py puts the proxy beside other gateways; this script splits the overhead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.client import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_proxy_compare import summarize, timed_calls  # noqa: E402

from tests.conformance.runner import SERVER, serving  # noqa: E402

TOOL = "json_schema_2020_12_tool"


def _text(result: Any) -> str:
    """The echoed token: the tool answers "name=TOKEN, address=None"."""
    return str(result.content[0].text).removeprefix("name=").removesuffix(", address=None")


async def measure_stdio(calls: int) -> dict[str, Any]:
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def call(token: str) -> str:
            return _text(await session.call_tool(TOOL, {"name": token}))

        await timed_calls(call, 20)
        return summarize(await timed_calls(call, calls))


async def measure_http(url: str, mode: str, calls: int, sessions: int) -> dict[str, Any]:
    async with Client(url, mode=mode) as client:
        async def call(token: str) -> str:
            return _text(await client.call_tool(TOOL, {"name": token}))

        await timed_calls(call, 20)
        latencies = await timed_calls(call, calls)
    per_session = max(calls // sessions, 1)

    async def one_session(index: int) -> None:
        async with Client(url, mode=mode) as client:
            async def call(token: str) -> str:
                return _text(await client.call_tool(TOOL, {"name": token}))

            for number in range(per_session):
                if await call(f"s{index}-{number}") != f"s{index}-{number}":
                    raise AssertionError("an answer reached the wrong session")

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(sessions):
            tg.start_soon(one_session, index)
    elapsed = time.perf_counter() - start
    return summarize(latencies) | {"concurrent_calls_per_s": round(sessions * per_session / elapsed, 1)}


def render_markdown(report: dict[str, Any]) -> str:
    rows = report["results"]
    lines = [f"# Proxy overhead ({report['measured']}, {report['calls']} sequential calls, "
             f"{report['sessions']} sessions for throughput)", "",
             "| path | median ms | p95 ms | sequential calls/s | calls/s with sessions |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {row['median_ms']} | {row['p95_ms']} | {row['sequential_calls_per_s']} | "
              f"{row.get('concurrent_calls_per_s', '-')} |" for name, row in rows.items()]
    lines += ["", "Added median latency of the proxy over the SDK's own Streamable HTTP, same era:"]
    lines += [f"- {era}: {delta} ms" for era, delta in report["proxy_added_median_ms"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, Any] = {"direct stdio": anyio.run(measure_stdio, args.calls)}
    for through_proxy in (False, True):
        with serving(through_proxy) as url:
            for mode in ("legacy", "2026-07-28"):
                label = f"{'through the proxy' if through_proxy else 'direct Streamable HTTP'} ({mode})"
                results[label] = anyio.run(measure_http, url, mode, args.calls, args.sessions)
    added = {mode: round(results[f"through the proxy ({mode})"]["median_ms"]
                         - results[f"direct Streamable HTTP ({mode})"]["median_ms"], 3)
             for mode in ("legacy", "2026-07-28")}
    report = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "calls": args.calls,
              "sessions": args.sessions, "results": results, "proxy_added_median_ms": added}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "proxy-overhead.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "proxy-overhead.md").write_text(render_markdown(report))
    print(render_markdown(report))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
