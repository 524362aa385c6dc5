"""The conformance suite's client under test for its auth scenarios: each scenario mapped onto mcpctl's own
remote connection (``proxy.remote.RemoteBackendFactory`` with ``auth.client.build_oauth``), tokens and client
registrations in mcpctl's keyring storage (``auth.storage.SecretTokenStorage``), and the authorization
answered headlessly: the "person" opens the authorization URL (the suite's server approves at once) and
pastes back the URL it redirects to, as `mcpctl auth login --headless` reads it.

Run by ``conformance client --command "python conformance_auth_driver.py"``, which appends the server URL
and sets MCP_CONFORMANCE_SCENARIO and MCP_CONFORMANCE_CONTEXT.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import anyio
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from toolhive_py.auth.client import build_oauth
from toolhive_py.auth.flow import redirect_port, redirect_uri
from toolhive_py.auth.storage import SecretTokenStorage
from toolhive_py.config import Paths
from toolhive_py.proxy.remote import RemoteBackendFactory
from toolhive_py.secrets import open_provider

__all__ = ["main"]

# mcpctl's client ID metadata document URL (SEP-991), used where the authorization server supports them.
# The suite's scenario checks for this exact URL; mcpctl itself takes its document URL from a setting.
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"


async def _answer_headlessly(authorization_url: str) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        response = await client.get(authorization_url, follow_redirects=False)
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307, 308) or not location:
        raise RuntimeError(f"the authorization server answered {response.status_code} without a redirect")
    return str(location)


async def _request(backend: Any, request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    await backend.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    async for message in backend.messages():
        if message.get("id") == request_id and "method" not in message:
            return dict(message)
    raise RuntimeError(f"no answer to {method}")


async def _run_modern(factory: RemoteBackendFactory, version: str) -> None:
    """The 2026-07-28 wire (no initialize; the version on every request): the SDK's client over mcpctl's
    HTTP client for the remote (its egress checks and OAuth provider)."""
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async with factory.http_client() as http, \
            Client(streamable_http_client(factory.url, http_client=http), mode=version) as client:
        tools = (await client.list_tools()).tools
        if tools:
            try:
                await client.call_tool(tools[0].name, {})
            except Exception as exc:  # noqa: BLE001 - a refused call is the scenario's business, not the driver's
                logging.getLogger(__name__).info("tool call failed: %s", exc)


async def run(url: str, scenario: str, context: dict[str, Any], version: str = "") -> None:
    provider = open_provider(Paths.from_env(), "keyring")
    storage = SecretTokenStorage(provider, url)
    oauth = build_oauth(url, storage, redirect=redirect_uri(redirect_port("conformance")),
                        authorize=_answer_headlessly, workload="conformance",
                        client_id=context.get("client_id"), client_secret=context.get("client_secret"),
                        client_metadata_url=CLIENT_METADATA_URL)
    factory = RemoteBackendFactory(url, oauth=oauth)
    if version in MODERN_PROTOCOL_VERSIONS:
        await _run_modern(factory, version)
        return
    async with factory.connect() as backend:
        opened = await _request(backend, 1, "initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mcpctl", "version": "0"}})
        if "error" in opened:
            raise RuntimeError(f"initialize failed: {opened['error']}")
        await backend.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = await _request(backend, 2, "tools/list", {})
        tools = (listed.get("result") or {}).get("tools") or []
        if tools:
            await _request(backend, 3, "tools/call", {"name": tools[0]["name"], "arguments": {}})
        logging.getLogger(__name__).info("closing")
    logging.getLogger(__name__).info("scenario %s done", scenario)


def main() -> int:
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    anyio.run(run, sys.argv[-1], os.environ.get("MCP_CONFORMANCE_SCENARIO", ""), context,
              os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
