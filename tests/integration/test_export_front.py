"""The proxy front `mcpctl export --format kubernetes` writes for a stdio server runs as written: the real proxy
process takes its exported arguments, starts its ``kubectl attach`` command and serves MCP through it. A
``kubectl`` on PATH that records its arguments and runs the routing test server stands in for the cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.integration.conftest import ROUTING_SERVER
from tests.integration.helpers import open_session, sse_messages
from toolhive_py.config import Paths
from toolhive_py.export import ExportFormat, export_entries
from toolhive_py.proxy.supervisor import free_port
from toolhive_py.runtime.launch import RunOptions


def _front_args() -> list[str]:
    (exported,) = export_entries(Paths.from_env(), ["github"], RunOptions(), fmt=ExportFormat.KUBERNETES).files
    deployment = next(d for d in yaml.safe_load_all(exported.content)
                      if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "github-proxy")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_the_exported_proxy_front_serves_the_server_it_attaches_to(tmp_path: Path) -> None:
    args = _front_args()
    port = free_port()
    # Only what differs between a pod and this machine: the port, and where state and audit go.
    swap = {"8080": str(port), "/tmp/state": str(tmp_path / "state"), "/dev/stdout": str(tmp_path / "audit.jsonl")}
    argv = [swap.get(a, a) if i and args[i - 1] in ("--port", "--state-dir", "--audit-log") else a
            for i, a in enumerate(args)]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "kubectl.args"}\n'
                       f"exec {sys.executable} {ROUTING_SERVER}\n")
    kubectl.chmod(0o755)
    log = (tmp_path / "proxy.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "toolhive_py.proxy", *argv], stdout=log, stderr=log,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "proxy.log").read_text()
            try:
                if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the exported proxy never became ready:\n" + (tmp_path / "proxy.log").read_text())
        headers = open_session(base)
        listed = httpx.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)
        assert listed.status_code == 200, listed.text
        (answer,) = [m for m in sse_messages(listed.text) if m.get("id") == 2] or [listed.json()]
        assert answer["result"]["tools"]
        assert (tmp_path / "kubectl.args").read_text().split() == ["attach", "--quiet", "-i", "-c", "server",
                                                                    "deployment/github"]
        assert (tmp_path / "audit.jsonl").read_text().count('"tools/list"') >= 1
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
