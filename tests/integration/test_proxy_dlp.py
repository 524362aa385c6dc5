"""DLP through a live proxy, with the mcp SDK's client in each protocol era and over legacy SSE: a server that
hands back its injected secret (a tool, structured content, a resource, a prompt) gets none of it to the
client; a provider-pattern token in a call's arguments is redacted before the server sees it (or the call is
refused under --dlp block); the audit log names what DLP did and never holds a value."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.integration.conftest import start_proxy
from tests.integration.helpers import audit_records, connect
from toolhive_py.integrity.dlp import write_fingerprints
from toolhive_py.proxy.jsonrpc import SECRET_WITHHELD

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).parents[1] / "fixtures" / "dlp" / "secret_server.py"
# The workload's own secret: random-looking, and no provider pattern matches it.
OWN_SECRET = "Q2x9-own-" + "tK7vW3mZ" * 4
GITHUB_LIKE = "ghp_" + "a1B2" * 9
TRANSPORTS = ["legacy", "2026-07-28", "sse"]


def _serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *options: str) -> Iterator[str]:
    """A proxy in front of the leaking server, which gets OWN_SECRET as API_TOKEN, as `mcpctl run --secret`
    gives it (the proxy's environment is its child's); its fingerprints are in the proxy's state directory."""
    monkeypatch.setenv("API_TOKEN", OWN_SECRET)
    write_fingerprints(tmp_path, {"API_TOKEN": OWN_SECRET})
    yield from start_proxy(tmp_path, "--state-dir", str(tmp_path), *options, server=SERVER)


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from _serve(tmp_path, monkeypatch)


@pytest.fixture
def blocking_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from _serve(tmp_path, monkeypatch, "--policy", '{"dlp": "block"}')


@pytest.fixture
def open_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from _serve(tmp_path, monkeypatch, "--policy", '{"dlp": "off"}')


def _everything_written(tmp_path: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in tmp_path.iterdir()
                   if path.is_file() and path.suffix in (".jsonl", ".log", ".json"))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_echoing_its_injected_secret_gets_no_copy_to_the_client(
        proxy: str, tmp_path: Path, transport: str) -> None:
    refusals: list[MCPError] = []
    async with connect(proxy, transport) as client:
        home = await client.call_tool("get_env", {"name": "HOME"})
        assert home.content[0].text  # type: ignore[union-attr]
        for leak in (client.call_tool("get_env", {"name": "API_TOKEN"}), client.call_tool("env_dump", {}),
                     client.read_resource("config://env"), client.get_prompt("with_token")):
            with pytest.raises(MCPError) as raised:
                await leak
            refusals.append(raised.value)
        assert (await client.call_tool("received", {})).content[0].text == "0", "the session is still good"  # type: ignore[union-attr]
    assert {error.code for error in refusals} == {SECRET_WITHHELD}
    assert all("API_TOKEN" in error.message for error in refusals)
    assert not any(OWN_SECRET in error.message for error in refusals)
    outcomes = [(r["method"], r["target"], r["outcome"]) for r in audit_records(tmp_path)
                if r["outcome"].startswith("dlp_")]
    assert outcomes == [("tools/call", "get_env", "dlp_withheld"), ("tools/call", "env_dump", "dlp_withheld"),
                        ("resources/read", "config://env", "dlp_withheld"),
                        ("prompts/get", "with_token", "dlp_withheld")]
    assert OWN_SECRET not in _everything_written(tmp_path)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_provider_token_is_redacted_from_arguments_before_the_server_sees_them_and_from_results(
        proxy: str, tmp_path: Path, transport: str) -> None:
    sent = f"please store {GITHUB_LIKE} for later"
    arrived = "please store [REDACTED:github-token] for later"
    async with connect(proxy, transport) as client:
        digest = (await client.call_tool("digest", {"text": sent})).content[0].text  # type: ignore[union-attr]
        found = (await client.call_tool("github_like", {})).content[0].text  # type: ignore[union-attr]
    assert digest == f"{len(arrived)}:{hashlib.sha256(arrived.encode()).hexdigest()}"
    assert found == "found a token: [REDACTED:github-token] (in .env)"
    outcomes = [(r["target"], r["outcome"]) for r in audit_records(tmp_path) if r["outcome"].startswith("dlp_")]
    assert outcomes == [("digest", "dlp_redacted"), ("github_like", "dlp_redacted")]
    assert GITHUB_LIKE not in _everything_written(tmp_path)


async def test_under_dlp_block_a_call_carrying_a_token_never_reaches_the_server(
        blocking_proxy: str, tmp_path: Path) -> None:
    async with connect(blocking_proxy, "legacy") as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("digest", {"text": f"token {GITHUB_LIKE}"})
        with pytest.raises(MCPError) as result_refused:
            await client.call_tool("github_like", {})
        count = (await client.call_tool("received", {})).content[0].text  # type: ignore[union-attr]
    assert (raised.value.code, result_refused.value.code) == (SECRET_WITHHELD, SECRET_WITHHELD)
    assert "github-token" in raised.value.message
    assert GITHUB_LIKE not in raised.value.message
    assert count == "0"
    outcomes = [(r["target"], r["outcome"]) for r in audit_records(tmp_path) if r["outcome"].startswith("dlp_")]
    assert outcomes == [("digest", "dlp_blocked"), ("github_like", "dlp_blocked")]


async def test_with_dlp_off_the_same_calls_pass_untouched(open_proxy: str) -> None:
    """The control: the guard, not the server or the client, is what withheld and redacted above."""
    async with connect(open_proxy, "2026-07-28") as client:
        leaked = (await client.call_tool("get_env", {"name": "API_TOKEN"})).content[0].text  # type: ignore[union-attr]
        digest = (await client.call_tool("digest", {"text": GITHUB_LIKE})).content[0].text  # type: ignore[union-attr]
    assert leaked == OWN_SECRET
    assert digest == f"{len(GITHUB_LIKE)}:{hashlib.sha256(GITHUB_LIKE.encode()).hexdigest()}"


@pytest.mark.parametrize("transport", ["legacy", "sse"])
async def test_a_secret_in_a_log_notification_or_an_error_answer_reaches_no_client(
        proxy: str, tmp_path: Path, transport: str) -> None:
    """Results are not the only way out: a server's log messages and JSON-RPC errors are checked too."""
    logged: list[str] = []

    async def on_log(params: object) -> None:
        logged.append(repr(params))

    async with connect(proxy, transport, logging_callback=on_log) as client:
        assert (await client.call_tool("log_env", {})).content[0].text == "logged"  # type: ignore[union-attr]
        with pytest.raises(MCPError) as raised:
            await client.read_resource("config://broken")
    assert OWN_SECRET not in raised.value.message
    assert not any(OWN_SECRET in line for line in logged)
    outcomes = [(r["method"], r["outcome"]) for r in audit_records(tmp_path) if r["outcome"].startswith("dlp_")]
    assert ("notifications/message", "dlp_withheld") in outcomes
    assert OWN_SECRET not in _everything_written(tmp_path)


async def test_without_the_guard_the_log_and_the_error_do_carry_the_secret(open_proxy: str) -> None:
    """The control: with --dlp off the same server does leak, so the test above can fail."""
    logged: list[str] = []

    async def on_log(params: object) -> None:
        logged.append(repr(params))

    async with connect(open_proxy, "legacy", logging_callback=on_log) as client:
        await client.call_tool("log_env", {})
        with pytest.raises(MCPError) as raised:
            await client.read_resource("config://broken")
    assert any(OWN_SECRET in line for line in logged)
    assert OWN_SECRET in raised.value.message
