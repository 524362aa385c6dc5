"""The harness itself: the test image serves MCP over stdio on both engines, as non-root; the keyring works."""

from __future__ import annotations

import uuid

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.e2e.conftest import TEST_LABEL, TEST_RUN, Engine
from tests.e2e.images import MCP_SERVER_IMAGE


def _cli_for(engine: Engine) -> list[str]:
    if engine.name == "docker":
        return ["docker"]
    return ["podman", "--url", engine.base_url]


@pytest.mark.anyio
async def test_test_server_answers_mcp_over_stdio_as_non_root(engine: Engine) -> None:
    params = StdioServerParameters(
        command=_cli_for(engine)[0],
        args=[
            *_cli_for(engine)[1:], "run", "--rm", "-i", "--label", f"{TEST_LABEL}={TEST_RUN}",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=512:512", MCP_SERVER_IMAGE,
        ],
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert {"echo", "add", "get_env", "whoami"} <= tools
        echoed = await session.call_tool("echo", {"text": "ping"})
        assert echoed.content[0].text == "ping"  # type: ignore[union-attr]
        who = await session.call_tool("whoami", {})
        assert who.content[0].text == "1000:1000"  # type: ignore[union-attr]


def test_secret_service_round_trips_a_value(secret_service: None) -> None:
    import keyring

    name, value = f"probe-{uuid.uuid4().hex}", uuid.uuid4().hex
    keyring.set_password("mcpctl-test", name, value)
    try:
        assert keyring.get_password("mcpctl-test", name) == value
    finally:
        keyring.delete_password("mcpctl-test", name)
