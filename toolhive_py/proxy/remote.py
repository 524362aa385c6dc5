"""The backend of a remote (hosted) MCP server: the proxy is the server's client, over Streamable HTTP or
SSE, through the mcp SDK's client transports (as ``HttpBackendFactory`` does for a container's server).

Egress policy, enforced on every request this process sends for the workload (MCP requests and OAuth
discovery, registration and token requests alike):

- TLS is verified against the system's trust store plus the configured extra CA; there is no way to turn
  verification off; plain http goes only to a loopback host (a server on this machine);
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
from toolhive_py.remote.policy import (
    HeaderTemplate,
    check_addresses,
    fill_headers,
    is_loopback_host,
    is_same_origin,
)

if TYPE_CHECKING:
    import httpx2

__all__ = ["LOGIN_REQUIRED", "OAUTH_STATE_KEY", "RemoteBackendFactory", "build_ssl_context", "egress_auth"]

logger = logging.getLogger(__name__)

# The name, in the secrets frame, of the remote's OAuth state (auth.storage.OAuthState as JSON).
OAUTH_STATE_KEY: Final = "MCPCTL_OAUTH_STATE"
# A host that never resolves (RFC 2606 .invalid): requests to it are answered by this process (_LocalAnswers).
_LOCAL_HOST: Final = "mcpctl-proxy.invalid"
# The JSON-RPC error code of "the remote needs a (new) sign-in or credential" (implementation-defined range).
LOGIN_REQUIRED: Final = -32001
# How long a host's checked addresses are trusted before they are resolved and checked again.
_RESOLVED_TTL: Final = 30.0


def build_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """System trust plus the extra CA (PEM), hostname checked: the only TLS a remote is reached with."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


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


def _login_hint(workload: str, headers: Sequence[HeaderTemplate], oauth: bool) -> str:
    """What a 401 from the remote means, and its fix, as the client will read it."""
    if oauth or not headers:
        return (f"The remote MCP server needs you to sign in (HTTP 401). Run `mcpctl auth login {workload or 'NAME'}`, "
                "then try again.")
    secrets = ", ".join(s for t in headers for s in t.secrets) or "its header values"
    return (f"The remote MCP server refused the stored credential (HTTP 401). Store a valid one "
            f"(`mcpctl secret set` {secrets}), then `mcpctl restart {workload or 'NAME'}`.")


def _local_answers(inner: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
    """The httpx2 transport of a remote: the real one, plus answers the proxy gives for the remote itself
    (a 401 turned into a JSON-RPC error that names the fix, which the SDK's transport hands the client)."""
    import httpx2

    class _LocalAnswers(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.host == _LOCAL_HOST:
                message = (await request.aread()).decode()
                return httpx2.Response(401, json={"jsonrpc": "2.0", "id": None, "error": {
                    "code": LOGIN_REQUIRED, "message": message}}, request=request)
            return await inner.handle_async_request(request)

        async def aclose(self) -> None:
            await inner.aclose()

    return _LocalAnswers()


def egress_auth(url: str, headers: Sequence[HeaderTemplate], values: Mapping[str, str],
                inner: httpx2.Auth | None = None, *, workload: str = "") -> httpx2.Auth:
    """An httpx2 auth that checks each request's destination, adds the filled headers to requests for ``url``'s
    origin only, and hands the request on to ``inner`` (the OAuth provider) when given. Plain http goes only to
    a loopback host (``remote.policy.is_loopback_host``)."""
    import httpx2

    from toolhive_py.auth.client import LoginRequiredError

    resolved = _Resolved()
    hint = _login_hint(workload, headers, inner is not None)

    def local_answer() -> httpx2.Request:
        return httpx2.Request("POST", f"http://{_LOCAL_HOST}/401", content=hint.encode())

    class _EgressAuth(httpx2.Auth):
        requires_response_body = bool(inner is not None and inner.requires_response_body)

        async def _guard(self, request: httpx2.Request) -> None:
            if request.url.host == _LOCAL_HOST:
                return
            if request.url.scheme != "https" and not is_loopback_host(request.url.host):
                raise BackendClosed(f"refused a plain-http request to {request.url.host}: remotes are TLS only")
            await resolved.check(request.url.host, request.url.port or 443)
            if is_same_origin(str(request.url), url):
                try:
                    request.headers.update(fill_headers(headers, values))
                except KeyError as exc:
                    raise BackendClosed(f"the secret {exc.args[0]} for a header is not held by this proxy") from None

        async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
            await self._guard(request)
            own = is_same_origin(str(request.url), url)
            if inner is None:
                response = yield request
                if response.status_code == 401 and own:
                    logger.warning("the remote answered 401: %s", hint)
                    yield local_answer()
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
                except LoginRequiredError:
                    logger.warning("the remote needs a sign-in: %s", hint)
                    yield local_answer()
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
    workload: str = ""  # its name, for the fix a refused request names

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
        transport = _local_answers(httpx2.AsyncHTTPTransport(verify=build_ssl_context(self.ca_bundle), trust_env=False))
        return httpx2.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False,
            timeout=timeout or httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
            auth=egress_auth(self.url, self.headers, self.secret_values, inner, workload=self.workload))

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
