"""A workload's tool pins: the tool definitions the user approved, and the changes waiting for approval.

Policy. The first complete ``tools/list`` a workload's proxy sees is approved as it is (trust on first use),
unless the store was seeded from a signed registry entry's fingerprints: then only tools whose fingerprint
matches the seed are approved, and every other tool is pending from the start. After that a tool that is new
or whose fingerprint changed is *pending*: the proxy withholds it until ``approve`` (``mcpctl tools approve``)
pins the definition that was seen. A tool that disappears is recorded as a pending removal (shown, never
withheld). Approving pins one definition, not a name: a tool that changes again is pending again.

Storage: ``<state_dir>/pins.json`` (0600), written atomically (temp file and rename) under an ``fcntl`` lock on
``<state_dir>/.pins.lock``, so the proxy recording a change and the CLI approving one never lose each other's
write; readers need no lock. Full definitions are kept (so a diff can be shown and scan can screen them).
A file that cannot be read is an error (``PinsError``), never an empty store: an empty store would trust
whatever the server lists next, so callers must fail closed.

``review_list`` is the pure decision the proxy makes on every list; the rest is file I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from toolhive_py.config import atomic_write
from toolhive_py.errors import ConfigError, MCPCTLError, UsageError
from toolhive_py.integrity.fingerprints import tool_fingerprint

__all__ = ["PINS_FILE", "SCHEMA_VERSION", "ApprovedPin", "ListReview", "PendingPin", "PinSection", "PinsError",
           "PinSource", "PinsFile", "SchemaError", "ToolChange", "approve", "load", "observe_tools", "other_workloads_tools",
           "parse_pins", "pending_changes", "pinned_fingerprints", "pinned_tools", "pins_path", "review_list", "seed"]

PINS_FILE: Final = "pins.json"
SCHEMA_VERSION: Final = 1
_LOCK_FILE: Final = ".pins.lock"
_MAX_BYTES: Final = 16 * 1024 * 1024
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")

ChangeKind = Literal["new", "changed", "removed"]


class PinsError(ConfigError):
    """``pins.json`` exists but cannot be used: callers withhold every tool rather than trust anything."""

    default_code = "pins-unreadable"


@dataclass(frozen=True)
class ToolChange:
    tool: str
    kind: ChangeKind
    before: dict[str, Any] | None  # the approved definition (None: new, or known only by a seeded fingerprint)
    after: dict[str, Any] | None   # what the server lists now (None: removed)


# ----- the file's schema -------------------------------------------------------------------------------
# Plain dataclasses and one validating reader, not pydantic: the proxy loads this module at every start, and
# pydantic alone would add ~25 MB and ~0.15 s to it.

PinSource = Literal["first-use", "approved", "registry"]
_SOURCES: Final[tuple[str, ...]] = ("first-use", "approved", "registry")
_KINDS: Final[tuple[str, ...]] = ("new", "changed", "removed")


@dataclass(frozen=True)
class ApprovedPin:
    fingerprint: str
    source: PinSource
    time: str
    definition: dict[str, Any] | None = None  # None: known only by a registry fingerprint, not seen yet


@dataclass(frozen=True)
class PendingPin:
    kind: ChangeKind
    time: str
    fingerprint: str | None = None  # None for a removal
    definition: dict[str, Any] | None = None


@dataclass
class PinSection:
    initialized: bool = False  # a complete list was pinned (or a seed written): trust on first use is over
    approved: dict[str, ApprovedPin] = field(default_factory=dict)
    pending: dict[str, PendingPin] = field(default_factory=dict)


@dataclass
class PinsFile:
    schema_version: Literal[1] = 1
    tools: PinSection = field(default_factory=PinSection)


class SchemaError(ValueError):
    """Where in the document (dotted path, "" for the top) and why it does not fit the schema."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


_Check = Callable[[object, str], object]


def _object(value: object, where: str, fields: Mapping[str, tuple[_Check, bool]]) -> dict[str, object]:
    """The known fields of a JSON object, each checked (``required`` or omitted); any other key is refused."""
    value = _dictionary(value, where)
    checked: dict[str, object] = {}
    for name, (check, required) in fields.items():
        path = f"{where}.{name}" if where else name
        if name in value:
            checked[name] = check(value[name], path)
        elif required:
            raise SchemaError(path, "Field required")
    for key in value:
        if key not in fields:
            raise SchemaError(f"{where}.{key}" if where else str(key), "Extra inputs are not permitted")
    return checked


def _typed(kind: type, noun: str) -> _Check:
    """A check that the value is a JSON ``kind`` (no coercion: ``"yes"`` is no boolean)."""
    def check(value: object, where: str) -> object:
        if not isinstance(value, kind):
            raise SchemaError(where, f"Input should be a valid {noun}")
        return value
    return check


_string = _typed(str, "string")
_boolean = _typed(bool, "boolean")


def _dictionary(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(where, "Input should be a valid dictionary")
    return value


def _fingerprint(value: object, where: str) -> str:
    if not _FINGERPRINT.fullmatch(str(_string(value, where))):
        raise SchemaError(where, f"String should match pattern '{_FINGERPRINT.pattern}'")
    return str(value)


def _optional(check: _Check) -> _Check:
    return lambda value, where: None if value is None else check(value, where)


def _one_of(choices: tuple[str, ...]) -> _Check:
    def check(value: object, where: str) -> str:
        if value not in choices or not isinstance(value, str):
            quoted = [f"'{choice}'" for choice in choices]
            raise SchemaError(where, f"Input should be {', '.join(quoted[:-1])} or {quoted[-1]}")
        return value
    return check


def _version(value: object, where: str) -> int:
    if value != SCHEMA_VERSION or type(value) is not int:
        raise SchemaError(where, f"Input should be {SCHEMA_VERSION}")
    return SCHEMA_VERSION


def _entries(check: _Check) -> _Check:
    def entries(value: object, where: str) -> dict[str, object]:
        return {name: check(entry, f"{where}.{name}") for name, entry in _dictionary(value, where).items()}
    return entries


def _approved_pin(value: object, where: str) -> ApprovedPin:
    return ApprovedPin(**_object(value, where, {  # type: ignore[arg-type]
        "fingerprint": (_fingerprint, True), "definition": (_optional(_dictionary), False),
        "source": (_one_of(_SOURCES), True), "time": (_string, True)}))


def _pending_pin(value: object, where: str) -> PendingPin:
    return PendingPin(**_object(value, where, {  # type: ignore[arg-type]
        "kind": (_one_of(_KINDS), True), "fingerprint": (_optional(_fingerprint), False),
        "definition": (_optional(_dictionary), False), "time": (_string, True)}))


def _section(value: object, where: str) -> PinSection:
    return PinSection(**_object(value, where, {  # type: ignore[arg-type]
        "initialized": (_boolean, False), "approved": (_entries(_approved_pin), False),
        "pending": (_entries(_pending_pin), False)}))


def parse_pins(data: object) -> PinsFile:
    """The store a decoded ``pins.json`` describes; raises SchemaError at the first thing that does not fit.

    The rules: every object refuses unknown keys; fingerprints are 64 lower-case hex digits; ``source`` and
    ``kind`` take only their listed values; ``schema_version`` is 1; omitted optional fields take their
    defaults. Fields are checked in the order above, then unknown keys, so the first error is stable.
    """
    return PinsFile(**_object(data, "", {  # type: ignore[arg-type]
        "schema_version": (_version, False), "tools": (_section, False)}))


def pins_path(state_dir: Path) -> Path:
    return state_dir / PINS_FILE


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load(state_dir: Path) -> PinsFile | None:
    """The store, or None when there is none yet (first use); raises PinsError when it cannot be read."""
    path = pins_path(state_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _unreadable(path, "not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= _MAX_BYTES and (chunk := os.read(fd, _MAX_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
    if len(data) > _MAX_BYTES:
        raise _unreadable(path, f"larger than {_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        decoded = json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _unreadable(path, "not valid JSON") from exc
    try:
        return parse_pins(decoded)
    except SchemaError as exc:
        raise _unreadable(path, f"{exc.where}: {exc.reason}") from exc


def _unreadable(path: Path, reason: str) -> PinsError:
    return PinsError(f"The tool pins in {path} cannot be read ({reason}).",
                     hint="Restore the file, or delete it to trust the tools the server lists next "
                          "(until then the proxy withholds every tool).", path=str(path))


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write(state_dir: Path, pins: PinsFile) -> None:
    text = json.dumps(dataclasses.asdict(pins), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(pins_path(state_dir), text.encode("utf-8", "surrogatepass"), mode=0o600)


# ----- what the CLI and scan read ----------------------------------------------------------------------

def pinned_tools(state_dir: Path) -> dict[str, dict[str, Any]]:
    """Approved tool definitions by name (a tool known only by a seeded fingerprint has none yet: see
    ``pinned_fingerprints``)."""
    pins = load(state_dir)
    if pins is None:
        return {}
    return {name: pin.definition for name, pin in sorted(pins.tools.approved.items()) if pin.definition is not None}


def pinned_fingerprints(state_dir: Path) -> dict[str, str]:
    """Approved tool fingerprints by name, seeded ones included."""
    pins = load(state_dir)
    return {} if pins is None else {name: pin.fingerprint for name, pin in sorted(pins.tools.approved.items())}


def other_workloads_tools(state_dir: Path) -> frozenset[str]:
    """The names of the tools pinned for mcpctl's other workloads (the siblings of ``state_dir``): a tool
    description that names one of them may be shadowing it. A store that cannot be read adds nothing."""
    names: set[str] = set()
    try:
        siblings = [d for d in state_dir.parent.iterdir() if d.is_dir() and d.name != state_dir.name]
    except OSError:
        return frozenset()
    for sibling in siblings:
        try:
            names.update(pinned_fingerprints(sibling))
        except (MCPCTLError, OSError):
            continue  # that workload's own commands report its unreadable store
    return frozenset(names)


def pending_changes(state_dir: Path) -> list[ToolChange]:
    """The changes waiting for approval, by tool name."""
    pins = load(state_dir)
    if pins is None:
        return []
    return [_change(pins.tools, name, pending) for name, pending in sorted(pins.tools.pending.items())]


def _change(section: PinSection, name: str, pending: PendingPin) -> ToolChange:
    approved = section.approved.get(name)
    return ToolChange(name, pending.kind, approved.definition if approved else None, pending.definition)


# ----- what the CLI and `run` write --------------------------------------------------------------------

def approve(state_dir: Path, tools: Sequence[str] | None = None) -> list[str]:
    """Pin the pending definitions of ``tools`` (None: every pending change); the names approved.

    A removal approved drops the tool's pin. Raises UsageError naming any tool with no pending change.
    """
    with _locked(state_dir):
        pins = load(state_dir)
        section = pins.tools if pins is not None else PinSection()
        names = sorted(section.pending) if tools is None else list(dict.fromkeys(tools))
        unknown = [name for name in names if name not in section.pending]
        if unknown:
            raise UsageError(f"No pending change for {', '.join(map(repr, unknown))}.",
                             hint="`mcpctl tools diff WORKLOAD` lists the changes waiting for approval.",
                             code="tool-not-pending")
        if pins is None or not names:
            return []
        now = _now()
        for name in names:
            pending = section.pending.pop(name)
            if pending.kind == "removed" or pending.fingerprint is None:
                section.approved.pop(name, None)
            else:
                section.approved[name] = ApprovedPin(fingerprint=pending.fingerprint, definition=pending.definition,
                                                     source="approved", time=now)
        _write(state_dir, pins)
    return names


def seed(state_dir: Path, fingerprints: Mapping[str, str]) -> None:
    """Pin the tools a signed registry entry vouches for, before the server first runs.

    The seed replaces the approved set: a tool whose fingerprint matches keeps the definition already seen;
    every other tool the server lists (changed or new) is pending at the next list.
    """
    bad = sorted(name for name, value in fingerprints.items() if not _FINGERPRINT.fullmatch(value))
    if bad:
        raise UsageError(f"Tool fingerprints must be 64 lower-case hex digits (sha256): {', '.join(bad)}.")
    with _locked(state_dir):
        try:
            pins = load(state_dir) or PinsFile()
        except PinsError:
            pins = PinsFile()  # the seed replaces every approval, so nothing unreadable is trusted
        old = pins.tools.approved
        now = _now()
        approved = {name: ApprovedPin(fingerprint=value, definition=(old[name].definition if name in old
                                                                     and old[name].fingerprint == value else None),
                                      source="registry", time=now)
                    for name, value in sorted(fingerprints.items())}
        pins.tools = PinSection(initialized=True, approved=approved)
        _write(state_dir, pins)


# ----- what the proxy decides and records ---------------------------------------------------------------

@dataclass(frozen=True)
class ListReview:
    """The verdict on one list result: what the client may see, and what the store must learn."""

    visible: list[Any]
    changes: list[ToolChange] = field(default_factory=list)   # not recorded yet, or recorded with another hash
    resolved: list[str] = field(default_factory=list)          # pending names whose change has gone
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # approved, definition not stored yet
    first_use: bool = False
    complete: bool = True

    @property
    def needs_write(self) -> bool:
        return self.first_use or bool(self.changes or self.resolved or self.definitions)


def review_list(section: PinSection | None, items: Sequence[Any], *, complete: bool,
                hidden: Callable[[str], bool] = lambda name: False) -> ListReview:
    """Decide on a ``tools/list`` page: approved tools stay, new or changed ones are withheld.

    ``complete``: the page is the whole list (removals can be seen); ``hidden(name)``: a tool the proxy
    filtered out itself (the tool policy), which is not a removal. Entries without a string name are
    dropped. A name listed twice is shown only if every copy matches its pin.
    """
    named: list[tuple[str, dict[str, Any]]] = [(item["name"], item) for item in items
                                               if isinstance(item, dict) and isinstance(item.get("name"), str)]
    if section is None or not section.initialized:
        return ListReview(visible=[item for _, item in named], first_use=True, complete=complete,
                          definitions={name: item for name, item in named})
    by_name: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, item in named:
        by_name.setdefault(name, []).append((tool_fingerprint(item), item))
    visible: list[Any] = []
    changes: list[ToolChange] = []
    resolved: list[str] = []
    definitions: dict[str, dict[str, Any]] = {}
    for name, copies in by_name.items():
        approved = section.approved.get(name)
        pending = section.pending.get(name)
        if approved is not None and all(fingerprint == approved.fingerprint for fingerprint, _ in copies):
            visible.extend(item for _, item in copies)
            if approved.definition is None:
                definitions[name] = copies[0][1]
            if pending is not None:
                resolved.append(name)
            continue
        fingerprint, item = next(((fp, it) for fp, it in copies if approved is None or fp != approved.fingerprint))
        kind: ChangeKind = "new" if approved is None else "changed"
        if pending is None or pending.kind != kind or pending.fingerprint != fingerprint:
            changes.append(ToolChange(name, kind, approved.definition if approved else None, item))
    if complete:
        for name, approved in section.approved.items():
            if name in by_name or hidden(name):
                continue
            pending = section.pending.get(name)
            if pending is None or pending.kind != "removed":
                changes.append(ToolChange(name, "removed", approved.definition, None))
        resolved += [name for name in section.pending if name not in by_name and name not in section.approved]
    return ListReview(visible=visible, changes=changes, resolved=resolved, definitions=definitions, complete=complete)


def _apply(section: PinSection, review: ListReview) -> None:
    now = _now()
    if review.first_use:
        for name, item in review.definitions.items():
            section.approved[name] = ApprovedPin(fingerprint=tool_fingerprint(item), definition=item,
                                                 source="first-use", time=now)
        section.initialized = section.initialized or review.complete
        return
    for name, item in review.definitions.items():
        section.approved[name] = dataclasses.replace(section.approved[name], definition=item)
    for name in review.resolved:
        section.pending.pop(name, None)
    for change in review.changes:
        section.pending[change.tool] = PendingPin(
            kind=change.kind, fingerprint=tool_fingerprint(change.after) if change.after is not None else None,
            definition=change.after, time=now)


def observe_tools(state_dir: Path, items: Sequence[Any], *, complete: bool,
                  hidden: Callable[[str], bool] = lambda name: False) -> ListReview:
    """Review a ``tools/list`` page against the store as it is now, and record what it teaches (first-use
    pins, pending changes, changes that went away). The changes returned are the ones newly recorded.
    Raises PinsError (and writes nothing) when the store cannot be read."""
    with _locked(state_dir):
        pins = load(state_dir)
        review = review_list(pins.tools if pins is not None else None, items, complete=complete, hidden=hidden)
        if review.needs_write:
            pins = pins or PinsFile()
            _apply(pins.tools, review)
            _write(state_dir, pins)
    return review
