"""A workload's tools as its clients see them: mcpctl as an MCP client of the workload's own proxy.

``list_tools`` and ``call_tool`` go through the proxy (so the tool policy, pinning, screening and DLP apply to
them exactly as to any client), over the session era of Streamable HTTP with plain JSON-RPC on httpx: the
mcp SDK client would cost ~0.75 s of imports per call. ``diff`` and ``approve`` work on the workload's pins
file (``integrity.pins``) in its state directory, without the proxy: the proxy re-reads the file when it
changes.

Policy: nothing here prints; every function returns a typed result. Text from the server (names,
descriptions, results, error messages) is data, carried as it came; the CLI decides how to show it.
A JSON-RPC error becomes an :class:`ToolCallError` whose message is the proxy's or server's own.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.errors import ConflictError, ExitCode, MCPCTLError, NotFoundError, UsageError
from toolhive_py.integrity import pins
from toolhive_py.integrity.screening import ScreenFinding, screen_tool
from toolhive_py.proxy.client import ProxyClient
from toolhive_py.results import Completed, Failure, Status

if TYPE_CHECKING:

    from toolhive_py.config import Paths

__all__ = ["ApproveData", "PendingChange", "PinState", "ToolCallData", "ToolView", "ToolsDiffData", "ToolsListData",
           "approve", "call_tool", "change_lines", "diff", "list_tools", "parse_arguments"]

_MAX_PAGES: Final = 100


class PinState(StrEnum):
    """Where a tool stands with the workload's pins: what clients see of it."""

    APPROVED = "approved"      # pinned and unchanged: clients see and call it
    CHANGED = "changed"        # pinned, but the server now lists another definition: withheld until approved
    NEW = "new"                # never approved: withheld until approved
    REMOVED = "removed"        # pinned, no longer listed by the server
    UNPINNED = "unpinned"      # no pins for this workload (pinning not active): shown as the proxy lists it


@dataclass(frozen=True)
class ToolView:
    """A tool with its pin state and screening findings; ``visible``: the proxy shows it to clients (a tool
    it withholds is pending approval, screened out, or hidden by the tool policy)."""

    name: str
    pin: PinState
    definition: Mapping[str, Any]
    visible: bool
    findings: tuple[ScreenFinding, ...] = ()

    @property
    def title(self) -> str | None:
        title = self.definition.get("title")
        return title if isinstance(title, str) else None

    @property
    def description(self) -> str:
        description = self.definition.get("description")
        return description if isinstance(description, str) else ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "pin": str(self.pin),
                "visible": self.visible, "findings": [asdict(f) for f in self.findings],
                "input_schema": self.definition.get("inputSchema")}


@dataclass(frozen=True)
class ToolsListData(Completed):
    """``mcpctl tools list``: what the proxy lists, plus what it withholds pending approval."""

    workload: str
    url: str
    tools: tuple[ToolView, ...]
    pinning: bool

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "url": self.url, "pinning": self.pinning,
                "tools": [t.to_dict() for t in self.tools]}


@dataclass(frozen=True)
class ToolCallData:
    """``mcpctl tools call``: the tool's result as the proxy returned it. A result with ``isError`` is an
    error status (exit 1) that still carries the result."""

    workload: str
    tool: str
    result: Mapping[str, Any]

    @property
    def is_error(self) -> bool:
        return self.result.get("isError") is True

    @property
    def status(self) -> Status:
        return Status.ERROR if self.is_error else Status.OK

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ERROR if self.is_error else ExitCode.OK

    @property
    def failures(self) -> tuple[Failure, ...]:
        if not self.is_error:
            return ()
        return (Failure(self.tool, MCPCTLError(f"Tool {self.tool} reported an error (see its result).",
                                               code="tool-error")),)

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "tool": self.tool, "result": dict(self.result)}


@dataclass(frozen=True)
class PendingChange:
    """A tool whose listed definition differs from the approved one (``integrity.pins.ToolChange``)."""

    tool: str
    kind: str                                   # new | changed | removed
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    findings: tuple[ScreenFinding, ...] = ()     # screening of ``after``

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "kind": self.kind, "before": self.before, "after": self.after,
                "findings": [asdict(f) for f in self.findings]}


@dataclass(frozen=True)
class ToolsDiffData(Completed):
    workload: str
    changes: tuple[PendingChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "changes": [c.to_dict() for c in self.changes]}


@dataclass(frozen=True)
class ApproveData(Completed):
    workload: str
    approved: tuple[str, ...]
    changes: tuple[PendingChange, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "approved": list(self.approved),
                "changes": [c.to_dict() for c in self.changes]}


# -- pure helpers -------------------------------------------------------------------------------------------


def parse_arguments(text: str) -> dict[str, Any]:
    """``--args`` as a tool's arguments: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--args is not JSON: {exc}.", hint='Give a JSON object, e.g. --args \'{"text": "hi"}\'.',
                         code="invalid-arguments") from None
    if not isinstance(value, dict):
        raise UsageError("--args must be a JSON object.", hint='Wrap the arguments in {}, e.g. {"text": "hi"}.',
                         code="invalid-arguments")
    return value


def _canonical(definition: Mapping[str, Any] | None) -> list[str]:
    # ensure_ascii: hidden and bidirectional characters show as \uXXXX escapes in a diff instead of acting.
    if definition is None:
        return []
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=True).splitlines()


def change_lines(change: PendingChange) -> list[str]:
    """A unified diff of the approved definition against the listed one, as ASCII-only JSON lines."""
    return list(difflib.unified_diff(_canonical(change.before), _canonical(change.after),
                                     fromfile=f"{change.tool} (approved)", tofile=f"{change.tool} (listed now)",
                                     lineterm="", n=3))


# -- the workload's state ---------------------------------------------------------


def _workload_dir(paths: Paths, name: str) -> Path:
    from toolhive_py.proxy.supervisor import proxy_dir

    directory = proxy_dir(paths, name)
    if not directory.is_dir():
        raise NotFoundError(f"No workload named {name}.", hint="`mcpctl list` shows your workloads.",
                            code="workload-not-found")
    return directory


def _pending(state_dir: Path, *, screen: bool = False) -> tuple[PendingChange, ...]:
    """The pins' pending changes; with ``screen``, each with the screening findings of its new definition."""
    return tuple(PendingChange(tool=c.tool, kind=str(c.kind), before=c.before, after=c.after,
                               findings=tuple(screen_tool(c.after)) if screen and c.after is not None else ())
                 for c in pins.pending_changes(state_dir))


# -- the proxy as an MCP server -----------------------------------------------------------------------------


def _listed_tools(client: ProxyClient) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = client.request("tools/list", {"cursor": cursor} if cursor else {})
        tools += [t for t in page.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]
        cursor = page.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return tools


# -- operations ---------------------------------------------------------------------------------------------


def list_tools(paths: Paths, name: str, *, socket: str | None = None, timeout: float = 30.0) -> ToolsListData:
    """Every tool of ``name``: those its proxy lists to clients, then those it withholds (approved but screened
    out or hidden by the policy; changed or new, pending approval) or the server no longer lists (removed),
    each with its screening findings."""
    from toolhive_py.proxy.supervisor import proxy_dir
    from toolhive_py.workloads import mcpctl_token, proxy_url

    url = proxy_url(paths, name, socket=socket)
    with ProxyClient(name, url, timeout, token=mcpctl_token(paths, name)) as client:
        listed = _listed_tools(client)
    state_dir = proxy_dir(paths, name)
    pinned: Mapping[str, Any] = {}
    pending: tuple[PendingChange, ...] = ()
    if state_dir.is_dir():
        pinned = pins.pinned_tools(state_dir)
        pending = _pending(state_dir)
    others = pins.other_workloads_tools(state_dir)
    changes = {c.tool: c for c in pending}
    shown = {tool["name"] for tool in listed}

    def view(tool_name: str, pin: PinState, definition: Mapping[str, Any], visible: bool) -> ToolView:
        findings = tuple(screen_tool(definition, other_tools=others)) if pin is not PinState.REMOVED else ()
        return ToolView(tool_name, pin, definition, visible, findings)

    views = [view(tool["name"], PinState.APPROVED if tool["name"] in pinned else PinState.UNPINNED, tool, True)
             for tool in listed if tool["name"] not in changes]
    views += [view(tool_name, PinState.APPROVED, definition, False) for tool_name, definition in pinned.items()
              if tool_name not in shown and tool_name not in changes]
    for change in pending:
        definition = change.after if change.after is not None else change.before or {"name": change.tool}
        views.append(view(change.tool, PinState(change.kind), definition, change.tool in shown))
    return ToolsListData(workload=name, url=url, tools=tuple(views), pinning=bool(pinned or pending))


def call_tool(paths: Paths, name: str, tool: str, arguments: Mapping[str, Any], *, socket: str | None = None,
              timeout: float = 60.0) -> ToolCallData:
    """Call ``tool`` through ``name``'s proxy, as any client would (policy and guards apply)."""
    from toolhive_py.workloads import mcpctl_token, proxy_url

    url = proxy_url(paths, name, socket=socket)
    with ProxyClient(name, url, timeout, token=mcpctl_token(paths, name)) as client:
        result = client.request("tools/call", {"name": tool, "arguments": dict(arguments)})
    return ToolCallData(workload=name, tool=tool, result=result)


def _select(name: str, pending: tuple[PendingChange, ...], tools: Sequence[str] | None) -> tuple[
        PendingChange, ...]:
    if not tools:
        return pending
    known = {c.tool for c in pending}
    unknown = [t for t in tools if t not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise UsageError(f"No pending change for {', '.join(unknown)} of {name}.",
                         hint=f"Pending: {listed}. `mcpctl tools diff {name}` shows them.", code="no-pending-change")
    return tuple(c for c in pending if c.tool in set(tools))


def diff(paths: Paths, name: str, tools: Sequence[str] | None = None) -> ToolsDiffData:
    """The tool changes of ``name`` waiting for approval (all, or the named ones), approved vs listed now."""
    state_dir = _workload_dir(paths, name)
    return ToolsDiffData(workload=name, changes=_select(name, _pending(state_dir, screen=True), tools))


def approve(paths: Paths, name: str, tools: Sequence[str] | None = None, *,
            shown: Sequence[PendingChange] | None = None) -> ApproveData:
    """Approve the pending changes of ``name`` (all, or the named tools): their listed definitions become the
    pins clients see. With ``shown`` (what the user reviewed), refuses when the pending changes differ from
    it, so a server cannot swap a definition between the diff and the approval."""
    state_dir = _workload_dir(paths, name)
    selected = _select(name, _pending(state_dir, screen=shown is not None), tools)
    if shown is not None and tuple(shown) != selected:
        raise ConflictError(f"The tools of {name} changed again since the diff was shown; nothing approved.",
                            hint=f"Review again: mcpctl tools approve {name}.", code="changed-since-shown")
    if not selected:
        return ApproveData(workload=name, approved=())
    approved = pins.approve(state_dir, [c.tool for c in selected])
    return ApproveData(workload=name, approved=tuple(approved), changes=selected)
