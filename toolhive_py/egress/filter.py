"""The egress filter that runs in a sidecar container: an HTTP proxy that lets a server reach only the
hosts and ports its permission profile allows.

Standard library only: it is copied into a minimal Python image and must not need anything installed.
Plain HTTP requests (absolute URI) and HTTPS via CONNECT are relayed when the target matches; anything
else gets 403. Configured by ALLOW_HOSTS (comma-separated; a leading dot allows subdomains) and
ALLOW_PORTS (comma-separated; empty means 80 and 443).
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import urlsplit

_LIMIT = 64 * 1024


def allowed(host: str, port: int, hosts: list[str], ports: set[int]) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if port not in (ports or {80, 443}):
        return False
    for pattern in hosts:
        pattern = pattern.lower().rstrip(".")
        if host == pattern.lstrip(".") or (pattern.startswith(".") and host.endswith(pattern)):
            return True
    return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_LIMIT):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _refuse(writer: asyncio.StreamWriter, status: str, why: str) -> None:
    body = f"mcpctl egress filter: {why}\n".encode()
    writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hosts: list[str], ports: set[int]) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        writer.close()
        return
    request_line, _, rest = head.partition(b"\r\n")
    try:
        method, target, version = request_line.decode("latin-1").split(" ", 2)
    except ValueError:
        await _refuse(writer, "400 Bad Request", "malformed request")
        return
    if method == "CONNECT":
        host, _, port_text = target.rpartition(":")
        port = int(port_text) if port_text.isdigit() else 443
    else:
        parts = urlsplit(target)
        if not parts.hostname:
            await _refuse(writer, "400 Bad Request", "only proxy requests (absolute URIs) are served")
            return
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not allowed(host, port, hosts, ports):
        print(f"denied {method} {host}:{port}", flush=True)  # noqa: T201 - the sidecar's log is its stdout
        await _refuse(writer, "403 Forbidden", f"{host}:{port} is not in this server's egress allowlist")
        return
    try:
        upstream_reader, upstream_writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (TimeoutError, OSError) as exc:
        await _refuse(writer, "502 Bad Gateway", f"cannot reach {host}:{port}: {exc}")
        return
    print(f"allowed {method} {host}:{port}", flush=True)  # noqa: T201
    if method == "CONNECT":
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
    else:
        parts = urlsplit(target)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        upstream_writer.write(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
        await upstream_writer.drain()
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def main() -> None:
    hosts = [h.strip() for h in os.environ.get("ALLOW_HOSTS", "").split(",") if h.strip()]
    ports = {int(p) for p in os.environ.get("ALLOW_PORTS", "").split(",") if p.strip().isdigit()}
    port = int(os.environ.get("LISTEN_PORT", "3128"))
    server = await asyncio.start_server(lambda r, w: handle(r, w, hosts, ports), "0.0.0.0", port)  # noqa: S104
    print(f"egress filter on :{port}, allowing {hosts} ports {sorted(ports) or [80, 443]}", flush=True)  # noqa: T201
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
