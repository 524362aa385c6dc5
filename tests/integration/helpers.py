"""Raw HTTP helpers for talking to a live proxy the way a hand-written client (or an attacker) does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp.client.client import Client
from mcp.client.sse import sse_client

__all__ = ["INIT", "JSON_AND_SSE", "audit_records", "open_session", "sse_messages"]

JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
INIT: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}


def open_session(proxy: str, capabilities: dict[str, Any] | None = None) -> dict[str, str]:
    """Initialize a 2025-11-25 session (declaring ``capabilities``); the headers every later request of it carries."""
    init = {**INIT, "params": {**INIT["params"], "capabilities": capabilities or {}}}
    opened = httpx.post(proxy + "/mcp", json=init, headers=JSON_AND_SSE)
    assert opened.status_code == 200, opened.text
    headers = {**JSON_AND_SSE, "Mcp-Session-Id": opened.headers["mcp-session-id"],
               "MCP-Protocol-Version": "2025-11-25"}
    httpx.post(proxy + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE response body (priming events carry none)."""
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]


def audit_records(tmp_path: Path) -> list[dict[str, Any]]:
    """The proxy's audit log so far (``start_proxy`` writes it to ``tmp_path / "audit.jsonl"``)."""
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@asynccontextmanager
async def connect(base: str, transport: str, **options: Any) -> AsyncIterator[Client]:
    """An SDK client of the proxy at ``base``: Streamable HTTP in the session era ("legacy") or the stateless
    one ("2026-07-28"), or legacy SSE ("sse", forced, so a fallback to another era cannot pass for it)."""
    server = sse_client(base + "/sse") if transport == "sse" else base + "/mcp"
    async with Client(server, mode="legacy" if transport == "sse" else transport, **options) as client:
        yield client
