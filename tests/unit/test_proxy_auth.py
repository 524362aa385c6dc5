"""The proxy's access middleware in process (a real httpx client over ASGI, a real credentials file): bearer
parsing, RFC 6750 challenges, migration mode, hot reload and revocation, probe redaction, and the peer check
failing closed for a peer that is no real socket. The real-process and second-uid cases are in
tests/integration/test_proxy_auth.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from toolhive_py import credentials as creds
from toolhive_py.config import atomic_write
from toolhive_py.proxy.auth import CLIENT_SCOPE_KEY, bearer_token, challenge, client_of, protect

pytestmark = pytest.mark.anyio

READY_BODY = {"status": "ready", "server": "github", "backend": "docker attach mcpctl-github -- npx secret-arg",
              "error": None}


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the proxy's front: says which client the middleware let through."""
    if scope["path"] == "/health/ready":
        body, status, kind = json.dumps(READY_BODY).encode(), 200, b"application/json"
    elif scope["path"] == "/metrics":
        body, status, kind = b'mcpctl_tool_calls_total{tool="get_env"} 1\n', 200, b"text/plain"
    else:
        body, status, kind = json.dumps({"client": scope.get(CLIENT_SCOPE_KEY)}).encode(), 200, b"application/json"
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
    await send({"type": "http.response.body", "body": body})


def table_file(path: Path, **tokens: str) -> Path:
    table = creds.CredentialTable({client: creds.token_hash(token) for client, token in tokens.items()})
    atomic_write(path, table.to_json(), mode=0o600)
    return path


async def http_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9") as client:
        yield client


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path, str]]:
    token = creds.new_token()
    path = table_file(tmp_path / "creds.json", vscode=token)
    async for client in http_client(protect(inner, credentials=path, peer_check=False)):
        yield client, path, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("headers", "expected"), [
    ([(b"authorization", b"Bearer abc")], "abc"),
    ([(b"Authorization", b"bearer   abc  ")], "abc"),
    ([(b"authorization", b"Basic abc")], None),
    ([(b"authorization", b"Bearer")], None),
    ([(b"authorization", b"Bearer a b")], None),
    ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], None),
    ([], None),
])
def test_the_bearer_token_is_the_one_authorization_header(headers: list[tuple[bytes, bytes]],
                                                          expected: str | None) -> None:
    assert bearer_token(headers) == expected


def test_the_client_of_a_request_is_what_the_middleware_put_in_its_scope() -> None:
    from starlette.requests import Request

    assert client_of(Request({"type": "http", CLIENT_SCOPE_KEY: "vscode"})) == "vscode"
    assert client_of(Request({"type": "http"})) == "-"
    assert client_of(None) == "-"


def test_the_challenge_names_an_error_only_when_a_token_was_sent() -> None:
    assert challenge(None) == 'Bearer realm="mcpctl"'
    assert challenge("invalid_token") == 'Bearer realm="mcpctl", error="invalid_token"'


@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/sse", "/messages", "/messages/"])
async def test_every_mcp_endpoint_needs_a_matching_credential(guarded: tuple[httpx.AsyncClient, Path, str],
                                                              path: str) -> None:
    client, _, token = guarded
    missing = await client.post(path, json={})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="mcpctl"'
    wrong = await client.post(path, json={}, headers=bearer(creds.new_token()))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Bearer realm="mcpctl", error="invalid_token"'
    assert "mcpctl client connect" in wrong.json()["error_description"]
    passed = await client.post(path, json={}, headers=bearer(token))
    assert passed.status_code == 200
    assert passed.json() == {"client": "vscode"}


async def test_a_rewritten_file_revokes_and_admits_at_once(guarded: tuple[httpx.AsyncClient, Path, str]) -> None:
    client, path, token = guarded
    assert (await client.post("/mcp", headers=bearer(token))).status_code == 200
    other = creds.new_token()
    table_file(path, cursor=other)
    assert (await client.post("/mcp", headers=bearer(token))).status_code == 401
    assert (await client.post("/mcp", headers=bearer(other))).json() == {"client": "cursor"}


async def test_a_removed_file_lets_nobody_in_once_it_was_seen(guarded: tuple[httpx.AsyncClient, Path, str]) -> None:
    client, path, token = guarded
    assert (await client.post("/mcp", headers=bearer(token))).status_code == 200
    path.unlink()
    assert (await client.post("/mcp", headers=bearer(token))).status_code == 401
    assert (await client.post("/mcp")).status_code == 401


async def test_an_unusable_file_refuses_everyone(guarded: tuple[httpx.AsyncClient, Path, str]) -> None:
    client, path, token = guarded
    path.write_text("{not json")
    answer = await client.post("/mcp", headers=bearer(token))
    assert answer.status_code == 503
    assert (await client.get("/health/ready")).json() == {"status": "ready"}


async def test_a_missing_file_is_migration_mode_and_audited_as_no_client(tmp_path: Path) -> None:
    async for client in http_client(protect(inner, credentials=tmp_path / "absent.json", peer_check=False)):
        answer = await client.post("/mcp")
        assert answer.status_code == 200
        assert answer.json() == {"client": "-"}
        assert (await client.get("/health/ready")).json() == {"status": "ready"}  # nobody to authenticate


async def test_without_a_credentials_file_there_is_no_bearer_check(tmp_path: Path) -> None:
    async for client in http_client(protect(inner, credentials=None, peer_check=False)):
        assert (await client.post("/mcp")).json() == {"client": "-"}
        assert (await client.get("/health/ready")).json() == READY_BODY


async def test_probes_tell_an_unauthenticated_caller_only_the_status(
        guarded: tuple[httpx.AsyncClient, Path, str]) -> None:
    client, _, token = guarded
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    metrics = await client.get("/metrics")
    assert (metrics.status_code, metrics.json()) == (401, {"status": "unauthorized"})
    assert "get_env" not in metrics.text
    assert (await client.get("/health/ready", headers=bearer(token))).json() == READY_BODY
    assert "get_env" in (await client.get("/metrics", headers=bearer(token))).text


async def test_a_peer_that_is_no_real_socket_is_refused(tmp_path: Path) -> None:
    """ASGITransport's client address is made up: its owner cannot be found, so it is not let in."""
    token = creds.new_token()
    path = table_file(tmp_path / "creds.json", vscode=token)
    async for client in http_client(protect(inner, credentials=path)):
        for probe in ("/mcp", "/health/live", "/health/ready"):
            answer = await client.post(probe, headers=bearer(token))
            assert answer.status_code == 403
            assert "owner" in answer.json()["error_description"]


async def test_an_open_stream_ends_when_its_credential_is_revoked(tmp_path: Path) -> None:
    import anyio

    token = creds.new_token()
    path = table_file(tmp_path / "creds.json", vscode=token)
    sent: list[Message] = []
    revoke_now = anyio.Event()

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(10_000):
            await send({"type": "http.response.body", "body": b"event\n", "more_body": True})
            if index == 2:
                revoke_now.set()
            await anyio.sleep(0.01)
        raise AssertionError("the stream outlived its credential")

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    app = protect(stream, credentials=path, peer_check=False, recheck_every=0.02)
    scope: Scope = {"type": "http", "method": "GET", "path": "/sse",
                    "headers": [(b"authorization", f"Bearer {token}".encode())]}

    async def serve() -> None:
        await app(scope, receive, send)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            await revoke_now.wait()
            table_file(path, cursor=creds.new_token())
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert scope[CLIENT_SCOPE_KEY] == "vscode"


async def test_a_not_ready_probe_keeps_its_503_and_loses_its_reason(tmp_path: Path) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps({"status": "not ready", "server": "github", "error": "exec /home/me/.secret/run failed"})
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})

    path = table_file(tmp_path / "creds.json", vscode=creds.new_token())
    async for client in http_client(protect(failing, credentials=path, peer_check=False)):
        answer = await client.get("/health/ready")
        assert (answer.status_code, answer.json()) == (503, {"status": "not ready"})
