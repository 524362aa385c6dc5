"""OAuth 2.1 for remote MCP servers, per the 2026-07-28 authorization spec, on the mcp SDK's OAuth client
(``mcp.client.auth.OAuthClientProvider``: RFC 9728 discovery, RFC 8414/OIDC metadata, PKCE S256, client ID
metadata documents, dynamic registration as a native application, RFC 8707 ``resource``, RFC 9207 ``iss``,
scope step-up, refresh). mcpctl adds where tokens live (``storage``: the secret backend, keyed by the
authorization server's issuer, or the proxy's memory), how a person answers the authorization request
(``login``: a loopback redirect on a stable port per server, or headless) and the pure parts (``flow``).

Policy: tokens and client secrets exist only in the secret backend and in the memory of the process using
them; never in a file, argv, a log line or mcpctl's output."""

from __future__ import annotations

__all__: list[str] = []
