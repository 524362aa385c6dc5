"""`mcpctl connect`: stdio on one side, the workload's proxy on the other, for clients that only spawn
commands (Claude Desktop). Messages pass through unchanged; the proxy does policy and audit.

With ``--client ID`` the bridge sends that client's proxy credential (read from the secret backend by the
caller) as ``Authorization: Bearer`` on every request, so the client's config file holds no token at all.

End of input is not the end of the conversation: a client that writes its requests and closes stdin
(``printf … | mcpctl connect NAME``) still gets every answer, and the bridge exits once the last one is
written. It exits at once on EOF when nothing is outstanding (``< /dev/null``), and when the proxy goes away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.message import SessionMessage
from mcp_types import jsonrpc_message_adapter

from toolhive_py.proxy.jsonrpc import NOT_READY, error_message

__all__ = ["Outstanding", "bridge"]

logger = logging.getLogger(__name__)


@dataclass
class Outstanding:
    """The client's requests still waiting for an answer, and whether its input has ended: the bridge is
    done when both say so."""

    ids: set[Any] = field(default_factory=set)
    input_ended: bool = False

    def sent(self, message: dict[str, Any]) -> None:
        if isinstance(message.get("method"), str) and "id" in message:
            self.ids.add(_key(message["id"]))

    def answered(self, message: dict[str, Any]) -> None:
        if "method" not in message and "id" in message:
            self.ids.discard(_key(message["id"]))

    @property
    def done(self) -> bool:
        return self.input_ended and not self.ids


def _key(request_id: Any) -> tuple[str, Any]:
    """Ids 1 and "1" are different requests."""
    return type(request_id).__name__, request_id


def _plain(item: SessionMessage) -> dict[str, Any]:
    dumped: dict[str, Any] = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
    return dumped


async def bridge(url: str, token: str | None = None) -> None:
    """Relay until the client's input has ended and every request it sent is answered, or the proxy goes away;
    ``token`` is the client's proxy credential, sent with every request."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with stdio_server() as (stdin_messages, stdout_messages), create_mcp_http_client(headers=headers) as http:
        # The stdio transport's writer runs until its stream is closed; leaving it open would hang the exit.
        async with stdout_messages, streamable_http_client(url, http_client=http) as streams, \
                anyio.create_task_group() as tg:
            proxy_read, proxy_write = streams[0], streams[1]
            outstanding = Outstanding()

            def finish_if_done() -> None:
                if outstanding.done:
                    tg.cancel_scope.cancel()

            async def client_to_proxy() -> None:
                try:
                    async for item in stdin_messages:
                        if isinstance(item, Exception):
                            logger.warning("dropped an unreadable message: %s", item)
                            continue
                        outstanding.sent(_plain(item))
                        await proxy_write.send(item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                    pass
                outstanding.input_ended = True
                finish_if_done()

            async def proxy_to_client() -> None:
                try:
                    async for item in proxy_read:
                        if isinstance(item, Exception):
                            logger.warning("dropped an unreadable message: %s", item)
                            continue
                        message = _plain(item)
                        if outstanding.input_ended and isinstance(message.get("method"), str) and "id" in message:
                            # The client can no longer answer a request of the server's (sampling,
                            # elicitation): say so, or the request it is part of would never finish.
                            refusal = error_message(message["id"], NOT_READY, "The client closed its input.")
                            await proxy_write.send(SessionMessage(jsonrpc_message_adapter.validate_python(refusal)))
                            continue
                        await stdout_messages.send(item)
                        outstanding.answered(message)
                        finish_if_done()
                except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(client_to_proxy)
            tg.start_soon(proxy_to_client)
