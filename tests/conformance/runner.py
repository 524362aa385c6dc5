"""Run the official MCP conformance suite's server scenarios against a URL, and start the conformance
server directly (Streamable HTTP) or behind mcpctl's proxy (stdio backend). Shared by the test and
bench/conformance.py."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "node-tools" / "node_modules"
NODE = TOOLS / ".bin" / "node"
SERVER = Path(__file__).with_name("server.py")
# The suite's 2026-07-28 prerelease, beside the stable one (scripts/lib/node-tools).
NEXT = ROOT / ".cache" / "node-tools" / "next" / "node_modules" / ".bin" / "conformance"
# mcp 1.x, for a server of the session era only (scripts/lib/session-era-venv).
SESSION_ERA_PYTHON = ROOT / ".cache" / "session-era-venv" / "bin" / "python"
SESSION_ERA_SERVER = Path(__file__).with_name("session_era_server.py")


def tools_installed() -> bool:
    return NODE.exists() and (TOOLS / ".bin" / "conformance").exists()


def node_env() -> dict[str, str]:
    """The environment for Node tools: our Node 22 first on PATH, since some of them spawn a bare `node`."""
    return {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], accept: tuple[int, ...], timeout: float = 30) -> None:
    """Until `url` answers with a status in `accept`: the proxy's /health/ready, or the bare server's /mcp."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code in accept:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} never answered {accept}")


@contextmanager
def serving(through_proxy: bool, *, backend: Sequence[str] = (sys.executable, str(SERVER)),
            options: Sequence[str] = ()) -> Iterator[str]:
    """The conformance server's URL: directly over HTTP, or via the proxy (with ``options``) in front of it (or
    of ``backend``) over stdio."""
    port = free_port()
    if through_proxy:
        command = [sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--log-level", "WARNING",
                   *options, "--stdio", "--", *backend]
    else:
        command = [sys.executable, str(SERVER), "--transport", "streamable-http", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        # The SDK server has no health endpoint; a GET on /mcp without a session answers 400 once it listens.
        _wait(f"{base}/health/ready" if through_proxy else f"{base}/mcp", process, accept=(200,) if through_proxy
              else (400, 405, 406))
        yield f"{base}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _conformance(*args: str, timeout: float, suite: Path = TOOLS / ".bin" / "conformance") -> str:
    with tempfile.TemporaryDirectory() as workdir:
        completed = subprocess.run([str(NODE), str(suite), *args],  # noqa: S603
                                   cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False)
    return completed.stdout


def server_scenarios() -> list[str]:
    listing = _conformance("list", timeout=60).split("Client scenarios", 1)[0]
    return re.findall(r"^\s+- (\S+) \[", listing, flags=re.M)


def _run_scenario(url: str, scenario: str, timeout: float) -> dict[str, str]:
    output = _conformance("server", "--url", url, "--scenario", scenario, "--verbose", timeout=timeout)
    match = re.search(r"^\[$.*?^\]$", output, flags=re.M | re.S)
    if match is None:
        return {f"{scenario}/(no checks reported)": "FAILURE"}
    return {f"{scenario}/{check['id']}": str(check["status"]) for check in json.loads(match.group())
            if check.get("status") != "INFO"}


def run_suite(url: str, timeout: float = 120) -> dict[str, str]:
    """check id (scenario/check) → SUCCESS | FAILURE | WARNING | …, one suite run per server scenario."""
    results: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for found in pool.map(lambda scenario: _run_scenario(url, scenario, timeout), server_scenarios()):
            results.update(found)
    return dict(sorted(results.items()))


def run_requirements(url: str, revision: str, *, scenarios: Sequence[str] = (), timeout: float = 600) -> dict[str, str]:
    """check id (scenario/check) → status for the scenarios a revision requires (``--requirements``), with the
    prerelease suite; the extensions it also runs (tasks, SEP-2640) are left out, as the suite does in its score.
    With ``scenarios``, just those (each run on its own, in order)."""
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as out:
        runs = [["--scenario", s, "--spec-version", revision] for s in scenarios] or [["--requirements", revision]]
        for selection in runs:
            _conformance("server", "--url", url, *selection, "-o", out, timeout=timeout, suite=NEXT)
        for checks in sorted(Path(out).glob("server-*/checks.json")):
            scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name)
            if scenario.startswith(("tasks-", "sep-2640-")):
                continue
            for check in json.loads(checks.read_text()):
                if check.get("status") != "INFO":
                    results[f"{scenario}/{check['id']}"] = str(check["status"])
    return dict(sorted(results.items()))
