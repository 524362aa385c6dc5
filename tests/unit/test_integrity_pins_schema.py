"""The ``pins.json`` schema reader (``integrity.pins.parse_pins``): each rule it enforces, the defaults it
fills in, and the where + reason a refusal carries into ``PinsError``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolhive_py.errors import UsageError
from toolhive_py.integrity import pins
from toolhive_py.integrity.pins import ApprovedPin, PendingPin, PinSection, PinsError, PinsFile, SchemaError

FP = "0123456789abcdef" * 4
APPROVED: dict[str, Any] = {"fingerprint": FP, "source": "first-use", "time": "2026-01-01T00:00:00Z"}
PENDING: dict[str, Any] = {"kind": "changed", "fingerprint": FP, "time": "2026-01-01T00:00:00Z"}


def refusal(data: object) -> tuple[str, str]:
    with pytest.raises(SchemaError) as raised:
        pins.parse_pins(data)
    return raised.value.where, raised.value.reason


def test_an_empty_object_takes_every_default() -> None:
    assert pins.parse_pins({}) == PinsFile(schema_version=1, tools=PinSection(initialized=False, approved={},
                                                                               pending={}))


def test_a_full_store_is_read_with_every_field() -> None:
    data = {"schema_version": 1, "tools": {
        "initialized": True,
        "approved": {"fetch": {**APPROVED, "definition": {"name": "fetch"}}, "seeded": {**APPROVED, "source": "registry"}},
        "pending": {"fetch": {**PENDING, "definition": {"name": "fetch", "description": "v2"}},
                    "gone": {"kind": "removed", "time": "t"}}}}
    store = pins.parse_pins(data)
    assert store.tools.initialized is True
    assert store.tools.approved == {
        "fetch": ApprovedPin(fingerprint=FP, source="first-use", time=APPROVED["time"], definition={"name": "fetch"}),
        "seeded": ApprovedPin(fingerprint=FP, source="registry", time=APPROVED["time"], definition=None)}
    assert store.tools.pending["gone"] == PendingPin(kind="removed", time="t", fingerprint=None, definition=None)
    assert store.tools.pending["fetch"].definition == {"name": "fetch", "description": "v2"}


@pytest.mark.parametrize(("data", "where"), [
    ({"schema_version": 1, "comment": "x"}, "comment"),
    ({"tools": {"initialized": True, "trusted": []}}, "tools.trusted"),
    ({"tools": {"approved": {"fetch": {**APPROVED, "pinned_by": "me"}}}}, "tools.approved.fetch.pinned_by"),
    ({"tools": {"pending": {"fetch": {**PENDING, "note": ""}}}}, "tools.pending.fetch.note"),
])
def test_unknown_keys_are_refused_at_every_level(data: object, where: str) -> None:
    assert refusal(data) == (where, "Extra inputs are not permitted")


@pytest.mark.parametrize("value", ["no", FP.upper(), FP[:-1], FP + "0", FP + "\n", "sha256:" + FP, 7])
def test_a_fingerprint_is_64_lower_case_hex_digits(value: object) -> None:
    reason = "Input should be a valid string" if not isinstance(value, str) else \
        "String should match pattern '^[0-9a-f]{64}$'"
    assert refusal({"tools": {"approved": {"x": {**APPROVED, "fingerprint": value}}}}) == \
        ("tools.approved.x.fingerprint", reason)
    assert refusal({"tools": {"pending": {"x": {**PENDING, "fingerprint": value}}}}) == \
        ("tools.pending.x.fingerprint", reason)


def test_a_pending_fingerprint_may_be_null_an_approved_one_may_not() -> None:
    assert pins.parse_pins({"tools": {"pending": {"x": {**PENDING, "fingerprint": None}}}}).tools.pending["x"] \
        .fingerprint is None
    assert refusal({"tools": {"approved": {"x": {**APPROVED, "fingerprint": None}}}}) == \
        ("tools.approved.x.fingerprint", "Input should be a valid string")


@pytest.mark.parametrize("source", ["first-use", "approved", "registry"])
def test_each_pin_source_is_accepted(source: str) -> None:
    assert pins.parse_pins({"tools": {"approved": {"x": {**APPROVED, "source": source}}}}).tools.approved["x"] \
        .source == source


@pytest.mark.parametrize("kind", ["new", "changed", "removed"])
def test_each_change_kind_is_accepted(kind: str) -> None:
    assert pins.parse_pins({"tools": {"pending": {"x": {**PENDING, "kind": kind}}}}).tools.pending["x"].kind == kind


@pytest.mark.parametrize("value", ["First-Use", "trusted", "", None, ["approved"], 1])
def test_a_source_outside_the_listed_values_is_refused(value: object) -> None:
    assert refusal({"tools": {"approved": {"x": {**APPROVED, "source": value}}}}) == \
        ("tools.approved.x.source", "Input should be 'first-use', 'approved' or 'registry'")


@pytest.mark.parametrize("value", ["gone", "NEW", None, ["new"]])
def test_a_kind_outside_the_listed_values_is_refused(value: object) -> None:
    assert refusal({"tools": {"pending": {"x": {**PENDING, "kind": value}}}}) == \
        ("tools.pending.x.kind", "Input should be 'new', 'changed' or 'removed'")


@pytest.mark.parametrize("value", [2, 0, "1", None, True, 1.0])
def test_the_schema_version_is_1(value: object) -> None:
    assert refusal({"schema_version": value}) == ("schema_version", "Input should be 1")


@pytest.mark.parametrize(("data", "where"), [
    ({"tools": {"approved": {"x": {"source": "registry", "time": "t"}}}}, "tools.approved.x.fingerprint"),
    ({"tools": {"approved": {"x": {"fingerprint": FP, "time": "t"}}}}, "tools.approved.x.source"),
    ({"tools": {"approved": {"x": {"fingerprint": FP, "source": "registry"}}}}, "tools.approved.x.time"),
    ({"tools": {"pending": {"x": {"time": "t"}}}}, "tools.pending.x.kind"),
    ({"tools": {"pending": {"x": {"kind": "new"}}}}, "tools.pending.x.time"),
])
def test_required_fields_are_required(data: object, where: str) -> None:
    assert refusal(data) == (where, "Field required")


@pytest.mark.parametrize(("data", "where", "reason"), [
    ([], "", "Input should be a valid dictionary"),
    ("pins", "", "Input should be a valid dictionary"),
    ({"tools": []}, "tools", "Input should be a valid dictionary"),
    ({"tools": {"approved": []}}, "tools.approved", "Input should be a valid dictionary"),
    ({"tools": {"pending": {"x": "new"}}}, "tools.pending.x", "Input should be a valid dictionary"),
    ({"tools": {"approved": {"x": {**APPROVED, "definition": ["fetch"]}}}}, "tools.approved.x.definition",
     "Input should be a valid dictionary"),
    ({"tools": {"pending": {"x": {**PENDING, "definition": "fetch"}}}}, "tools.pending.x.definition",
     "Input should be a valid dictionary"),
    ({"tools": {"approved": {"x": {**APPROVED, "time": 1}}}}, "tools.approved.x.time", "Input should be a valid string"),
    ({"tools": {"initialized": "yes"}}, "tools.initialized", "Input should be a valid boolean"),
    ({"tools": {"initialized": None}}, "tools.initialized", "Input should be a valid boolean"),
])
def test_each_value_has_its_type(data: object, where: str, reason: str) -> None:
    assert refusal(data) == (where, reason)


def test_fields_are_checked_before_unknown_keys_whatever_their_order() -> None:
    assert refusal({"zz": 1, "schema_version": 2}) == ("schema_version", "Input should be 1")
    assert refusal({"tools": {"approved": {"x": {"extra": 1, **APPROVED, "source": "x"}}}})[0] == \
        "tools.approved.x.source"


def test_a_refusal_reaches_pins_error_as_where_and_reason(tmp_path: Path) -> None:
    pins.pins_path(tmp_path).write_text(json.dumps({"tools": {"approved": {"x": {**APPROVED, "fingerprint": "no"}}}}))
    with pytest.raises(PinsError) as raised:
        pins.load(tmp_path)
    assert raised.value.message == (f"The tool pins in {pins.pins_path(tmp_path)} cannot be read "
                                    "(tools.approved.x.fingerprint: String should match pattern '^[0-9a-f]{64}$').")


def test_what_the_store_writes_it_reads_back(tmp_path: Path) -> None:
    pins.observe_tools(tmp_path, [{"name": "fetch", "inputSchema": {"type": "object"}}], complete=True)
    pins.observe_tools(tmp_path, [{"name": "fetch", "description": "v2", "inputSchema": {"type": "object"}}],
                       complete=True)
    written = json.loads(pins.pins_path(tmp_path).read_text())
    assert set(written) == {"schema_version", "tools"}
    assert set(written["tools"]["approved"]["fetch"]) == {"fingerprint", "definition", "source", "time"}
    assert set(written["tools"]["pending"]["fetch"]) == {"kind", "fingerprint", "definition", "time"}
    assert pins.load(tmp_path) == pins.parse_pins(written)


def test_a_seed_refuses_a_fingerprint_with_a_trailing_newline(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        pins.seed(tmp_path, {"fetch": FP + "\n"})
    assert not pins.pins_path(tmp_path).exists()
