"""Time `mcpctl scan` on a realistic home: every catalog client configured, two servers each, plus a
project tree of 200 repositories (a few with MCP configs). Target: ≤ 0.5 s for the config scan.

    .venv/bin/python bench/bench_scan.py [--runs 10]

Measures the whole CLI (process start-up included) with processes and containers off, then the
in-process scan, then the same with process discovery on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.scan_homes import build_home  # noqa: E402
from toolhive_py.config import Paths  # noqa: E402
from toolhive_py.scan.scanner import ScanOptions, run_scan  # noqa: E402


def project_tree(root: Path) -> Path:
    for index in range(200):
        repo = root / "src" / f"repo-{index:03d}"
        (repo / "node_modules" / "dep").mkdir(parents=True)
        (repo / "src").mkdir()
        for name in range(5):
            (repo / "src" / f"file{name}.py").write_text("x = 1\n")
        if index % 20 == 0:
            (repo / ".vscode").mkdir()
            (repo / ".vscode" / "mcp.json").write_text('{"servers": {"db": {"type": "stdio", "command": "npx", '
                                                       '"args": ["-y", "mcp-db@1.0.0"]}}}')
    return root / "src"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home, _ = build_home(root, "linux")
        projects = project_tree(root)
        env = {**os.environ, "MCPCTL_HOME": str(root / "mcpctl")}
        exe = str(Path(sys.executable).with_name("mcpctl"))
        cli = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([exe, "scan", "--home", str(home), "--project-dir", str(projects), "--format", "json",  # noqa: S603
                            "--no-processes", "--no-containers"], env=env, check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
        os.environ["MCPCTL_HOME"] = env["MCPCTL_HOME"]
        paths = Paths.from_env()
        inproc, with_processes = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            report = run_scan(paths, ScanOptions(home=home, project_dirs=[projects], processes=False,
                                                 containers=False, include_managed_scope=False))
            inproc.append(time.perf_counter() - start)
            start = time.perf_counter()
            run_scan(paths, ScanOptions(home=home, project_dirs=[projects], processes=True, containers=False,
                                        include_managed_scope=False))
            with_processes.append(time.perf_counter() - start)
        print(f"home: {len(report.findings)} servers found, project tree: 200 repos")  # noqa: T201
        for label, samples in (("mcpctl scan (CLI, configs)", cli), ("run_scan in-process (configs)", inproc),
                               ("run_scan + process table", with_processes)):
            print(f"{label:32} median {statistics.median(samples) * 1000:7.1f} ms  "  # noqa: T201
                  f"max {max(samples) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
