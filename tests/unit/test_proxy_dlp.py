"""The DLP guard's decisions, per --dlp mode: a workload's own injected secret never leaves in a result; a
provider-pattern secret is redacted, blocked or let through (and audited) in results and tool arguments;
a value never appears in a refusal or an audit record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.scan_homes import PROVIDER_TOKENS
from toolhive_py.integrity.dlp import fingerprints_path, write_fingerprints
from toolhive_py.proxy.audit import Outcome
from toolhive_py.proxy.dlp import DlpGuard, redact_spans
from toolhive_py.proxy.guard import build_guards
from toolhive_py.proxy.jsonrpc import SECRET_WITHHELD
from toolhive_py.proxy.policy import Refusal, ToolPolicy

OWN = "own-Secret-" + "Vk3q" * 8
GITHUB = dict(PROVIDER_TOKENS)["github-token"]
SLACK = dict(PROVIDER_TOKENS)["slack-token"]


def _text_result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False}


def _guard(tmp_path: Path, mode: str = "redact") -> tuple[DlpGuard, list[tuple[str, str | None, Outcome]]]:
    write_fingerprints(tmp_path, {"API_TOKEN": OWN, "PORT": "8080"})
    records: list[tuple[str, str | None, Outcome]] = []
    policy = ToolPolicy.from_options(None, None, None, dlp=mode)
    return DlpGuard(tmp_path, policy, audit=lambda m, t, o: records.append((m, t, o))), records


@pytest.mark.parametrize("mode", ["redact", "block", "warn"])
@pytest.mark.parametrize("result", [
    _text_result(OWN),
    _text_result(f"API_TOKEN={OWN}\nPATH=/usr/bin"),
    {"content": [], "structuredContent": {"env": {"API_TOKEN": OWN}}},
    {"contents": [{"uri": "file:///env", "mimeType": "text/plain", "text": f"token {OWN}"}]},
    {"messages": [{"role": "user", "content": {"type": "text", "text": f"use {OWN}"}}]},
    {"content": [{"type": "text", "text": "ok"}], "_meta": {OWN: 1}},
])
def test_a_result_holding_the_workloads_own_secret_is_withheld_in_every_mode_but_off(
        tmp_path: Path, mode: str, result: dict[str, Any]) -> None:
    guard, records = _guard(tmp_path, mode)
    refused = guard.check_result("tools/call", "get_env", result)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.outcome) == (SECRET_WITHHELD, "dlp_withheld")
    assert "API_TOKEN" in refused.message
    assert "'get_env'" in refused.message
    assert OWN not in refused.message
    assert records == []  # the mux records the refusal as the request's outcome
    off, _ = _guard(tmp_path, "off")
    assert off.check_result("tools/call", "get_env", result) is result


def test_own_secrets_are_withheld_from_any_result_not_only_tool_calls(tmp_path: Path) -> None:
    guard, _ = _guard(tmp_path)
    listed = {"tools": [{"name": "t", "description": f"uses {OWN}", "inputSchema": {"type": "object"}}]}
    assert isinstance(guard.check_result("tools/list", None, listed), Refusal)


def test_redact_replaces_provider_secrets_everywhere_in_a_result(tmp_path: Path) -> None:
    guard, records = _guard(tmp_path, "redact")
    result: dict[str, Any] = {"content": [{"type": "text", "text": f"token: {GITHUB}; slack {SLACK}"},
                          {"type": "text", "text": "nothing here"}],
              "structuredContent": {"token": GITHUB, "n": 3, "list": [GITHUB, None]}, "isError": False}
    before = json.dumps(result)
    checked = guard.check_result("tools/call", "read", result)
    assert isinstance(checked, dict)
    assert checked["content"][0]["text"] == "token: [REDACTED:github-token]; slack [REDACTED:slack-token]"
    assert checked["content"][1] is result["content"][1], "what holds no secret is not copied"
    assert checked["structuredContent"] == {"token": "[REDACTED:github-token]", "n": 3,
                                            "list": ["[REDACTED:github-token]", None]}
    assert GITHUB not in json.dumps(checked)
    assert json.dumps(result) == before, "the server's result is not changed in place"
    assert records == [("tools/call", "read", "dlp_redacted")]


@pytest.mark.parametrize("method", ["resources/read", "prompts/get", "tasks/result"])
def test_redact_applies_to_every_content_result(tmp_path: Path, method: str) -> None:
    guard, _ = _guard(tmp_path)
    checked = guard.check_result(method, "x", {"contents": [{"uri": "u", "text": GITHUB}]})
    assert checked == {"contents": [{"uri": "u", "text": "[REDACTED:github-token]"}]}


def test_block_refuses_and_warn_passes_a_provider_secret_in_a_result(tmp_path: Path) -> None:
    result = _text_result(f"here: {GITHUB}")
    blocking, blocked_records = _guard(tmp_path, "block")
    refused = blocking.check_result("tools/call", "read", result)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.outcome) == (SECRET_WITHHELD, "dlp_blocked")
    assert "github-token" in refused.message
    assert GITHUB not in refused.message
    assert blocked_records == []
    warning, warned_records = _guard(tmp_path, "warn")
    assert warning.check_result("tools/call", "read", result) is result
    assert warned_records == [("tools/call", "read", "dlp_warned")]


def test_a_clean_result_is_returned_as_it_came(tmp_path: Path) -> None:
    guard, records = _guard(tmp_path)
    result = _text_result("The quick brown fox, listening on 8080. " * 30)
    assert guard.check_result("tools/call", "echo", result) is result
    assert guard.check_result("tools/list", None, {"tools": []}) == {"tools": []}
    assert records == []


def test_arguments_are_redacted_before_they_reach_the_server_or_blocked(tmp_path: Path) -> None:
    params: dict[str, Any] = {"name": "echo", "arguments": {"text": f"my token is {GITHUB}", "count": 2},
                              "_meta": {"k": 1}}
    redacting, records = _guard(tmp_path, "redact")
    checked = redacting.check_request("tools/call", params)
    assert checked == {"name": "echo", "arguments": {"text": "my token is [REDACTED:github-token]", "count": 2},
                       "_meta": {"k": 1}}
    assert params["arguments"]["text"].endswith(GITHUB), "the client's params are not changed in place"
    assert records == [("tools/call", "echo", "dlp_redacted")]
    blocking, _ = _guard(tmp_path, "block")
    refused = blocking.check_request("tools/call", params)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.outcome) == (SECRET_WITHHELD, "dlp_blocked")
    assert "'echo'" in refused.message
    assert GITHUB not in refused.message
    warning, warned = _guard(tmp_path, "warn")
    assert warning.check_request("tools/call", params) is params
    assert warned == [("tools/call", "echo", "dlp_warned")]
    clean = {"name": "echo", "arguments": {"text": "hello"}}
    assert redacting.check_request("tools/call", clean) is clean
    assert redacting.check_request("prompts/list", {"cursor": GITHUB}) == {"cursor": GITHUB}


def test_the_workloads_own_secret_in_arguments_goes_to_its_own_server(tmp_path: Path) -> None:
    """The server holds its own secret already: sending it there leaks nothing."""
    guard, _ = _guard(tmp_path)
    params = {"name": "login", "arguments": {"token": OWN}}
    assert guard.check_request("tools/call", params) is params


def test_fingerprints_written_after_the_proxy_started_are_picked_up(tmp_path: Path) -> None:
    guard = DlpGuard(tmp_path, ToolPolicy())
    result = _text_result(OWN)
    assert guard.check_result("tools/call", "get_env", result) is result, "no fingerprints yet"
    write_fingerprints(tmp_path, {"API_TOKEN": OWN})
    assert isinstance(guard.check_result("tools/call", "get_env", result), Refusal)


def test_unreadable_fingerprints_withhold_every_result(tmp_path: Path) -> None:
    guard, _ = _guard(tmp_path)
    fingerprints_path(tmp_path).write_text("{broken")
    refused = guard.check_result("tools/call", "echo", _text_result("harmless"))
    assert isinstance(refused, Refusal)
    assert refused.outcome == "dlp_withheld"
    assert "cannot tell" in refused.message
    write_fingerprints(tmp_path, {"API_TOKEN": OWN})
    assert not isinstance(guard.check_result("tools/call", "echo", _text_result("harmless")), Refusal)


def test_without_a_state_directory_only_provider_patterns_are_checked() -> None:
    guard = DlpGuard(None, ToolPolicy())
    assert guard.check_result("tools/call", "get_env", _text_result(OWN)) == _text_result(OWN)
    assert guard.check_result("tools/call", "t", _text_result(GITHUB)) == _text_result("[REDACTED:github-token]")


def test_build_guards_puts_dlp_last_and_leaves_it_out_when_off() -> None:
    assert isinstance(build_guards(None, ToolPolicy())[-1], DlpGuard)
    assert not any(isinstance(g, DlpGuard) for g in build_guards(None, ToolPolicy(dlp="off")))


def test_a_supervised_guard_audits_to_the_workloads_log_without_the_value(tmp_path: Path) -> None:
    guard = DlpGuard.for_workload(tmp_path, ToolPolicy())
    assert not (tmp_path / "audit.jsonl").exists(), "nothing is opened until there is something to record"
    guard.check_result("tools/call", "read", _text_result(GITHUB))
    guard.close()
    (record,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert (record["server"], record["method"], record["target"], record["outcome"]) == (
        tmp_path.name, "tools/call", "read", "dlp_redacted")
    assert GITHUB not in (tmp_path / "audit.jsonl").read_text()


def test_redact_spans_keeps_the_text_around_each_secret() -> None:
    from toolhive_py.detectors import find_secrets

    text = f"a {GITHUB} b {SLACK} c"
    assert redact_spans(text, find_secrets(text)) == "a [REDACTED:github-token] b [REDACTED:slack-token] c"
    assert redact_spans("plain", []) == "plain"
