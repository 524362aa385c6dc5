"""The front's own Host/Origin and Accept checks agree with the SDK's on every case (they replace them on the
session-era path, which must not load the SDK); the call-timeout choice per tool."""

from __future__ import annotations

import anyio
import pytest
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware
from starlette.requests import Request

from toolhive_py.proxy.http.app import security_settings
from toolhive_py.proxy.http.checks import accepts, allowed_hosts, allowed_origins, host_origin_refusal, is_stateless
from toolhive_py.proxy.http.sessions import SessionLimits

HOSTS = ["127.0.0.1:8700", "localhost:8700", "[::1]:8700", "localhost", "127.0.0.1:8701", "evil.example", "", None]
ORIGINS = [None, "", "http://localhost:8700", "http://127.0.0.1:8700", "http://[::1]:8700", "http://localhost",
           "http://localhost:80", "https://localhost:8700", "null", "http://evil.example"]


def _scope(headers: dict[str, str | None]) -> dict[str, object]:
    return {"type": "http", "method": "GET", "path": "/mcp",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items() if v is not None]}


@pytest.mark.parametrize("port", [8700, 80])
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("origin", ORIGINS)
def test_host_and_origin_are_judged_as_the_sdk_judges_them(port: int, host: str | None, origin: str | None) -> None:
    scope = _scope({"host": host, "origin": origin})
    sdk = anyio.run(TransportSecurityMiddleware(security_settings(port)).validate_request, Request(scope))
    ours = host_origin_refusal(scope, allowed_hosts(port), allowed_origins(port))
    assert (ours[0] if ours else None) == (sdk.status_code if sdk else None)


@pytest.mark.parametrize("accept", ["application/json, text/event-stream", "application/json", "text/event-stream",
                                    "*/*", "application/*, text/*", "text/html", "", "APPLICATION/JSON;q=0.9, text/*"])
def test_accept_is_read_as_the_sdk_reads_it(accept: str) -> None:
    scope = _scope({"accept": accept})
    assert accepts(scope) == check_accept_headers(Request(scope))


def test_only_a_version_outside_the_handshake_era_is_stateless() -> None:
    assert is_stateless(_scope({"mcp-protocol-version": "2026-07-28"}))
    assert not is_stateless(_scope({"mcp-protocol-version": "2025-11-25"}))
    assert not is_stateless(_scope({}))


def test_a_tools_own_timeout_wins_over_the_default_and_other_methods_have_none() -> None:
    limits = SessionLimits(call_timeout=30, tool_timeouts={"build": 600, "quick": 0})
    assert limits.timeout_for({"method": "tools/call", "params": {"name": "build"}}) == 600
    assert limits.timeout_for({"method": "tools/call", "params": {"name": "quick"}}) == 0
    assert limits.timeout_for({"method": "tools/call", "params": {"name": "other"}}) == 30
    assert limits.timeout_for({"method": "tools/list"}) == 0
