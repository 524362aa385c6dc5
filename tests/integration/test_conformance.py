"""The official MCP conformance suite (server scenarios), run against the conformance server directly and
through mcpctl's proxy: the proxy must lose no check the server passes on its own. The MCP Inspector CLI,
a real third-party client, lists and calls tools through the proxy."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conformance.runner import (
    NEXT,
    NODE,
    SESSION_ERA_PYTHON,
    SESSION_ERA_SERVER,
    TOOLS,
    run_requirements,
    run_suite,
    serving,
    tools_installed,
)

# SEP-1699 priming event and retry field: the SDK server sends them only to clients at 2025-11-25 or later,
# and the scenario's requests carry MCP-Protocol-Version 2025-03-26. Every other check passes directly.
SDK_WITHHELD = {"server-sse-polling/server-sse-priming-event", "server-sse-polling/server-sse-retry-field"}


@pytest.fixture(autouse=True)
def node_tools() -> None:
    if not tools_installed():
        message = "conformance suite not installed (run bash scripts/lib/node-tools, part of scripts/test)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_the_proxy_passes_every_check_the_server_passes_directly() -> None:
    with serving(through_proxy=False) as url:
        direct = run_suite(url)
    with serving(through_proxy=True) as url:
        proxied = run_suite(url)
    passed_directly = {check for check, status in direct.items() if status == "SUCCESS"}
    passed_proxied = {check for check, status in proxied.items() if status == "SUCCESS"}
    print(f"conformance: direct {len(passed_directly)}/{len(direct)}, "  # noqa: T201 - the recorded counts
          f"through the proxy {len(passed_proxied)}/{len(proxied)}")
    not_passed_directly = {check for check, status in direct.items() if status != "SUCCESS"}
    assert not_passed_directly <= SDK_WITHHELD, f"the conformance server itself regressed: {direct}"
    assert passed_directly - passed_proxied == set(), "checks the proxy loses"


def test_the_2026_07_28_requirements_lose_no_check_through_the_proxy() -> None:
    """The 2026-07-28 requirement set (prerelease suite) against the conformance server over HTTP and through
    the proxy in front of it over stdio (relayed natively on the proxy's second lane): nothing lost."""
    if not NEXT.exists():
        pytest.fail("the 2026-07-28 conformance suite is not installed (bash scripts/lib/node-tools)")
    with serving(through_proxy=False) as url:
        direct = run_requirements(url, "2026-07-28")
    with serving(through_proxy=True) as url:
        proxied = run_requirements(url, "2026-07-28")
    passed_directly = {check for check, status in direct.items() if status == "SUCCESS"}
    passed_proxied = {check for check, status in proxied.items() if status == "SUCCESS"}
    print(f"conformance 2026-07-28: direct {len(passed_directly)}/{len(direct)}, "  # noqa: T201 - the recorded counts
          f"through the proxy {len(passed_proxied)}/{len(proxied)}")
    assert len(passed_directly) > 100, direct
    assert passed_directly - passed_proxied == set(), "checks the proxy loses"


# The suite's input-required scenarios whose checks do not depend on the input keys a 2026-07-28 server
# chooses (a session-era server names none: the proxy's keys are its own).
KEY_AGNOSTIC = ("input-required-result-multi-round", "input-required-result-tampered-state")


def test_a_session_era_server_answers_2026_07_28_input_required_scenarios_through_translation() -> None:
    """A server on mcp 1.x asks its client mid-call; through the proxy a 2026-07-28 client gets
    InputRequiredResults with the proxy's sealed requestState, answers them over rounds, and a tampered
    state is refused."""
    if not (NEXT.exists() and SESSION_ERA_PYTHON.exists()):
        pytest.fail("run bash scripts/lib/node-tools and scripts/lib/session-era-venv")
    with serving(through_proxy=True, backend=(str(SESSION_ERA_PYTHON), str(SESSION_ERA_SERVER))) as url:
        results = run_requirements(url, "2026-07-28", scenarios=KEY_AGNOSTIC)
    assert len(results) >= 6, results
    assert set(results.values()) == {"SUCCESS"}, results


def _inspector(url: str, *args: str) -> dict[str, object]:
    result = subprocess.run([str(NODE), str(TOOLS / ".bin" / "mcp-inspector"), "--cli", url, "--transport", "http",  # noqa: S603
                             *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_mcp_inspector_cli_lists_and_calls_tools_through_the_proxy() -> None:
    with serving(through_proxy=True) as url:
        tools = _inspector(url, "--method", "tools/list")
        called = _inspector(url, "--method", "tools/call", "--tool-name", "test_simple_text")
    assert "test_simple_text" in {t["name"] for t in tools["tools"]}  # type: ignore[attr-defined]
    assert called["content"] == [{"type": "text", "text": "This is a simple text response for testing."}]
