"""`mcpctl run` time-to-running against a plain `docker run` of the same image, and `mcpctl list` with
20 workloads. Needs an engine and the test image (run `bash scripts/test` once first).

Run: .venv/bin/python bench/bench_run.py [--runs N] [--socket unix:///var/run/docker.sock]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE = "mcpctl-test/mcp-server:latest"


def _mcpctl() -> str:
    beside = Path(sys.executable).parent / "mcpctl"
    return str(beside) if beside.exists() else (shutil.which("mcpctl") or "mcpctl")


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--socket", default="unix:///var/run/docker.sock")
    args = parser.parse_args()
    exe = _mcpctl()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MCPCTL_HOME": home, "MCPCTL_RUNTIME_SOCKET": args.socket}
        docker_env = {**env, "DOCKER_HOST": args.socket}
        ours, plain = [], []
        for i in range(args.runs):
            ours.append(_timed([exe, "run", IMAGE, "--unvetted", "--name", f"bench-{i}"], env))
            plain.append(_timed(["docker", "run", "-d", "-i", "--name", f"bench-plain-{i}", IMAGE], docker_env))
        for i in range(args.runs, 20):
            subprocess.run([exe, "run", IMAGE, "--unvetted", "--name", f"bench-{i}"], check=True,
                           capture_output=True, env=env)
        listing = [_timed([exe, "list"], env) for _ in range(args.runs)]
        # Only our own: `rm --all` would take every mcpctl workload on the engine, other homes' too.
        subprocess.run([exe, "rm", *[f"bench-{i}" for i in range(20)]], capture_output=True, env=env)
        subprocess.run(["docker", "rm", "-f", *[f"bench-plain-{i}" for i in range(args.runs)]],
                       capture_output=True, env=docker_env)
    print(f"{'what':<34} {'median ms':>10} {'min ms':>8}")
    for label, samples in (("mcpctl run (to running)", ours), ("docker run -d (same image)", plain),
                           ("mcpctl list (20 workloads)", listing)):
        print(f"{label:<34} {statistics.median(samples):>10.1f} {min(samples):>8.1f}")


if __name__ == "__main__":
    main()
