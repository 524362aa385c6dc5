"""Where OAuth state lives: in the secret backend, keyed by the authorization server's issuer (a client
registration per issuer; tokens per issuer and resource, since a token is bound to its resource, RFC 8707),
or in a proxy's memory, seeded from the secrets frame.

Secret names (the backend's name rules: letters, digits, ``._-``): ``mcpctl-oauth-client.H(issuer)``,
``mcpctl-oauth-token.H(issuer resource)`` and ``mcpctl-oauth-issuer.H(resource)`` (which issuer a resource
was last authorized by), H being 24 hex digits of a SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

    from toolhive_py.secrets import SecretProvider

__all__ = ["MemoryTokenStorage", "OAuthState", "SecretTokenStorage", "client_key", "forget_state", "issuer_key",
           "load_state", "token_key"]


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def client_key(issuer: str) -> str:
    return f"mcpctl-oauth-client.{_h(issuer)}"


def token_key(issuer: str, resource: str) -> str:
    return f"mcpctl-oauth-token.{_h(issuer + ' ' + resource)}"


def issuer_key(resource: str) -> str:
    return f"mcpctl-oauth-issuer.{_h(resource)}"


class OAuthState:
    """One resource's OAuth state as JSON-able data: its issuer, tokens (with when they expire) and client."""

    def __init__(self, issuer: str | None = None, tokens: dict[str, Any] | None = None,
                 client: dict[str, Any] | None = None) -> None:
        self.issuer, self.tokens, self.client = issuer, tokens, client

    def to_json(self) -> str:
        return json.dumps({"issuer": self.issuer, "tokens": self.tokens, "client": self.client},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OAuthState:
        data = json.loads(text)
        return cls(data.get("issuer"), data.get("tokens"), data.get("client"))


def _token_record(tokens: OAuthToken) -> dict[str, Any]:
    record: dict[str, Any] = tokens.model_dump(mode="json", exclude_none=True)
    if tokens.expires_in is not None:
        record["expires_at"] = time.time() + float(tokens.expires_in)
    return record


def _token_from(record: dict[str, Any] | None) -> OAuthToken | None:
    from mcp.shared.auth import OAuthToken

    if not record:
        return None
    fields = {k: v for k, v in record.items() if k != "expires_at"}
    if "expires_at" in record:  # what is left of its lifetime, so a reloaded token is refreshed when due
        fields["expires_in"] = max(0, int(float(record["expires_at"]) - time.time()))
    return OAuthToken.model_validate(fields)


class MemoryTokenStorage:
    """The SDK's TokenStorage in memory (a proxy's, seeded from the frame; the conformance driver's)."""

    def __init__(self, state: OAuthState | None = None) -> None:
        self.state = state or OAuthState()
        self.issuer_of: Callable[[], str | None] = lambda: None

    async def get_tokens(self) -> OAuthToken | None:
        return _token_from(self.state.tokens)

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.state.tokens = _token_record(tokens)
        self.state.issuer = self.issuer_of() or self.state.issuer

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        from mcp.shared.auth import OAuthClientInformationFull

        return OAuthClientInformationFull.model_validate(self.state.client) if self.state.client else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.state.client = client_info.model_dump(mode="json", exclude_none=True)
        self.state.issuer = client_info.issuer or self.issuer_of() or self.state.issuer


class SecretTokenStorage(MemoryTokenStorage):
    """The SDK's TokenStorage on a secret backend, for ``resource`` (the remote's canonical URL)."""

    def __init__(self, provider: SecretProvider, resource: str) -> None:
        self.provider, self.resource = provider, resource
        super().__init__(load_state(provider, resource))

    async def set_tokens(self, tokens: OAuthToken) -> None:
        await super().set_tokens(tokens)
        self._save()

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        await super().set_client_info(client_info)
        self._save()

    def _save(self) -> None:
        issuer = self.state.issuer
        if issuer is None:
            return  # nothing to key it by yet: saved once the issuer is known (tokens come after metadata)
        self.provider.set(issuer_key(self.resource), issuer)
        if self.state.client is not None:
            self.provider.set(client_key(issuer), json.dumps(self.state.client))
        if self.state.tokens is not None:
            self.provider.set(token_key(issuer, self.resource), json.dumps(self.state.tokens))


def load_state(provider: SecretProvider, resource: str) -> OAuthState:
    """What the backend holds for ``resource``: nothing before the first login."""
    issuer = provider.get(issuer_key(resource))
    if not issuer:
        return OAuthState()
    client = provider.get(client_key(issuer))
    tokens = provider.get(token_key(issuer, resource))
    return OAuthState(issuer, json.loads(tokens) if tokens else None, json.loads(client) if client else None)


def forget_state(provider: SecretProvider, resource: str) -> bool:
    """Delete ``resource``'s tokens and its issuer link (the issuer's client registration stays: other
    resources of the same authorization server use it). True when there was something to delete."""
    issuer = provider.get(issuer_key(resource))
    if not issuer:
        return False
    provider.delete(token_key(issuer, resource))
    provider.delete(issuer_key(resource))
    return True
