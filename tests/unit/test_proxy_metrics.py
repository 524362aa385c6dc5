"""/metrics text: label values escaped as the Prometheus text format says, and every label from a
closed set, so no client can forge a sample or grow the series."""

from __future__ import annotations

import re

import pytest

from toolhive_py.proxy.metrics import METHODS, Metrics, escape_label_value

# One sample line of the text format: name, optional {labels} with properly quoted values, a number.
SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\\n]|\\["\\n])*",?)*\})? [0-9.e+-]+$')


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain", "plain"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ('\\"\n', '\\\\\\"\\n'),
])
def test_label_values_are_escaped(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


def test_a_hostile_method_or_tool_name_cannot_forge_a_sample() -> None:
    metrics = Metrics()
    forged = 'x"} 1\nmcpctl_proxy_backend_ready 0\n#'
    metrics.tools_listed([forged, "echo"])  # even a server-listed name is escaped
    metrics.observe(forged, "ok", 0.01, None)
    metrics.observe("tools/call", "ok", 0.01, forged)
    text = metrics.render()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(SAMPLE.match(line) for line in samples), [line for line in samples if not SAMPLE.match(line)]
    assert [line for line in samples if line.startswith("mcpctl_proxy_backend_ready")] == [
        "mcpctl_proxy_backend_ready 0"]


def test_unknown_methods_and_unlisted_tools_share_one_series() -> None:
    metrics = Metrics()
    metrics.tools_listed(["echo", 5, None, "x" * 500])
    for i in range(4000):
        metrics.observe(f"made/up/{i}", "error", 0.001, None)
        metrics.observe("tools/call", "error", 0.001, f"tool-{i}")
    metrics.observe("tools/call", "ok", 0.001, "echo")
    assert set(metrics.requests) == {(("method", "other"), ("outcome", "error")),
                                     (("method", "tools/call"), ("outcome", "error")),
                                     (("method", "tools/call"), ("outcome", "ok"))}
    assert set(metrics.tool_calls) == {(("tool", "other"), ("outcome", "error")), (("tool", "echo"), ("outcome", "ok"))}
    assert set(metrics.duration_counts) == {"other", "tools/call"}
    assert len(metrics.render()) < 10_000
    assert metrics.requests[(("method", "other"), ("outcome", "error"))] == 4000


def test_a_server_cannot_list_its_way_to_unbounded_series_either() -> None:
    metrics = Metrics()
    metrics.tools_listed(f"tool-{i}" for i in range(100_000))
    assert len(metrics.listed_tools) == 1024


def test_the_protocols_methods_keep_their_own_series() -> None:
    metrics = Metrics()
    for method in sorted(METHODS):
        metrics.observe(method, "ok", 0.002, None)
    assert {dict(k)["method"] for k in metrics.requests} == METHODS
    assert 'mcpctl_proxy_request_duration_seconds_count{method="tools/list"} 1' in metrics.render()
