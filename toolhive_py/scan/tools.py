"""Screening findings for the tools scan can see without launching a server: the definitions pinned for
mcpctl's managed workloads (``<state>/workloads/NAME/pins.json``, approved by ``mcpctl tools approve`` or
trusted at first use).

Each pinned tool goes through the same rules as the proxy's screening guard (``integrity.screening``); a
finding at medium or above becomes a ``tool-screening`` reason on the workload's finding (its container,
or a client entry pointing at its proxy), or on a finding of its own when scan saw the workload nowhere
else (stopped). A pins file that cannot be read is a scan error, not a clean result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from toolhive_py.config import Paths
from toolhive_py.errors import MCPCTLError
from toolhive_py.integrity.screening import LEVELS, is_at_least, screen_tools
from toolhive_py.scan.model import Reason, ScanError, ServerFinding

__all__ = ["RULE", "WorkloadTools", "pinned_workload_tools", "tool_reasons", "with_tool_reasons"]

RULE: Final = "tool-screening"
_SHOWN: Final = "medium"  # the level from which a screening finding is a scan reason (the proxy's warn level)


@dataclass(frozen=True)
class WorkloadTools:
    name: str  # the workload
    tools: dict[str, dict[str, Any]]  # pinned definitions by tool name


def pinned_workload_tools(paths: Paths) -> tuple[list[WorkloadTools], list[ScanError]]:
    """Every workload's pinned tool definitions (workloads with none are left out)."""
    from toolhive_py.integrity.pins import pinned_tools

    found: list[WorkloadTools] = []
    errors: list[ScanError] = []
    root = paths.workloads_dir
    if not root.is_dir():
        return found, errors
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            tools = pinned_tools(directory)
        except (MCPCTLError, OSError) as exc:
            errors.append(ScanError(str(directory), f"tool pins not read: {getattr(exc, 'message', exc)}"))
            continue
        if tools:
            found.append(WorkloadTools(directory.name, tools))
    return found, errors


def tool_reasons(workload: WorkloadTools, other_tools: frozenset[str] = frozenset()) -> list[Reason]:
    """One reason per screening finding at medium or above in a workload's pinned tools, worst first."""
    reasons = []
    for tool, findings in sorted(screen_tools(list(workload.tools.values()), other_tools=other_tools).items()):
        for finding in findings:
            if is_at_least(finding.level, _SHOWN):
                reasons.append(Reason(RULE, finding.level, f"tool {tool[:80]!r}: {finding.code}: {finding.message}"))
    return sorted(reasons, key=lambda r: LEVELS.index(r.level))


def with_tool_reasons(paths: Paths, findings: Sequence[ServerFinding]) -> tuple[list[ServerFinding], list[ScanError]]:
    """Add the workloads' screening reasons to the findings that show those workloads; the findings to add
    for workloads shown by none (each reason once per workload finding)."""
    from toolhive_py.proxy.supervisor import read_state

    workloads, errors = pinned_workload_tools(paths)
    names = {w.name: frozenset(w.tools) for w in workloads}
    extra: list[ServerFinding] = []
    for workload in workloads:
        others = frozenset().union(*(n for k, n in names.items() if k != workload.name))
        reasons = tool_reasons(workload, others)
        if not reasons:
            continue
        state = read_state(paths, workload.name)
        container, url = (state.container, state.url) if state is not None else (None, None)
        shown = [f for f in findings if f.status == "managed"
                 and ((container and f.container == container) or (url and f.target == url))]
        for finding in shown:
            finding.reasons.extend(reasons)
        if not shown:
            extra.append(ServerFinding("container", workload.name, scope="mcpctl workload (not running)",
                                       container=container or None, target=url or "", status="managed",
                                       reasons=list(reasons)))
    return extra, errors
