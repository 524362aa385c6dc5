"""The pure parts of an authorization: the stable loopback redirect of a server, the client metadata mcpctl
registers with, and reading a person's answer (the redirect URL, or just the code) back into the SDK's
``AuthorizationCodeResult``."""

from __future__ import annotations

import hashlib
from typing import Final
from urllib.parse import parse_qs, urlsplit

from toolhive_py.errors import UsageError

__all__ = ["REDIRECT_PATH", "REDIRECT_PORTS", "AuthorizationAnswer", "parse_answer", "redirect_port",
           "redirect_uri"]

REDIRECT_PATH: Final = "/callback"
# Ports of the loopback redirect (RFC 8252 §7.3): one per server name, stable, so a pre-registered client's
# redirect URI stays right; outside the usual ephemeral range.
REDIRECT_PORTS: Final = range(33400, 34400)


def redirect_port(name: str) -> int:
    """The loopback port of ``name``'s redirect: derived from the name, the same on every login."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return REDIRECT_PORTS.start + digest % len(REDIRECT_PORTS)


def redirect_uri(port: int) -> str:
    return f"http://127.0.0.1:{port}{REDIRECT_PATH}"


class AuthorizationAnswer:
    """What came back from the authorization server's redirect (the SDK's ``AuthorizationCodeResult`` fields)."""

    __slots__ = ("code", "iss", "state")

    def __init__(self, code: str, state: str | None, iss: str | None) -> None:
        self.code, self.state, self.iss = code, state, iss

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuthorizationAnswer) and (self.code, self.state, self.iss) == (
            other.code, other.state, other.iss)

    def __repr__(self) -> str:  # never the code itself: it is a credential until exchanged
        return f"AuthorizationAnswer(state={self.state!r}, iss={self.iss!r})"


def parse_answer(answer: str, authorization_url: str) -> AuthorizationAnswer:
    """A person's answer to the authorization request: the whole redirect URL (``http://127.0.0.1:…/callback?
    code=…&state=…&iss=…``), its query, or only the code (then the state is the one this request sent, so the
    SDK's state check still compares what it sent with what it gets)."""
    text = answer.strip()
    if not text:
        raise UsageError("No redirect URL or code was given.", hint="Paste the URL the browser was sent to.",
                         code="no-authorization-code")
    query = urlsplit(text).query if "://" in text else (text[1:] if text.startswith("?") else
                                                        (text if "=" in text else ""))
    sent = parse_qs(urlsplit(authorization_url).query).get("state", [None])[0]
    if not query:
        return AuthorizationAnswer(text, sent, None)
    values = parse_qs(query)
    if "error" in values:
        why = values.get("error_description", values["error"])[0]
        raise UsageError(f"The authorization server refused: {why}.", hint="Try `mcpctl auth login NAME` again.",
                         code="authorization-refused")
    if "code" not in values:
        raise UsageError("The redirect URL holds no code.", hint="Paste the whole URL the browser was sent to.",
                         code="no-authorization-code")
    return AuthorizationAnswer(values["code"][0], values.get("state", [None])[0], values.get("iss", [None])[0])
