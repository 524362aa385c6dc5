"""CLI start-up: wall time of `mcpctl --help` and `mcpctl --version` in fresh processes.

Run: .venv/bin/python bench/bench_cli.py [--runs N]. Target on the 2-core dev machine: --help ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _mcpctl() -> str:
    beside = Path(sys.executable).parent / "mcpctl"
    return str(beside) if beside.exists() else (shutil.which("mcpctl") or "mcpctl")


def time_command(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache once
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    exe = _mcpctl()
    print(f"{'command':<24} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
    for label, argv in (("mcpctl --help", [exe, "--help"]), ("mcpctl --version", [exe, "--version"])):
        samples = sorted(time_command(argv, args.runs))
        p90 = samples[int(0.9 * (len(samples) - 1))]
        print(f"{label:<24} {statistics.median(samples):>10.1f} {p90:>8.1f} {samples[0]:>8.1f}")


if __name__ == "__main__":
    main()
