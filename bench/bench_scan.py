"""Time `mcpctl scan` on a realistic home: 30 client configs holding 200 servers (every catalog client's
user config with two servers each, plus 13 project configs inside a tree of 200 repositories with
node_modules to skip). Target: ≤ 0.5 s for the whole CLI.

    .venv/bin/python bench/bench_scan.py [--runs 10] [--one-file 100000]

Measures the whole CLI (process start-up included) with processes and containers off, then the
in-process scan, then the same with process discovery on, then the CLI as a user runs it on this machine
(its own home, the process table and the containers of every engine that answers). ``--one-file N``
instead times one config holding N servers (in-process, once): linear up to the per-file cap, which
stops reading there and reports the file as truncated.
"""

from __future__ import annotations

import argparse
import json
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
from toolhive_py.clients.catalog import CLIENTS  # noqa: E402
from toolhive_py.config import Paths  # noqa: E402
from toolhive_py.scan.scanner import ScanOptions, run_scan  # noqa: E402

PROJECT_CONFIGS = (".mcp.json", ".vscode/mcp.json", ".cursor/mcp.json")
PROJECT_KEYS = {".mcp.json": "mcpServers", ".vscode/mcp.json": "servers", ".cursor/mcp.json": "mcpServers"}


def project_tree(root: Path, servers: int) -> Path:
    """200 repositories; 13 of them hold an MCP config, ``servers`` servers in all, half with a plaintext token."""
    holders = list(range(0, 200, 16))[:13]
    counts = [servers // len(holders) + (1 if i < servers % len(holders) else 0) for i in range(len(holders))]
    for index in range(200):
        repo = root / "src" / f"repo-{index:03d}"
        (repo / "node_modules" / "dep").mkdir(parents=True)
        (repo / "src").mkdir()
        for name in range(5):
            (repo / "src" / f"file{name}.py").write_text("x = 1\n")
        if index in holders:
            count = counts[holders.index(index)]
            rel = PROJECT_CONFIGS[index % len(PROJECT_CONFIGS)]
            entries = {f"srv-{n}": {"command": "npx", "args": ["-y", f"mcp-tool-{n}@1.0.{n}"],
                                    "env": {"TOOL_TOKEN": "ghp_" + f"{n:04d}" * 9 if n % 2 else "${env:TOOL_TOKEN}"}}
                       for n in range(count)}
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(json.dumps({PROJECT_KEYS[rel]: entries}, indent=2))
    return root / "src"


def one_file(root: Path, servers: int) -> int:
    home = root / "one-file"
    (home / ".cursor").mkdir(parents=True)
    entries = {f"srv-{n}": {"command": "npx", "args": ["-y", f"mcp-tool-{n}@1.0.{n}"]} for n in range(servers)}
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": entries}, indent=2))
    os.environ["MCPCTL_HOME"] = str(root / "mcpctl")
    start = time.perf_counter()
    report = run_scan(Paths.from_env(), ScanOptions(home=home, processes=False, containers=False, managed_root=None))
    elapsed = time.perf_counter() - start
    print(f"one file of {servers} servers: {len(report.findings)} scanned in {elapsed:.2f} s; "  # noqa: T201
          f"errors: {[e.message for e in report.errors]}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--one-file", type=int, default=0, metavar="N", help="time one config of N servers")
    args = parser.parse_args()
    if args.one_file:
        with tempfile.TemporaryDirectory() as tmp:
            return one_file(Path(tmp), args.one_file)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home, _ = build_home(root, "linux")
        home_servers = 2 * len(CLIENTS)
        projects = project_tree(root, 200 - home_servers)
        env = {**os.environ, "MCPCTL_HOME": str(root / "mcpctl")}
        exe = str(Path(sys.executable).with_name("mcpctl"))
        cli, machine = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([exe, "scan", "--home", str(home), "--project-dir", str(projects), "--format", "json",  # noqa: S603
                            "--no-processes", "--no-containers"], env=env, check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
            # This machine as a user would scan it: its own home plus processes and every engine's containers.
            start = time.perf_counter()
            subprocess.run([exe, "scan", "--project-dir", str(projects), "--format", "json"],  # noqa: S603
                           env=env, check=True, capture_output=True)
            machine.append(time.perf_counter() - start)
        os.environ["MCPCTL_HOME"] = env["MCPCTL_HOME"]
        paths = Paths.from_env()
        inproc, with_processes = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            report = run_scan(paths, ScanOptions(home=home, project_dirs=[projects], processes=False,
                                                 containers=False, managed_root=None))
            inproc.append(time.perf_counter() - start)
            start = time.perf_counter()
            run_scan(paths, ScanOptions(home=home, project_dirs=[projects], processes=True, containers=False,
                                        managed_root=None))
            with_processes.append(time.perf_counter() - start)
        configs = len({f.config_path for f in report.findings})
        print(f"{configs} configs, {len(report.findings)} servers found, project tree of 200 repos")  # noqa: T201
        for label, samples in (("mcpctl scan (CLI, configs)", cli), ("run_scan in-process (configs)", inproc),
                               ("run_scan + process table", with_processes),
                               ("mcpctl scan (CLI, this machine)", machine)):
            print(f"{label:32} median {statistics.median(samples) * 1000:7.1f} ms  "  # noqa: T201
                  f"max {max(samples) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
