"""Run the MCP conformance suite's server scenarios against the conformance server directly and through
mcpctl's proxy, and write both results to bench/results/conformance.json and conformance.md.

    bash scripts/lib/node-tools && .venv/bin/python bench/conformance.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conformance.runner import run_suite, serving  # noqa: E402


def main() -> int:
    report: dict[str, object] = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "suite": "@modelcontextprotocol/conformance 0.1.16 (server scenarios)"}
    for label, through_proxy in (("direct", False), ("through_proxy", True)):
        with serving(through_proxy) as url:
            checks = run_suite(url)
        passed = sum(status == "SUCCESS" for status in checks.values())
        report[label] = {"passed": passed, "checks": len(checks), "results": checks}
        print(f"{label:14} {passed}/{len(checks)} checks passed")  # noqa: T201
    direct, proxied = report["direct"], report["through_proxy"]
    lost = sorted(k for k, v in direct["results"].items()  # type: ignore[index]
                  if v == "SUCCESS" and proxied["results"].get(k) != "SUCCESS")  # type: ignore[index]
    report["lost_through_proxy"] = lost
    print(f"lost through the proxy: {lost or 'none'}")  # noqa: T201
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "conformance.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "conformance.md").write_text(render_markdown(report))
    return 1 if lost else 0


def _count(results: dict[str, str], scenario: str) -> tuple[int, int]:
    statuses = [status for check, status in results.items() if check.split("/", 1)[0] == scenario]
    return sum(s == "SUCCESS" for s in statuses), sum(s != "SUCCESS" for s in statuses)


def render_markdown(report: dict[str, Any]) -> str:
    """One row per scenario: checks passed directly and through the proxy, and which checks did not pass."""
    direct, proxied = report["direct"]["results"], report["through_proxy"]["results"]
    scenarios = sorted({check.split("/", 1)[0] for check in direct} | {check.split("/", 1)[0] for check in proxied})
    lines = [f"# MCP conformance: direct vs through mcpctl's proxy ({report['measured']})", "",
             f"Suite: {report['suite']}. Direct: {report['direct']['passed']}/{report['direct']['checks']} checks "
             f"passed; through the proxy: {report['through_proxy']['passed']}/{report['through_proxy']['checks']}. "
             f"Lost through the proxy: {', '.join(report['lost_through_proxy']) or 'none'}.", "",
             "| scenario | direct passed/failed | proxy passed/failed | not passed (direct → proxy) |",
             "|---|---|---|---|"]
    for scenario in scenarios:
        not_passed = sorted({c.split("/", 1)[1] for c, s in (*direct.items(), *proxied.items())
                             if c.split("/", 1)[0] == scenario and s != "SUCCESS"})
        notes = ", ".join(f"{c} ({direct.get(f'{scenario}/{c}', '-')} → {proxied.get(f'{scenario}/{c}', '-')})"
                          for c in not_passed)
        (dp, df), (pp, pf) = _count(direct, scenario), _count(proxied, scenario)
        lines.append(f"| {scenario} | {dp}/{df} | {pp}/{pf} | {notes} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
