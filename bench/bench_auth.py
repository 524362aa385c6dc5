"""What the proxy's access checks (toolhive_py.proxy.auth) add to each request, measured in process.

    .venv/bin/python bench/bench_auth.py [--requests 20000] [--clients 20] [--http-calls 2000]

- the peer-uid lookup of a real loopback connection: sock_diag (the path used) and /proc/net/tcp{,6} (the
  fallback), with the number of TCP sockets on the machine at the time (the fallback's cost grows with it);
- the whole middleware around a no-op ASGI app for one request on /mcp (peer check, credentials file stat,
  SHA-256 and constant-time compare against ``--clients`` entries) minus the no-op app alone.

- end to end (``--http-calls`` > 0): two real proxies in front of the routing test server, one started with
  ``--credentials``, one without. The peer check is on in both (it cannot be turned off), so the difference
  is the bearer check over HTTP; calls alternate between the two on kept-alive connections, and the added
  p50 is "with" minus "without".

Results: bench/results/auth.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from toolhive_py import credentials as creds  # noqa: E402 - after the sys.path line above
from toolhive_py.config import atomic_write  # noqa: E402
from toolhive_py.proxy.auth import protect  # noqa: E402
from toolhive_py.proxy.peers import PeerOwners, owner_from_proc  # noqa: E402


def per_call_us(func: Callable[[], object], count: int, rounds: int = 5) -> float:
    """The median over ``rounds`` of the mean time of one call, in microseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            func()
        samples.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(samples)


def tcp_sockets() -> int:
    return sum(max(0, len(Path(f"/proc/net/{name}").read_text().splitlines()) - 1) for name in ("tcp", "tcp6"))


async def noop(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def request_us(app: Any, scope: dict[str, Any], count: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run() -> float:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(count):
                await app(dict(scope), receive, send)
            samples.append((time.perf_counter() - start) / count * 1e6)
        return statistics.median(samples)

    return asyncio.run(run())


def http_added(calls: int) -> dict[str, float]:
    """p50 of a tools/call through a proxy with a credentials file vs one without (see the module docstring)."""
    import subprocess

    import httpx

    from toolhive_py.proxy.supervisor import free_port

    server = ROOT / "tests" / "fixtures" / "servers" / "routing_server.py"
    accept = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with tempfile.TemporaryDirectory() as tmp:
        token = creds.new_token()
        path = Path(tmp) / "creds.json"
        atomic_write(path, creds.CredentialTable({"bench": creds.token_hash(token)}).to_json(), mode=0o600)
        processes, sessions = [], {}
        try:
            for label, extra in (("on", ["--credentials", str(path)]), ("off", [])):
                port = free_port()
                processes.append(subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--log-level", "WARNING", *extra,
                     "--stdio", "--", sys.executable, str(server)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL))
                url = f"http://127.0.0.1:{port}/mcp"
                headers = {**accept, "Authorization": f"Bearer {token}"}
                http = httpx.Client(timeout=30, trust_env=False)
                for _ in range(300):
                    try:
                        if http.get(url.replace("/mcp", "/health/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
                opened = http.post(url, headers=headers, json={
                    "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                        "protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "1"}}})
                headers = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                           "MCP-Protocol-Version": "2025-11-25"}
                http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
                sessions[label] = (http, url, headers)
            samples: dict[str, list[float]] = {"on": [], "off": []}
            for index in range(calls + 100):
                for label in (("on", "off") if index % 2 == 0 else ("off", "on")):
                    http, url, headers = sessions[label]
                    started = time.perf_counter()
                    answer = http.post(url, headers=headers, json={"jsonrpc": "2.0", "id": index + 1,
                                                                   "method": "tools/call", "params": {
                                                                       "name": "echo", "arguments": {"text": "x"}}})
                    elapsed = time.perf_counter() - started
                    if answer.status_code != 200:
                        raise SystemExit(f"{label}: HTTP {answer.status_code}")
                    if index >= 100:  # warm-up
                        samples[label].append(elapsed)
        finally:
            for http, _, _ in sessions.values():
                http.close()
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    on, off = statistics.median(samples["on"]) * 1e6, statistics.median(samples["off"]) * 1e6
    return {"http_p50_on_us": round(on, 1), "http_p50_off_us": round(off, 1), "http_added_p50_us": round(on - off, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--http-calls", type=int, default=2000)
    args = parser.parse_args()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        accepted, peer = listener.accept()
        server = accepted.getsockname()
        owners = PeerOwners()
        peer_end = (ipaddress.ip_address(peer[0]), peer[1])
        server_end = (ipaddress.ip_address(server[0]), server[1])
        sockets = tcp_sockets()
        diag_us = per_call_us(lambda: owners.owner(peer, server), args.requests)
        proc_us = per_call_us(lambda: owner_from_proc(peer_end, server_end), max(50, args.requests // 100))

        with tempfile.TemporaryDirectory() as tmp:
            tokens = {f"client-{i}": creds.new_token() for i in range(args.clients)}
            path = Path(tmp) / "creds.json"
            table = creds.CredentialTable({c: creds.token_hash(t) for c, t in tokens.items()})
            atomic_write(path, table.to_json(), mode=0o600)
            last = tokens[f"client-{args.clients - 1}"]
            scope = {"type": "http", "path": "/mcp", "method": "POST", "client": peer, "server": server,
                     "headers": [(b"authorization", f"Bearer {last}".encode())]}
            bare_us = request_us(noop, scope, args.requests)
            full_us = request_us(protect(noop, credentials=path, owners=owners), scope, args.requests)
            bearer_us = request_us(protect(noop, credentials=path, peer_check=False), scope, args.requests)
            peer_only_us = request_us(protect(noop, credentials=None, owners=owners), scope, args.requests)
        client.close()
        accepted.close()

    result = {"method": owners.method, "tcp_sockets": sockets, "clients": args.clients,
              "peer_lookup_sock_diag_us": round(diag_us, 2), "peer_lookup_proc_us": round(proc_us, 2),
              "middleware_added_us": round(full_us - bare_us, 2),
              "bearer_only_added_us": round(bearer_us - bare_us, 2),
              "peer_only_added_us": round(peer_only_us - bare_us, 2)}
    if args.http_calls:
        result.update(http_added(args.http_calls))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "auth.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Proxy access checks: added cost per request (in process)", "",
             f"`python bench/bench_auth.py --requests {args.requests} --clients {args.clients} --http-calls {args.http_calls}`; "
             f"{sockets} TCP sockets on the machine; lookup used: {owners.method}.", "",
             "| what | µs |", "| --- | --- |",
             f"| peer uid lookup, sock_diag | {result['peer_lookup_sock_diag_us']} |",
             f"| peer uid lookup, /proc/net/tcp (fallback) | {result['peer_lookup_proc_us']} |",
             f"| whole middleware on /mcp (peer + bearer, {args.clients} clients) | "
             f"{result['middleware_added_us']} |",
             f"| bearer check alone | {result['bearer_only_added_us']} |",
             f"| peer check alone | {result['peer_only_added_us']} |"]
    if args.http_calls:
        lines += [f"| tools/call over HTTP, p50 with --credentials ({result['http_p50_on_us']}) minus without "
                  f"({result['http_p50_off_us']}), {args.http_calls} calls each | {result['http_added_p50_us']} |"]
    lines.append("")
    (out / "auth.md").write_text("\n".join(lines))
    print("\n".join(lines))
    owners.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
