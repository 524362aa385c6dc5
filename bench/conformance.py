"""Run the MCP conformance suite's server scenarios against the conformance server directly and through
mcpctl's proxy, and write both results to bench/results/conformance.json.

    bash scripts/lib/node-tools && .venv/bin/python bench/conformance.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

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
    out = ROOT / "bench" / "results" / "conformance.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
