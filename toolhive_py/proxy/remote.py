"""The backend of a remote (hosted) MCP server: the proxy is the server's client, over Streamable HTTP or
SSE, through the mcp SDK's client transports (as ``HttpBackendFactory`` does for a container's server).

Egress policy, enforced on every request this process sends for the workload (MCP requests and OAuth
discovery, registration and token requests alike):

- TLS is verified against the system's trust store plus the configured extra CA; there is no way to turn
  verification off;
- the host is resolved here and refused when any address is link-local or a cloud-metadata address
  (``remote.policy.check_addresses``);
- credentials (the filled header templates, an OAuth access token) go only to the server's own origin; the
  SDK's transports follow no redirect that leaves it, and this module never adds a header to a request for
  another origin.

Secret values arrive in memory (the secrets frame on stdin) and are put into headers per request: never in
argv, a file or a log line.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.proxy.backends import Backend, BackendClosed, _SdkClientBackend
from toolhive_py.remote.policy import HeaderTemplate, check_addresses, fill_headers, is_same_origin

if TYPE_CHECKING:
    import httpx2

__all__ = ["RemoteBackendFactory", "build_ssl_context", "egress_auth"]

logger = logging.getLogger(__name__)

# How long a host's checked addresses are trusted before they are resolved and checked again.
_RESOLVED_TTL: Final = 30.0


def build_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """System trust plus the extra CA (PEM), hostname checked: the only TLS a remote is reached with."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Resolved:
    """Hosts whose resolved addresses passed the check, and when (one lookup per host per TTL)."""

    def __init__(self) -> None:
        self._checked: dict[tuple[str, int], float] = {}

    async def check(self, host: str, port: int) -> None:
        import anyio

        key = (host, port)
        if time.monotonic() - self._checked.get(key, -_RESOLVED_TTL) < _RESOLVED_TTL:
            return
        try:
            infos = await anyio.getaddrinfo(host, port, type=0)
        except OSError as exc:
            raise BackendClosed(f"cannot resolve {host}: {exc}") from exc
        check_addresses(host, [str(info[4][0]) for info in infos])
        self._checked[key] = time.monotonic()


def egress_auth(url: str, headers: Sequence[HeaderTemplate], values: Mapping[str, str],
                inner: httpx2.Auth | None = None, *, insecure_loopback: bool = False) -> httpx2.Auth:
    """An httpx2 auth that checks each request's destination, adds the filled headers to requests for ``url``'s
    origin only, and hands the request on to ``inner`` (the OAuth provider) when given. ``insecure_loopback``
    lets plain http reach loopback hosts (test servers such as the conformance suite's); never set by the CLI."""
    import httpx2

    resolved = _Resolved()

    class _EgressAuth(httpx2.Auth):
        requires_response_body = bool(inner is not None and inner.requires_response_body)

        async def _guard(self, request: httpx2.Request) -> None:
            if request.url.scheme != "https" and not (insecure_loopback and _is_loopback(request.url.host)):
                raise BackendClosed(f"refused a plain-http request to {request.url.host}: remotes are TLS only")
            await resolved.check(request.url.host, request.url.port or 443)
            if is_same_origin(str(request.url), url):
                try:
                    request.headers.update(fill_headers(headers, values))
                except KeyError as exc:
                    raise BackendClosed(f"the secret {exc.args[0]} for a header is not held by this proxy") from None

        async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
            await self._guard(request)
            if inner is None:
                yield request
                return
            flow = inner.async_auth_flow(request)
            outgoing = await flow.__anext__()
            while True:
                if outgoing is not request:
                    await self._guard(outgoing)
                response = yield outgoing
                try:
                    outgoing = await flow.asend(response)
                except StopAsyncIteration:
                    return

    return _EgressAuth()


@dataclass(frozen=True)
class RemoteBackendFactory:
    """A remote server at ``url``: every connect opens one upstream session with its own checked client."""

    url: str
    transport: str = "streamable-http"
    headers: tuple[HeaderTemplate, ...] = ()
    secret_values: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    ca_bundle: Path | None = None
    oauth: Any = field(default=None, repr=False, compare=False)  # an httpx2.Auth, or a callable making one
    insecure_loopback: bool = False  # see egress_auth: programmatic use (tests) only

    @property
    def description(self) -> str:
        return f"remote {self.transport} server at {self.url}"

    def modern_lane(self) -> str:
        return ("a remote server is reached through its session-era transport with mcpctl's credentials; "
                "2026-07-28 requests are translated onto it")

    def http_client(self, timeout: httpx2.Timeout | None = None) -> httpx2.AsyncClient:
        import httpx2
        from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

        inner = self.oauth() if callable(self.oauth) and not isinstance(self.oauth, httpx2.Auth) else self.oauth
        return httpx2.AsyncClient(
            verify=build_ssl_context(self.ca_bundle), follow_redirects=False, trust_env=False,
            timeout=timeout or httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
            auth=egress_auth(self.url, self.headers, self.secret_values, inner,
                             insecure_loopback=self.insecure_loopback))

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Backend]:
        if self.transport == "sse":
            from mcp.client.sse import sse_client

            def factory(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
                        auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
                return self.http_client(timeout)

            async with sse_client(self.url, httpx_client_factory=factory) as streams:
                yield _SdkClientBackend(streams[0], streams[1])
        else:
            from mcp.client.streamable_http import streamable_http_client

            async with self.http_client() as client, streamable_http_client(self.url, http_client=client) as streams:
                yield _SdkClientBackend(streams[0], streams[1])
