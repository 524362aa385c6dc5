"""A server that changes its tools after they were trusted (a rug pull), through a live proxy with pinning:
the client keeps seeing only the approved tools, calls to the changed and new ones are refused with a
message naming `mcpctl tools approve`, and an approval reaches the next list without a restart. Real SDK
clients in each protocol era (forced, so a silent fallback cannot pass) and over legacy SSE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError

from tests.fixtures.servers.rug_pull_server import CLEAN, POISONED
from tests.integration.conftest import start_proxy
from tests.integration.helpers import audit_records, connect
from toolhive_py.integrity import pins
from toolhive_py.proxy.jsonrpc import UNAPPROVED

pytestmark = pytest.mark.anyio

RUG_PULL_SERVER = Path(__file__).parents[1] / "fixtures" / "servers" / "rug_pull_server.py"


@pytest.fixture
def flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file whose existence makes the test server change its tools."""
    path = tmp_path / "pulled"
    monkeypatch.setenv("RUG_PULL_FLAG", str(path))
    return path


@pytest.fixture
def pinned_proxy(tmp_path: Path, flag: Path) -> Iterator[str]:
    """Base URL of a proxy with pinning (state dir ``tmp_path``) in front of the rug-pull server. Screening is
    off: it would withhold the poisoned description even once approved (tests/integration/test_proxy_screening.py),
    and this test is about pinning alone."""
    yield from start_proxy(tmp_path, "--state-dir", str(tmp_path), "--policy", '{"screen": "off"}',
                           server=RUG_PULL_SERVER)


async def listed(client: Client) -> dict[str, str | None]:
    return {tool.name: tool.description for tool in (await client.list_tools(cache_mode="bypass")).tools}


async def refusal(client: Client, tool: str) -> Any:
    with pytest.raises(MCPError) as raised:
        await client.call_tool(tool, {"text": "x"} if tool == "add_note" else {"url": "https://example.com"})
    return raised.value.error


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28", "sse"])
async def test_a_changed_tool_is_withheld_until_approved(pinned_proxy: str, tmp_path: Path, flag: Path,
                                                         mode: str) -> None:
    workload = tmp_path.name
    async with connect(pinned_proxy, mode) as client:
        assert await listed(client) == {"echo": "Return the text unchanged.", "fetch": CLEAN}
        flag.touch()  # the server changes fetch's description and adds add_note
        assert await listed(client) == {"echo": "Return the text unchanged."}, "only the approved tools"
        changed = await refusal(client, "fetch")
        new = await refusal(client, "add_note")
        echoed = await client.call_tool("echo", {"text": "still here"})
    assert echoed.content[0].text == "still here"  # type: ignore[union-attr]
    assert changed.code == new.code == UNAPPROVED
    assert f"`mcpctl tools approve {workload} fetch`" in changed.message
    assert "changed" in changed.message
    assert f"`mcpctl tools approve {workload} add_note`" in new.message
    assert POISONED not in changed.message, "a refusal never carries the server's text"
    changes = {(change.tool, change.kind) for change in pins.pending_changes(tmp_path)}
    assert changes == {("fetch", "changed"), ("add_note", "new")}

    assert pins.approve(tmp_path, ["fetch"]) == ["fetch"]
    async with connect(pinned_proxy, mode) as client:
        assert await listed(client) == {"echo": "Return the text unchanged.", "fetch": POISONED}
        fetched = await client.call_tool("fetch", {"url": "https://example.com"})
        still_new = await refusal(client, "add_note")
    assert fetched.content[0].text == "fetched https://example.com (poisoned)"  # type: ignore[union-attr]
    assert still_new.code == UNAPPROVED

    records = audit_records(tmp_path)
    seen = sorted((r["method"], r["target"], r["outcome"]) for r in records if r["outcome"].startswith("pin_"))
    assert seen == [("tools/list", "add_note", "pin_new"), ("tools/list", "fetch", "pin_changed")], "one per change"
    calls = [(r["target"], r["outcome"]) for r in records if r["method"] == "tools/call"]
    assert calls == [("fetch", "unapproved"), ("add_note", "unapproved"), ("echo", "ok"), ("fetch", "ok"),
                     ("add_note", "unapproved")]
    assert all(POISONED not in str(r) and CLEAN not in str(r) for r in records), "never a description"


async def test_a_corrupt_pins_file_withholds_every_tool(pinned_proxy: str, tmp_path: Path) -> None:
    async with connect(pinned_proxy, "legacy") as client:
        assert set(await listed(client)) == {"echo", "fetch"}
        pins.pins_path(tmp_path).write_text("{not json")
        assert await listed(client) == {}
        with pytest.raises(MCPError) as raised:
            await client.call_tool("echo", {"text": "x"})
    assert raised.value.error.code == UNAPPROVED
    assert "withholds every tool" in raised.value.error.message
    assert str(pins.pins_path(tmp_path)) in raised.value.error.message
    assert pins.pins_path(tmp_path).read_text() == "{not json", "the proxy never rewrites what it cannot read"
