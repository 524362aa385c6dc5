"""Tool pinning in the proxy: a server that changes its tools after they were approved (a rug pull) gets the
changed and new tools withheld from clients until the user approves them.

On a ``tools/list`` result the guard keeps the tools whose fingerprint matches their pin, drops the rest,
and records each change in ``pins.json`` (``integrity.pins``) and the audit log (one record per change seen:
the tool's name and the kind of change, never its description). A ``tools/call`` to a withheld tool, or to
a tool that was never approved, is refused with a JSON-RPC error naming ``mcpctl tools approve``. An
approval the CLI writes takes effect at the next list or call: the guard re-reads ``pins.json`` when its
inode, size or mtime changes, so a call costs one ``stat`` and a dict lookup. A ``pins.json`` that cannot be
read withholds every tool, and every call says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolhive_py.integrity import pins
from toolhive_py.integrity.pins import PinsError, PinsFile, ToolChange
from toolhive_py.proxy.audit import Outcome
from toolhive_py.proxy.jsonrpc import UNAPPROVED
from toolhive_py.proxy.policy import Refusal, ToolPolicy
from toolhive_py.proxy.watched import StateGuard, WatchedFile

__all__ = ["AuditSink", "PinGuard"]

logger = logging.getLogger(__name__)

# Called with (method, tool, outcome) for each change pinning sees.
AuditSink = Callable[[str, str, Outcome], None]

_NAME_LIMIT = 80  # a tool name quoted back to the client is the client's own, but bounded all the same


class PinGuard(StateGuard):
    """The pinning guard of one workload (``state_dir`` holds its ``pins.json``)."""

    def __init__(self, state_dir: Path, policy: ToolPolicy | None = None, *, workload: str | None = None,
                 audit: AuditSink | None = None) -> None:
        self.state_dir = state_dir
        self.workload = workload or state_dir.name
        self.policy = policy or ToolPolicy()
        self.audit = audit
        self._pins = WatchedFile(pins.pins_path(state_dir), lambda: pins.load(state_dir), error=PinsError,
                                 unreadable=lambda exc: PinsError(f"The tool pins in {pins.pins_path(state_dir)} "
                                                                  f"cannot be read ({exc.strerror})."),
                                 consequence="every tool is withheld until it is fixed")
        self._paged = False  # the server splits its list into pages: no single page shows a removal

    def _current(self) -> PinsFile | None:
        """The store as the file holds it now; raises PinsError while it cannot be read."""
        return self._pins.current()

    # ----- the guard ---------------------------------------------------------------------------------

    def check_request(self, method: str, params: Any) -> Refusal | Any:
        if method != "tools/call" or not isinstance(params, dict) or not isinstance(params.get("name"), str):
            return params  # the policy refuses a call without a string name before any guard runs
        name: str = params["name"]
        try:
            current = self._current()
        except PinsError as exc:
            return Refusal(UNAPPROVED, f"mcpctl withholds every tool of {self.workload}: {exc.message} Restore "
                                       "the file, or delete it to trust the tools the server lists next, then "
                                       f"list the tools again (`mcpctl tools approve {self.workload} TOOL` approves "
                                       "a change).", "unapproved")
        if current is None or not current.tools.initialized:
            return params  # nothing pinned yet: the first list the proxy sees is trusted
        pending = current.tools.pending.get(name)
        if pending is None and name in current.tools.approved:
            return params
        quoted = repr(name[:_NAME_LIMIT])
        if pending is not None and pending.kind != "removed":
            what = ("is new" if pending.kind == "new" else
                    "changed (its description, schema or annotations differ from the approved ones)")
            return Refusal(UNAPPROVED, f"Tool {quoted} {what} since {self.workload}'s tools were approved, so "
                                       "mcpctl withholds it until you review it: run `mcpctl tools diff "
                                       f"{self.workload}`, then `mcpctl tools approve {self.workload} {name}`.",
                           "unapproved")
        if name not in current.tools.approved:
            return Refusal(UNAPPROVED, f"Tool {quoted} is not among {self.workload}'s approved tools. If the server "
                                       f"lists it, review it with `mcpctl tools diff {self.workload}` and approve it "
                                       f"with `mcpctl tools approve {self.workload} {name}`.", "unapproved")
        return params

    def check_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        return message  # only lists and calls concern this guard

    def check_result(self, method: str, target: str | None, result: dict[str, Any]) -> Refusal | dict[str, Any]:
        if method != "tools/list":
            return result
        tools = result.get("tools")
        if not isinstance(tools, list):
            return result
        cursor = result.get("nextCursor")
        if isinstance(cursor, str) and cursor:
            self._paged = True
        complete = not self._paged
        hidden = self._hidden
        try:
            current = self._current()
        except PinsError:
            return {**result, "tools": []}
        review = pins.review_list(current.tools if current else None, tools, complete=complete, hidden=hidden)
        if review.needs_write:
            try:
                review = pins.observe_tools(self.state_dir, tools, complete=complete, hidden=hidden)
            except PinsError:
                return {**result, "tools": []}
            except OSError as exc:
                # Unrecorded, a first-use list would be trusted afresh at every list: withhold it instead.
                logger.warning("could not record tool pins in %s: %s; unpinned tools stay withheld", self._pins.path, exc)
                return {**result, "tools": [] if review.first_use else review.visible}
        for change in review.changes:
            self._report(change)
        if len(review.visible) == len(tools):
            return result
        return {**result, "tools": review.visible}

    def _hidden(self, name: str) -> bool:
        return not self.policy.permits(name)

    def _report(self, change: ToolChange) -> None:
        if change.kind == "removed":
            logger.warning("tool %.80r of %s is gone from its list", change.tool, self.workload)
        else:
            logger.warning("tool %.80r of %s is %s: withheld until `mcpctl tools approve %s %s`", change.tool,
                           self.workload, change.kind, self.workload, change.tool)
        if self.audit is not None:
            outcome: Outcome = ("pin_new" if change.kind == "new" else
                                "pin_changed" if change.kind == "changed" else "pin_removed")
            self.audit("tools/list", change.tool, outcome)
