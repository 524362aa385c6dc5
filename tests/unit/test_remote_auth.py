"""The pure parts of mcpctl's OAuth: the stable redirect, reading a person's answer, token lifetimes kept."""

from __future__ import annotations

import pytest

from toolhive_py.auth.flow import REDIRECT_PORTS, AuthorizationAnswer, parse_answer, redirect_port, redirect_uri
from toolhive_py.auth.storage import MemoryTokenStorage, OAuthState, client_key, issuer_key, token_key
from toolhive_py.errors import UsageError
from toolhive_py.secrets.base import check_secret_name

ASKED = "https://as.example/authorize?response_type=code&client_id=c&state=S1&code_challenge=x"


def test_each_server_has_its_own_stable_loopback_redirect() -> None:
    assert redirect_port("github") == redirect_port("github")
    assert redirect_port("github") in REDIRECT_PORTS
    assert len({redirect_port(f"server-{i}") for i in range(50)}) > 40
    assert redirect_uri(33500) == "http://127.0.0.1:33500/callback"


@pytest.mark.parametrize(("answer", "expected"), [
    ("http://127.0.0.1:33500/callback?code=C1&state=S1&iss=https%3A%2F%2Fas.example",
     AuthorizationAnswer("C1", "S1", "https://as.example")),
    ("  http://127.0.0.1:33500/callback?code=C1&state=OTHER\n", AuthorizationAnswer("C1", "OTHER", None)),
    ("?code=C2&state=S1", AuthorizationAnswer("C2", "S1", None)),
    ("code=C3&state=S1", AuthorizationAnswer("C3", "S1", None)),
    ("C4", AuthorizationAnswer("C4", "S1", None)),  # a bare code: the state sent, so the SDK's check holds
])
def test_an_answer_is_the_redirect_url_its_query_or_the_code(answer: str, expected: AuthorizationAnswer) -> None:
    assert parse_answer(answer, ASKED) == expected


@pytest.mark.parametrize(("answer", "code"), [
    ("", "no-authorization-code"),
    ("http://127.0.0.1/callback?state=S1", "no-authorization-code"),
    ("http://127.0.0.1/callback?error=access_denied&error_description=no", "authorization-refused"),
])
def test_an_answer_without_a_code_is_refused(answer: str, code: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_answer(answer, ASKED)
    assert caught.value.code == code


def test_an_answer_never_shows_its_code() -> None:
    assert "C1" not in repr(parse_answer("?code=C1&state=S1", ASKED))


def test_secret_names_are_valid_and_keyed_by_issuer_and_resource() -> None:
    for name in (client_key("https://as.example"), token_key("https://as.example", "https://r.example/mcp"),
                 issuer_key("https://r.example/mcp")):
        check_secret_name(name)
    assert token_key("https://a", "https://r1") != token_key("https://a", "https://r2")
    assert client_key("https://a") != client_key("https://b")


@pytest.mark.anyio
async def test_a_stored_token_comes_back_with_what_is_left_of_its_lifetime() -> None:
    from mcp.shared.auth import OAuthToken

    storage = MemoryTokenStorage()
    storage.issuer_of = lambda: "https://as.example"
    await storage.set_tokens(OAuthToken(access_token="a", expires_in=3600, refresh_token="r"))
    assert storage.state.issuer == "https://as.example"
    reloaded = MemoryTokenStorage(OAuthState.from_json(storage.state.to_json()))
    token = await reloaded.get_tokens()
    assert token is not None
    assert (token.access_token, token.refresh_token) == ("a", "r")
    assert token.expires_in is not None
    assert 3590 <= token.expires_in <= 3600
    assert reloaded.state.tokens is not None
    reloaded.state.tokens["expires_at"] = 0
    expired = await reloaded.get_tokens()
    assert expired is not None
    assert expired.expires_in == 0


@pytest.mark.anyio
async def test_a_reloaded_expired_token_is_refreshed_not_trusted() -> None:
    """Regression: the SDK's provider treats a token loaded from storage as never expiring, so a stored token
    past its lifetime was sent (and refused) instead of refreshed."""
    import time

    from toolhive_py.auth.client import build_oauth

    state = OAuthState("https://as.example", {"access_token": "old", "refresh_token": "r", "token_type": "Bearer",
                                              "expires_at": time.time() - 60},
                       {"client_id": "c", "redirect_uris": ["http://127.0.0.1:33500/callback"]})
    provider = build_oauth("https://r.example/mcp", MemoryTokenStorage(state), redirect=redirect_uri(33500),
                           authorize=None)
    await provider._initialize()  # type: ignore[attr-defined]  # the SDK provider's own loading step
    context = provider.context  # type: ignore[attr-defined]
    assert not context.is_token_valid()
    assert context.can_refresh_token()


@pytest.mark.anyio
async def test_a_reloaded_live_token_is_used_as_is() -> None:
    import time

    from toolhive_py.auth.client import build_oauth

    state = OAuthState("https://as.example", {"access_token": "live", "token_type": "Bearer",
                                              "expires_at": time.time() + 600}, None)
    provider = build_oauth("https://r.example/mcp", MemoryTokenStorage(state), redirect=redirect_uri(33500),
                           authorize=None)
    await provider._initialize()  # type: ignore[attr-defined]  # the SDK provider's own loading step
    assert provider.context.is_token_valid()  # type: ignore[attr-defined]
