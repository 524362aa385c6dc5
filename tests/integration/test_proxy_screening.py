"""Description screening through a live proxy: a poisoned tool is withheld from the list and a call to it is
refused with the finding codes and how to allow it, per ``--screen``; each withheld tool is audited with its
codes and never its text. Real SDK clients in each protocol era (forced) and over legacy SSE."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError

from tests.fixtures.screening.poisoned_server import ADD, LOOKUP
from tests.integration.conftest import start_proxy
from tests.integration.helpers import audit_records, connect
from toolhive_py.integrity import pins
from toolhive_py.proxy.jsonrpc import SCREENED

pytestmark = pytest.mark.anyio

POISONED_SERVER = Path(__file__).parents[1] / "fixtures" / "screening" / "poisoned_server.py"
RUG_PULL_SERVER = Path(__file__).parents[1] / "fixtures" / "servers" / "rug_pull_server.py"
proxy = contextmanager(start_proxy)


async def listed(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools(cache_mode="bypass")).tools}


async def refusal(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    with pytest.raises(MCPError) as raised:
        await client.call_tool(tool, arguments)
    return raised.value.error


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28", "sse"])
async def test_warn_withholds_a_critical_tool_and_keeps_the_rest(tmp_path: Path, mode: str) -> None:
    """The default (``--screen warn``): only tools with a critical finding are withheld."""
    with proxy(tmp_path, "--state-dir", str(tmp_path), server=POISONED_SERVER) as base:
        async with connect(base, mode) as client:
            assert await listed(client) == {"echo", "lookup"}
            refused = await refusal(client, "add", {"a": 1, "b": 2, "sidenote": "x"})
            looked_up = await client.call_tool("lookup", {"word": "mcp"})
            assert await listed(client) == {"echo", "lookup"}, "a second list is the same"
    assert refused.code == SCREENED
    assert "'add'" in refused.message
    assert "reads-secrets" in refused.message
    assert "tag-characters" in refused.message
    assert "--screen off" in refused.message
    assert f"mcpctl tools list {tmp_path.name}" in refused.message
    assert "id_rsa" not in refused.message, "a refusal never quotes the description"
    assert looked_up.content[0].text == "mcp: a word"  # type: ignore[union-attr]

    records = audit_records(tmp_path)
    withheld = [r for r in records if r["outcome"] == "screen_withheld"]
    assert [(r["method"], r["target"]) for r in withheld] == [("tools/list", "add")], "once per definition"
    assert {"reads-secrets", "conceals-from-user", "tag-characters"} <= set(withheld[0]["findings"])
    assert [(r["target"], r["outcome"]) for r in records if r["method"] == "tools/call"] == [
        ("add", "screen_refused"), ("lookup", "ok")]
    text = json.dumps(records)
    assert "id_rsa" not in text
    assert "IMPORTANT" not in text
    assert not any(0xE0000 <= ord(c) <= 0xE007F for c in json.dumps(records, ensure_ascii=False))
    assert ADD not in text


async def test_block_withholds_every_tool_with_a_finding_at_medium_or_above(tmp_path: Path) -> None:
    with proxy(tmp_path, "--policy", json.dumps({"screen": "block"}), server=POISONED_SERVER) as base:
        async with connect(base, "legacy") as client:
            assert await listed(client) == {"echo"}
            refused = await refusal(client, "lookup", {"word": "x"})
            echoed = await client.call_tool("echo", {"text": "kept"})
    assert refused.code == SCREENED
    assert "model-directive-tag" in refused.message
    assert "--screen warn" in refused.message
    assert LOOKUP not in refused.message
    assert echoed.content[0].text == "kept"  # type: ignore[union-attr]


async def test_off_lets_every_tool_through(tmp_path: Path) -> None:
    with proxy(tmp_path, "--policy", json.dumps({"screen": "off"}), server=POISONED_SERVER) as base:
        async with connect(base, "legacy") as client:
            assert await listed(client) == {"echo", "add", "lookup"}
            added = await client.call_tool("add", {"a": 1, "b": 2})
    assert added.content[0].text.startswith("3")  # type: ignore[union-attr]
    assert not [r for r in audit_records(tmp_path) if r["outcome"].startswith("screen_")]


async def test_an_approved_rug_pull_is_still_screened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinning runs first and screening after it: approving a poisoned change does not let it through."""
    flag = tmp_path / "pulled"
    monkeypatch.setenv("RUG_PULL_FLAG", str(flag))
    with proxy(tmp_path, "--state-dir", str(tmp_path), server=RUG_PULL_SERVER) as base:
        async with connect(base, "legacy") as client:
            assert await listed(client) == {"echo", "fetch"}
            flag.touch()
            assert await listed(client) == {"echo"}, "pinning withholds the change"
            assert sorted(pins.approve(tmp_path, ["fetch", "add_note"])) == ["add_note", "fetch"]
            assert await listed(client) == {"echo", "add_note"}, "screening withholds the approved poison"
            refused = await refusal(client, "fetch", {"url": "https://example.com"})
    assert refused.code == SCREENED
    assert "reads-secrets" in refused.message
