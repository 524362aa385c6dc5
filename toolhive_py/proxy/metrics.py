"""Prometheus text-format metrics for the proxy, kept in process (no client library needed for five series).

Every label value comes from a closed set, so a client cannot grow the series (a name a client made up is
a new series for the life of the proxy) or forge samples: methods are the protocol's own (else
``other``), tools are those the server listed (else ``other``), outcomes are the audit log's. Values are
escaped as the text format says all the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["METHODS", "OTHER", "Metrics", "escape_label_value"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# The client→server requests of every protocol revision the proxy speaks.
METHODS: Final = frozenset({
    "initialize", "ping", "server/discover", "subscriptions/listen", "completion/complete", "logging/setLevel",
    "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list", "resources/templates/list",
    "resources/read", "resources/subscribe", "resources/unsubscribe", "tasks/get", "tasks/result", "tasks/list",
    "tasks/cancel",
})
OTHER: Final = "other"
# A server listing more tools than this gets the rest counted as ``other``; a name this long is not a label.
_MAX_TOOLS = 1024
_MAX_TOOL_NAME = 128


def escape_label_value(value: str) -> str:
    """A label value as the text format quotes it: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs) + "}"


@dataclass
class Metrics:
    requests: defaultdict[tuple[tuple[str, str], ...], int] = field(default_factory=lambda: defaultdict(int))
    tool_calls: defaultdict[tuple[tuple[str, str], ...], int] = field(default_factory=lambda: defaultdict(int))
    errors: defaultdict[tuple[tuple[str, str], ...], int] = field(default_factory=lambda: defaultdict(int))
    duration_counts: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * (len(_BUCKETS) + 1)))
    duration_sums: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    active_sessions: int = 0
    backend_ready: bool = False
    backend_restarts: int = 0
    listed_tools: set[str] = field(default_factory=set)

    def tools_listed(self, names: Iterable[object]) -> None:
        """Tools the server named in a ``tools/list`` result: these get a series of their own."""
        for name in names:
            if len(self.listed_tools) >= _MAX_TOOLS:
                return
            if isinstance(name, str) and len(name) <= _MAX_TOOL_NAME:
                self.listed_tools.add(name)

    def observe(self, method: str, outcome: str, seconds: float, tool: str | None) -> None:
        method = method if method in METHODS else OTHER
        self.requests[(("method", method), ("outcome", outcome))] += 1
        if tool is not None:
            self.tool_calls[(("tool", tool if tool in self.listed_tools else OTHER), ("outcome", outcome))] += 1
        if outcome != "ok":
            self.errors[(("kind", outcome),)] += 1
        counts = self.duration_counts[method]
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.duration_sums[method] += seconds

    def error(self, kind: str) -> None:
        self.errors[(("kind", kind),)] += 1

    def render(self) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, helptext: str) -> None:
            lines.append(f"# HELP {name} {helptext}")
            lines.append(f"# TYPE {name} {kind}")

        family("mcpctl_proxy_requests_total", "counter", "MCP requests by method and outcome.")
        lines += [f"mcpctl_proxy_requests_total{_labels(k)} {v}" for k, v in sorted(self.requests.items())]
        family("mcpctl_proxy_request_duration_seconds", "histogram", "MCP request latency by method.")
        for method, counts in sorted(self.duration_counts.items()):
            for bound, count in zip(_BUCKETS, counts, strict=False):
                lines.append(f"mcpctl_proxy_request_duration_seconds_bucket"
                             f"{_labels((('method', method), ('le', repr(bound))))} {count}")
            lines.append(f"mcpctl_proxy_request_duration_seconds_bucket"
                         f"{_labels((('method', method), ('le', '+Inf')))} {counts[-1]}")
            lines.append(f"mcpctl_proxy_request_duration_seconds_sum{_labels((('method', method),))} "
                         f"{self.duration_sums[method]:.6f}")
            lines.append(f"mcpctl_proxy_request_duration_seconds_count{_labels((('method', method),))} {counts[-1]}")
        family("mcpctl_proxy_tool_calls_total", "counter", "tools/call requests by tool and outcome.")
        lines += [f"mcpctl_proxy_tool_calls_total{_labels(k)} {v}" for k, v in sorted(self.tool_calls.items())]
        family("mcpctl_proxy_errors_total", "counter", "Failed, denied and rate-limited requests and backend faults.")
        lines += [f"mcpctl_proxy_errors_total{_labels(k)} {v}" for k, v in sorted(self.errors.items())]
        family("mcpctl_proxy_active_sessions", "gauge", "Client sessions currently open.")
        lines.append(f"mcpctl_proxy_active_sessions {self.active_sessions}")
        family("mcpctl_proxy_backend_ready", "gauge", "1 when the MCP server is initialized and answering.")
        lines.append(f"mcpctl_proxy_backend_ready {int(self.backend_ready)}")
        family("mcpctl_proxy_backend_restarts_total", "counter", "Times the proxy re-attached to the server.")
        lines.append(f"mcpctl_proxy_backend_restarts_total {self.backend_restarts}")
        return "\n".join(lines) + "\n"
