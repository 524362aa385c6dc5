"""Which Host and Origin headers the proxy's front trusts: decided by ``security_settings`` and checked
here with the SDK's own validator on a request built in memory (no socket)."""

from __future__ import annotations

import anyio
import pytest
from mcp.server.transport_security import TransportSecurityMiddleware
from starlette.requests import Request

from toolhive_py.proxy.http.app import security_settings

PORT = 41873


def status(port: int, *, host: str, origin: str | None = None) -> int:
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin is not None else [])
    request = Request({"type": "http", "method": "GET", "path": "/mcp", "headers": headers})
    rejection = anyio.run(TransportSecurityMiddleware(security_settings(port)).validate_request, request)
    return 200 if rejection is None else rejection.status_code


@pytest.mark.parametrize("origin", [None, f"http://127.0.0.1:{PORT}", f"http://localhost:{PORT}",
                                    f"http://[::1]:{PORT}"])
def test_no_origin_or_the_proxys_own_is_trusted(origin: str | None) -> None:
    assert status(PORT, host=f"127.0.0.1:{PORT}", origin=origin) == 200


@pytest.mark.parametrize("origin", ["http://localhost", "http://127.0.0.1", "http://[::1]", "http://localhost:80",
                                    "http://localhost:3000", f"http://127.0.0.1:{PORT + 1}",
                                    f"https://localhost:{PORT}", "http://evil.example", "null"])
def test_pages_of_any_other_origin_are_refused(origin: str) -> None:
    assert status(PORT, host=f"127.0.0.1:{PORT}", origin=origin) == 403


def test_on_port_80_the_portless_origin_is_the_proxys_own() -> None:
    assert status(80, host="localhost", origin="http://localhost") == 200
    assert status(80, host="localhost", origin="http://localhost:8080") == 403


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", f"127.0.0.2:{PORT}", ""])
def test_foreign_hosts_are_refused(host: str) -> None:
    assert status(PORT, host=host) == 421
