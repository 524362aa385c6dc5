"""An OAuth-protected remote MCP server for tests, on plain http on 127.0.0.1 (loopback: allowed without TLS):
the mcp SDK's ``MCPServer`` as authorization server and resource server in one (RFC 9728 protected-resource
metadata, RFC 8414 metadata, dynamic registration, PKCE S256 authorization code answered at once without a
browser, the refresh_token grant) with one ``echo`` tool; its access tokens expire after ``--ttl`` seconds,
and an expired or unknown one is answered with 401 and ``WWW-Authenticate``.

For the test, ``GET /_test/stats`` tells how many grants of each kind were made and which tokens were issued,
and ``POST /_test/revoke`` revokes every token issued so far (``?only=access``: the access tokens only, as
when the server refuses a token before the client's clock says it expired).
Run as a script: ``python oauth_server.py --port P [--ttl S]``; ``serve_oauth`` runs it as a process.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["serve_oauth"]


@contextmanager
def serve_oauth(log: Path, *, ttl: int = 3) -> Iterator[str]:
    """The server as a process; yields its base URL ``http://127.0.0.1:PORT`` once it answers."""
    import httpx

    from tests.integration.remote_server import _free_port

    port = _free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--port", str(port), "--ttl", str(ttl)], stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/_test/stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "OAuth server never listened:\n" + log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _provider(ttl: int) -> Any:
    """An in-memory ``OAuthAuthorizationServerProvider`` that approves every authorization at once."""
    from mcp.server.auth.provider import (
        AccessToken,
        AuthorizationCode,
        AuthorizationParams,
        RefreshToken,
        TokenError,
        construct_redirect_uri,
    )
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

    class Provider:
        def __init__(self) -> None:
            self.clients: dict[str, OAuthClientInformationFull] = {}
            self.codes: dict[str, AuthorizationCode] = {}
            self.access: dict[str, AccessToken] = {}
            self.refresh: dict[str, RefreshToken] = {}
            self.grants: Counter[str] = Counter()
            self.issued: list[str] = []

        async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
            return self.clients.get(client_id)

        async def register_client(self, client_info: OAuthClientInformationFull) -> None:
            assert client_info.client_id is not None
            self.clients[client_info.client_id] = client_info

        async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
            code = secrets.token_urlsafe(24)
            assert client.client_id is not None
            self.codes[code] = AuthorizationCode(
                code=code, scopes=params.scopes or [], expires_at=time.time() + 60, client_id=client.client_id,
                code_challenge=params.code_challenge, redirect_uri=params.redirect_uri,
                redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly, resource=params.resource)
            return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

        async def load_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: str) -> AuthorizationCode | None:
            return self.codes.get(authorization_code)

        def _tokens(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
            access, refresh = "oat_" + secrets.token_urlsafe(24), "ort_" + secrets.token_urlsafe(24)
            self.access[access] = AccessToken(token=access, client_id=client_id, scopes=scopes,
                                              expires_at=int(time.time()) + ttl, resource=resource)
            self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes,
                                                 resource=resource)
            self.issued += [access, refresh]
            return OAuthToken(access_token=access, token_type="Bearer", expires_in=ttl, refresh_token=refresh,
                              scope=" ".join(scopes) or None)

        async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                              authorization_code: AuthorizationCode) -> OAuthToken:
            self.grants["authorization_code"] += 1
            self.codes.pop(authorization_code.code, None)
            return self._tokens(authorization_code.client_id, authorization_code.scopes, authorization_code.resource)

        async def load_refresh_token(self, client: OAuthClientInformationFull,
                                     refresh_token: str) -> RefreshToken | None:
            found = self.refresh.get(refresh_token)
            if found is None:
                self.grants["refresh_token_refused"] += 1
            return found

        async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken,
                                         scopes: list[str]) -> OAuthToken:
            if self.refresh.pop(refresh_token.token, None) is None:  # rotated: each refresh token works once
                raise TokenError("invalid_grant", "refresh token already used")
            self.grants["refresh_token"] += 1
            return self._tokens(refresh_token.client_id, scopes or refresh_token.scopes, refresh_token.resource)

        async def load_access_token(self, token: str) -> AccessToken | None:
            found = self.access.get(token)
            if found is None or (found.expires_at is not None and found.expires_at < time.time()):
                return None  # expired or unknown: the resource server answers 401 with WWW-Authenticate
            return found

        async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
            self.access.pop(token.token, None)
            self.refresh.pop(token.token, None)

        def revoke_all(self, access_only: bool) -> None:
            self.access.clear()
            if not access_only:
                self.refresh.clear()

    return Provider()


def _app(port: int, ttl: int) -> Any:
    from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions
    from mcp.server.mcpserver import MCPServer
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    base = f"http://127.0.0.1:{port}"
    provider = _provider(ttl)
    server = MCPServer("oauth-test-server", version="1.0.0", auth_server_provider=provider, auth=AuthSettings.model_validate({
        "issuer_url": base, "resource_server_url": base + "/mcp", "validate_token_resource": True,
        "client_registration_options": ClientRegistrationOptions(enabled=True)}))

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"oauth:{text}"

    async def stats(request: Request) -> Response:
        return JSONResponse({"grants": dict(provider.grants), "issued": provider.issued})

    async def revoke(request: Request) -> Response:
        provider.revoke_all(request.query_params.get("only") == "access")
        return JSONResponse({"revoked": True})

    server.custom_route("/_test/stats", methods=["GET"])(stats)
    server.custom_route("/_test/revoke", methods=["POST"])(revoke)

    return server.streamable_http_app()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttl", type=int, default=3)
    args = parser.parse_args()
    uvicorn.run(_app(args.port, args.ttl), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
