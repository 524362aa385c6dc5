"""What the audit log calls each answer: a failing tool is not ``ok``, and front refusals are named by
why they were refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolhive_py.proxy.audit import AuditLog, AuditRecord, outcome_of, refusal_outcome, target_of


@pytest.mark.parametrize(("method", "response", "outcome"), [
    ("tools/call", {"result": {"content": [], "isError": True}}, "tool_error"),
    ("tools/call", {"result": {"content": [], "isError": False}}, "ok"),
    ("tools/call", {"result": {"content": []}}, "ok"),
    ("tools/call", {"result": {"isError": "yes"}}, "ok"),
    ("tools/call", {"error": {"code": -32602, "message": "no"}}, "error"),
    ("resources/read", {"result": {"isError": True}}, "ok"),
    ("tools/list", {"error": {"code": -1, "message": "no"}}, "error"),
])
def test_the_outcome_of_an_answer(method: str, response: dict[str, Any], outcome: str) -> None:
    assert outcome_of(method, response) == outcome


@pytest.mark.parametrize(("status", "outcome"), [
    (403, "refused"), (421, "refused"), (401, "unauthorized"), (413, "too_large"), (400, "invalid"), (404, "invalid"), (405, "invalid"),
    (406, "invalid"), (415, "invalid"), (500, "error"), (503, "error"),
])
def test_the_outcome_of_a_front_refusal(status: int, outcome: str) -> None:
    assert refusal_outcome(status) == outcome


def test_the_target_is_the_named_identifier_only() -> None:
    assert target_of("tools/call", {"name": "echo", "arguments": {"secret": "x"}}) == "echo"
    assert target_of("resources/read", {"uri": "file:///a"}) == "file:///a"
    assert target_of("tools/call", {"name": ["echo"]}) is None
    assert target_of("tools/list", {"cursor": "c"}) is None


def test_each_record_names_the_client_credential_or_a_dash(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    fields: dict[str, Any] = {"time": AuditRecord.now(), "server": "s", "client_name": "c", "client_version": "1",
                              "session": "", "method": "tools/call", "target": "echo", "duration_ms": 1.0,
                              "outcome": "ok", "trace_id": "t"}
    log.write(AuditRecord(**fields, client="claude-code"))
    log.write(AuditRecord(**fields))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [line["client"] for line in lines] == ["claude-code", "-"]
