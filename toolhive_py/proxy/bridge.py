"""`mcpctl connect`: stdio on one side, the workload's proxy on the other, for clients that only spawn
commands (Claude Desktop). Messages pass through unchanged; the proxy does policy and audit."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server

__all__ = ["bridge"]

logger = logging.getLogger(__name__)


async def _pump(source: Any, sink: Any) -> None:
    try:
        async for item in source:
            if isinstance(item, Exception):
                logger.warning("dropped an unreadable message: %s", item)
                continue
            await sink.send(item)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
        return


async def bridge(url: str) -> None:
    """Relay until the client closes stdin or the proxy goes away."""
    async with stdio_server() as (stdin_messages, stdout_messages), \
            streamable_http_client(url) as streams, anyio.create_task_group() as tg:
        proxy_read, proxy_write = streams[0], streams[1]

        async def client_to_proxy() -> None:
            await _pump(stdin_messages, proxy_write)
            tg.cancel_scope.cancel()

        async def proxy_to_client() -> None:
            await _pump(proxy_read, stdout_messages)
            tg.cancel_scope.cancel()

        tg.start_soon(client_to_proxy)
        tg.start_soon(proxy_to_client)
