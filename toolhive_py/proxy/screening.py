"""Description screening in the proxy: tools whose definitions address the model are withheld from clients.

On a ``tools/list`` result the guard screens every tool (``integrity.screening``) and, per ``--screen``:
``warn`` (the default) withholds the tools with a critical finding and keeps the rest, ``block`` withholds
every tool with a finding at medium or above, ``off`` does not look. A ``tools/call`` to a withheld tool is
refused with a JSON-RPC error (``SCREENED``) naming the finding codes and how to allow it. Each withheld tool
is audited once per definition (``screen_withheld``, its codes in ``findings``; never its text).

Screening runs once per definition: results are cached by ``tool_fingerprint``, so an unchanged list costs a
hash and a dict lookup per tool. Other servers' tools (for the shadowing rules) are the tools pinned for
mcpctl's other workloads, read once when the proxy starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Final

from toolhive_py.integrity import pins
from toolhive_py.integrity.fingerprints import tool_fingerprint
from toolhive_py.integrity.screening import ScreenFinding, is_at_least, screen_tool
from toolhive_py.proxy.audit import EventLog
from toolhive_py.proxy.jsonrpc import SCREENED
from toolhive_py.proxy.policy import Refusal, ScreenMode, ToolPolicy

__all__ = ["ScreenAuditSink", "ScreenGuard", "withholds"]

logger = logging.getLogger(__name__)

# Called with (tool name, finding codes) for each definition the guard withholds.
ScreenAuditSink = Callable[[str, tuple[str, ...]], None]

_NAME_LIMIT: Final = 80
_CACHE_LIMIT: Final = 4096  # definitions remembered; a server cycling through more is screened afresh


def withholds(mode: ScreenMode, findings: Collection[ScreenFinding]) -> bool:
    """Whether ``--screen mode`` keeps a tool with these findings from clients."""
    if mode == "off":
        return False
    threshold = "critical" if mode == "warn" else "medium"
    return any(is_at_least(f.level, threshold) for f in findings)


class ScreenGuard:
    """The screening guard of one workload's proxy."""

    def __init__(self, policy: ToolPolicy | None = None, *, workload: str = "this server",
                 other_tools: Collection[str] = (), audit: ScreenAuditSink | None = None) -> None:
        self.mode: ScreenMode = (policy or ToolPolicy()).screen
        self.workload = workload
        self.other_tools = frozenset(other_tools)
        self.audit = audit
        self._findings: dict[str, tuple[ScreenFinding, ...]] = {}  # fingerprint -> findings
        self._others = self.other_tools  # what the cached findings were screened against
        self._events: EventLog | None = None
        self._withheld: dict[str, tuple[str, ...]] = {}  # tool name -> the codes that withhold it
        self._reported: set[str] = set()  # fingerprints already audited

    @classmethod
    def for_workload(cls, state_dir: Path, policy: ToolPolicy) -> ScreenGuard:
        """The guard a supervised proxy runs: withheld tools go to the workload's audit log, other servers'
        tools are those pinned for the other workloads beside this one."""
        events = EventLog(state_dir / "audit.jsonl", state_dir.name)
        guard = cls(policy, workload=state_dir.name, other_tools=pins.other_workloads_tools(state_dir),
                    audit=lambda tool, codes: events.write("tools/list", tool, "screen_withheld", codes))
        guard._events = events
        return guard

    def close(self) -> None:
        if self._events is not None:
            self._events.close()

    def findings(self, tool: dict[str, Any], own: Collection[str] = ()) -> tuple[ScreenFinding, ...]:
        """The findings for one definition, screened once per fingerprint (and per set of other servers'
        tools: a name this server now lists itself is no longer another server's)."""
        others = self.other_tools.difference(own) if self.other_tools else self.other_tools
        if others != self._others:
            self._findings.clear()
            self._others = others
        key = tool_fingerprint(tool)
        found = self._findings.get(key)
        if found is None:
            found = tuple(screen_tool(tool, other_tools=others))
            if len(self._findings) >= _CACHE_LIMIT:
                self._findings.clear()
            self._findings[key] = found
        return found

    def check_request(self, method: str, params: Any) -> Refusal | Any:
        if method != "tools/call" or not self._withheld or not isinstance(params, dict):
            return params
        name = params.get("name")
        if not isinstance(name, str):
            return params
        codes = self._withheld.get(name)
        if codes is None:
            return params
        allow = ("`mcpctl run … --screen off`" if self.mode == "warn" else
                 "`mcpctl run … --screen warn` (which withholds only critical findings) or `--screen off`")
        return Refusal(SCREENED, f"mcpctl withholds tool {name[:_NAME_LIMIT]!r} of {self.workload}: screening "
                                 f"found {', '.join(codes)} in its description or schema (--screen {self.mode}). "
                                 f"Review it with `mcpctl tools list {self.workload}`. Have the server fixed, or "
                                 f"if you trust it, run it again with {allow}.", "screen_refused")

    def check_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        return message  # only lists and calls concern this guard

    def check_result(self, method: str, target: str | None, result: dict[str, Any]) -> Refusal | dict[str, Any]:
        if method != "tools/list" or self.mode == "off":
            return result
        tools = result.get("tools")
        if not isinstance(tools, list):
            return result
        own = {t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)}
        visible: list[Any] = []
        for tool in tools:
            if not isinstance(tool, dict):
                visible.append(tool)  # nothing a client can show
                continue
            name = tool.get("name") if isinstance(tool.get("name"), str) else None
            found = self.findings(tool, own)
            if not withholds(self.mode, found):
                if name is not None:
                    self._withheld.pop(name, None)
                visible.append(tool)
                continue
            codes = tuple(dict.fromkeys(f.code for f in found if withholds(self.mode, [f])))
            if name is not None:
                self._withheld[name] = codes
            self._report(name or "", tool, codes)
        if len(visible) == len(tools):
            return result
        return {**result, "tools": visible}

    def _report(self, name: str, tool: dict[str, Any], codes: tuple[str, ...]) -> None:
        key = tool_fingerprint(tool)
        if key in self._reported:
            return
        self._reported.add(key)
        logger.warning("tool %.80r of %s withheld by screening (%s)", name, self.workload, ", ".join(codes))
        if self.audit is not None:
            self.audit(name, codes)
