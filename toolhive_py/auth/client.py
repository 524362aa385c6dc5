"""The SDK's OAuth client (``OAuthClientProvider``) set up for mcpctl: its storage, the loopback redirect, a
pre-registered client when one is given, and a person (or nobody: a proxy) answering the authorization.

``build_oauth`` returns an ``httpx2.Auth`` for ``proxy.remote.egress_auth``'s ``inner``, so every request the
flow makes (metadata, registration, token) passes the same egress checks as the MCP requests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.auth.flow import parse_answer
from toolhive_py.auth.storage import MemoryTokenStorage
from toolhive_py.errors import MCPCTLError

if TYPE_CHECKING:
    import httpx2

__all__ = ["CLIENT_NAME", "LoginRequiredError", "build_oauth"]

CLIENT_NAME: Final = "mcpctl"

Authorize = Callable[[str], Awaitable[str]]
"""Shows the authorization URL to a person and returns their answer (the redirect URL, or the code)."""


class LoginRequiredError(MCPCTLError):
    """The remote needs an authorization nobody is here to give (the proxy runs unattended)."""

    default_code = "login-required"


def build_oauth(server_url: str, storage: MemoryTokenStorage, *, redirect: str, authorize: Authorize | None,
                workload: str = "", client_id: str | None = None, client_secret: str | None = None,
                client_metadata_url: str | None = None) -> httpx2.Auth:
    """The OAuth provider of one remote. ``authorize`` None: a new authorization fails with the fix
    (``mcpctl auth login WORKLOAD``), while stored tokens are used and refreshed."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata
    from pydantic import AnyUrl

    if client_id and storage.state.client is None:
        storage.state.client = OAuthClientInformationFull(
            client_id=client_id, client_secret=client_secret, redirect_uris=[AnyUrl(redirect)],
            token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
        ).model_dump(mode="json", exclude_none=True)

    class _Provider(OAuthClientProvider):
        async def _initialize(self) -> None:
            # The SDK treats a reloaded token as never expiring; its stored lifetime makes it refresh when due.
            await super()._initialize()
            tokens = self.context.current_tokens
            if tokens is not None and tokens.expires_in is not None:
                self.context.update_token_expiry(tokens)

        async def _auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
            # The SDK answers a 401 with a whole new authorization even when it holds a refresh token, so a
            # token the server refuses before our clock says it expired (skew, a revoked access token) would
            # need a new login; refresh once first, and authorize anew only if that fails too.
            flow = super()._auth_flow(request)
            outgoing = await flow.__anext__()
            retried = False
            while True:
                response = yield outgoing
                if (outgoing is request and response.status_code == 401 and not retried
                        and self.context.is_token_valid() and self.context.can_refresh_token()):
                    retried = True
                    await flow.aclose()
                    self.context.token_expiry_time = time.time() - 1  # the SDK then refreshes before the request
                    request.headers.pop("Authorization", None)
                    flow = super()._auth_flow(request)
                    outgoing = await flow.__anext__()
                    continue
                try:
                    outgoing = await flow.asend(response)
                except StopAsyncIteration:
                    return

    asked: dict[str, str] = {}

    async def on_redirect(url: str) -> None:
        if authorize is None:
            raise LoginRequiredError(f"The remote server {server_url} needs you to sign in.",
                                     hint=f"Run `mcpctl auth login {workload or 'NAME'}`.", url=server_url)
        asked["url"] = url
        asked["answer"] = await authorize(url)

    async def on_callback() -> AuthorizationCodeResult:
        answer = parse_answer(asked.pop("answer", ""), asked.pop("url", ""))
        return AuthorizationCodeResult(code=answer.code, state=answer.state, iss=answer.iss)

    metadata = OAuthClientMetadata(client_name=CLIENT_NAME, redirect_uris=[AnyUrl(redirect)],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                   token_endpoint_auth_method="none",  # noqa: S106 - a method name, not a password
                                   application_type="native")
    provider = _Provider(server_url=server_url, client_metadata=metadata, storage=storage,
                         redirect_handler=on_redirect, callback_handler=on_callback,
                         client_metadata_url=client_metadata_url)

    def issuer() -> str | None:
        found: Any = provider.context.oauth_metadata
        return str(found.issuer) if found is not None else provider.context.auth_server_url

    storage.issuer_of = issuer
    return provider
