"""A client's proxy credential for a workload, for e2e tests that talk to a workload's proxy directly: every
workload mcpctl starts lets in only clients with a credential, so a test presents one, as a real client does
(``mcpctl client connect`` mints it the same way)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from toolhive_py import credentials
from toolhive_py.config import Paths
from toolhive_py.proxy.supervisor import proxy_dir, read_state

__all__ = ["TEST_CLIENT", "bearer", "credentialed", "workload_at"]

TEST_CLIENT = "cursor"  # a catalog client id: `mcpctl connect NAME --client ID` looks its token up by it


def bearer(workload: str, client: str = TEST_CLIENT) -> dict[str, str]:
    """The ``Authorization`` header of ``client``'s credential for ``workload`` (minted on first use)."""
    paths = Paths.from_env()
    token = credentials.token(paths, workload, client) or credentials.mint(paths, workload, client)
    return {"Authorization": f"Bearer {token}"}


def workload_at(url: str) -> str:
    """The workload whose proxy listens at ``url`` (from this home's proxy state)."""
    paths = Paths.from_env()
    port = urlsplit(url).port
    for directory in sorted(proxy_dir(paths, "x").parent.iterdir()):
        state = read_state(paths, directory.name)
        if state is not None and state.port == port:
            return directory.name
    raise AssertionError(f"no workload of this home has its proxy at {url}")


@asynccontextmanager
async def credentialed(url: str, workload: str | None = None) -> AsyncIterator[TransportStreams]:
    """Streamable HTTP to ``url`` with the credential on every request: ``Client(credentialed(url), …)``."""
    async with create_mcp_http_client(headers=bearer(workload or workload_at(url))) as http, \
            streamable_http_client(url, http_client=http) as streams:
        yield streams
