"""What the proxy's guards (description screening, DLP) add to a tools/call, by result size.

    .venv/bin/python bench/bench_guards.py [--calls 1000] [--rounds 10] [--sizes 1024,10240,102400,1048576]

Two proxies front the same stdio server (this script with ``--serve``, whose ``blob`` tool returns SIZE bytes
of prose): one with the default policy (``screen=warn``, ``dlp=redact``; ``--on`` picks another, e.g.
``--on '{"dlp": "redact"}'`` for DLP alone), one with ``screen=off, dlp=off``.
Both have a state directory (so pinning runs in both, and DLP has injected-secret fingerprints to look for).
A minimal JSON-RPC client (one kept-alive httpx connection, 127.0.0.1 only) alternates rounds between the two
call by call, so drift hits both alike; the added p50 is "on" minus "off". The guards' own cost is also timed in process
(``guard_result`` over the same result, no HTTP), which is the low-noise view of the same number.

It works with whatever guards exist and prints which ran. Results: bench/results/guards.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

SIZES: Final = (1024, 10 * 1024, 100 * 1024, 1024 * 1024)
ON: Final = {"screen": "warn", "dlp": "redact"}
OFF: Final = {"screen": "off", "dlp": "off"}
# An injected secret the DLP guard looks for (by keyed fingerprint) in every result; never in a result here.
SECRET: Final = {"API_TOKEN": "bench-" + "k3y" * 12}
_WORDS: Final = ("the", "server", "returns", "a", "list", "of", "records", "with", "their", "names", "and",
                 "dates", "for", "each", "project", "file", "path", "/src/main.py", "line", "42", "error",
                 "warning", "user", "request", "took", "120", "ms", "status", "ok", "query", "result")
_ACCEPT: Final = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def prose(size: int) -> str:
    """``size`` bytes of ordinary text (words, paths, numbers), the same for every call of a size."""
    rng = random.Random(size)  # noqa: S311 - filler text, not a secret
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def serve() -> None:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench-guards", version="1.0.0")
    cache: dict[int, str] = {}

    @server.tool()
    def blob(size: int) -> str:
        """Return `size` bytes of text."""
        if size not in cache:
            cache[size] = prose(size)
        return cache[size]

    server.run()


def active_guards(state_dir: Path, policy: dict[str, str]) -> list[Any]:
    """The guards a proxy with this state directory and policy runs (the same function the proxy calls)."""
    from toolhive_py.proxy.guard import build_guards
    from toolhive_py.proxy.policy import ToolPolicy

    return build_guards(state_dir, ToolPolicy.from_json(json.dumps(policy)))


def _prepare(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, mode=0o700)
    try:
        from toolhive_py.integrity import dlp  # type: ignore[attr-defined,unused-ignore]  # lands with the DLP guard
    except ImportError:
        return
    dlp.write_fingerprints(state_dir, SECRET)


@contextmanager
def proxy(state_dir: Path, policy: dict[str, str]) -> Iterator[str]:
    """A proxy in front of this script's server; yields its /mcp URL once ready."""
    import httpx

    from toolhive_py.proxy.supervisor import free_port

    port = free_port()
    log = (state_dir / "proxy.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--name", "bench-guards",
         "--state-dir", str(state_dir), "--policy", json.dumps(policy), "--log-level", "WARNING",
         "--stdio", "--", sys.executable, str(Path(__file__).resolve()), "--serve"],
        stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise SystemExit((state_dir / "proxy.log").read_text())
            time.sleep(0.1)
        else:
            raise SystemExit("proxy never became ready:\n" + (state_dir / "proxy.log").read_text())
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _body(response: Any) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                message: dict[str, Any] = json.loads(line[5:])
                if "id" in message:
                    return message
        raise AssertionError("no answer in the stream")
    decoded: dict[str, Any] = response.json()
    return decoded


class Session:
    """One session-era MCP session on one kept-alive connection: the least client cost per call."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(timeout=60, trust_env=False)
        opened = self.http.post(url, headers=_ACCEPT, json={"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                                            "params": {"protocolVersion": "2025-11-25",
                                                                       "capabilities": {},
                                                                       "clientInfo": {"name": "bench", "version": "1"}}})
        self.headers = {**_ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                        "MCP-Protocol-Version": "2025-11-25"}
        self.http.post(url, headers=self.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = _body(self.http.post(url, headers=self.headers,
                                      json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        self.tools: dict[str, Any] = listed["result"]
        self.next_id = 1

    def call(self, size: int) -> float:
        self.next_id += 1
        started = time.perf_counter()
        response = self.http.post(self.url, headers=self.headers, json={
            "jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
            "params": {"name": "blob", "arguments": {"size": size}}})
        answer = _body(response)
        elapsed = time.perf_counter() - started
        text = answer["result"]["content"][0]["text"]
        if len(text) != size:
            raise AssertionError(f"a {size}-byte result came back as {len(text)} bytes (redacted or cut?)")
        return elapsed

    def close(self) -> None:
        self.http.delete(self.url, headers=self.headers)
        self.http.close()


def _p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def listed_tools(url: str) -> dict[str, Any]:
    """The proxy's tools/list result (it also pins the server's tools, on first use)."""
    session = Session(url)
    session.close()
    return session.tools


def measure_http(on_url: str, off_url: str, size: int, calls: int, rounds: int) -> dict[str, Any]:
    sessions = {"on": Session(on_url), "off": Session(off_url)}
    samples: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for session in sessions.values():
            for _ in range(min(50, calls)):
                session.call(size)
        # Alternate call by call (and which goes first, round by round): drift on a shared machine then
        # lands on both configurations alike.
        per_round = max(calls // rounds, 1)
        for index in range(rounds):
            order = ("on", "off") if index % 2 == 0 else ("off", "on")
            for _ in range(per_round):
                for label in order:
                    samples[label].append(sessions[label].call(size))
    finally:
        for session in sessions.values():
            session.close()
    on, off = _p50_ms(samples["on"]), _p50_ms(samples["off"])
    return {"size": size, "calls_each": len(samples["on"]), "p50_off_ms": off, "p50_on_ms": on,
            "added_p50_ms": round(on - off, 3)}


def measure_in_process(guards: list[Any], listed: dict[str, Any], size: int, repeats: int) -> dict[str, Any]:
    """Each guard's own time on one tools/call result of ``size`` bytes (the SDK's shape: text content and
    structuredContent), without HTTP; the guards see the tools/list result first, as in the proxy."""
    from toolhive_py.proxy.guard import guard_request, guard_result

    guard_result(guards, "tools/list", None, json.loads(json.dumps(listed)))
    text = prose(size)
    params = {"name": "blob", "arguments": {"size": size}}
    per_guard: dict[str, float] = {}
    for guard in [*guards, None]:
        chosen = guards if guard is None else [guard]
        timings = []
        for _ in range(repeats):
            result = {"content": [{"type": "text", "text": text}], "structuredContent": {"result": text},
                      "isError": False}
            started = time.perf_counter()
            guard_request(chosen, "tools/call", params)
            guard_result(chosen, "tools/call", "blob", result)
            timings.append(time.perf_counter() - started)
        per_guard["all" if guard is None else type(guard).__name__] = _p50_ms(timings)
    return {"size": size, "p50_ms": per_guard}


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Guard cost per tools/call ({report['measured']})", "",
             f"Guards with the default policy: {', '.join(report['guards_on']) or 'none'}; "
             f"with screen=off, dlp=off: {', '.join(report['guards_off']) or 'none'}.", "",
             "Through the proxy (HTTP, one kept-alive connection, alternating rounds):", "",
             "| result | p50 off ms | p50 on ms | added p50 ms |", "|---|---|---|---|"]
    lines += [f"| {row['size'] // 1024} KB | {row['p50_off_ms']} | {row['p50_on_ms']} | {row['added_p50_ms']} |"
              for row in report["http"]]
    names = list(report["in_process"][0]["p50_ms"]) if report["in_process"] else []
    lines += ["", "The guards alone, in process (p50 ms per call: request check + result check):", "",
              "| result | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {row['size'] // 1024} KB | " + " | ".join(str(row["p50_ms"][n]) for n in names) + " |"
              for row in report["in_process"]]
    if report.get("per_mb_ms") is not None:
        lines += ["", f"In process, all guards: {report['per_mb_ms']} ms per MB of result (slope 1 KB → 1 MB)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=1000, help="calls per configuration for 1 KB (fewer for more)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--on", default=json.dumps(ON), help="the guarded policy (JSON), e.g. one guard alone")
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    on_policy: dict[str, str] = {**OFF, **json.loads(args.on)}
    with tempfile.TemporaryDirectory(prefix="bench-guards-") as scratch:
        on_dir, off_dir = Path(scratch) / "on", Path(scratch) / "off"
        _prepare(on_dir)
        _prepare(off_dir)
        guards_on, guards_off = active_guards(on_dir, on_policy), active_guards(off_dir, OFF)
        print("guards on: " + (", ".join(type(g).__name__ for g in guards_on) or "none")  # noqa: T201
              + " | off: " + (", ".join(type(g).__name__ for g in guards_off) or "none"), flush=True)
        http_rows = []
        with proxy(on_dir, on_policy) as on_url, proxy(off_dir, OFF) as off_url:
            listed = listed_tools(on_url)
            for size in sizes:
                calls = max(args.calls * 1024 // max(size, 1024), 40) if size > 1024 else args.calls
                http_rows.append(measure_http(on_url, off_url, size, calls, args.rounds))
                print(json.dumps(http_rows[-1]), flush=True)  # noqa: T201
        # Built again now that the proxy has pinned the server's tools in on_dir, so PinGuard lets blob through.
        guards = active_guards(on_dir, on_policy)
        in_process = [measure_in_process(guards, listed, size, max(2000 * 1024 // max(size, 1024), 20))
                      for size in sizes]
    per_mb = None
    if len(in_process) >= 2 and in_process[-1]["size"] > in_process[0]["size"]:
        first, last = in_process[0], in_process[-1]
        per_mb = round((last["p50_ms"]["all"] - first["p50_ms"]["all"])
                       / ((last["size"] - first["size"]) / (1024 * 1024)), 3)
    report = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "guards_on": [type(g).__name__ for g in guards_on], "guards_off": [type(g).__name__ for g in guards_off],
              "http": http_rows, "in_process": in_process, "per_mb_ms": per_mb}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "guards.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "guards.md").write_text(render_markdown(report))
    print(render_markdown(report))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
