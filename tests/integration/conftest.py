"""A real proxy process in front of a real local stdio server: the proxy's front and multiplexer, tested
without a container engine (the engine path is covered in tests/e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from toolhive_py.proxy.supervisor import free_port

ROUTING_SERVER = Path(__file__).parents[1] / "fixtures" / "servers" / "routing_server.py"


def start_proxy(tmp_path: Path, *options: str, server: Path = ROUTING_SERVER,
                env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run a proxy with ``options`` (policy flags) in front of the routing test server (or ``server``, a
    stdio server script), with ``env`` added to its environment; yields its base URL
    (``http://127.0.0.1:PORT``) once it is ready, and stops it afterwards. Its audit log is
    ``tmp_path / "audit.jsonl"``."""
    port = free_port()
    log = (tmp_path / "proxy.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "toolhive_py.proxy", "--port", str(port), "--name", "routing",
         "--audit-log", str(tmp_path / "audit.jsonl"), *options,
         "--stdio", "--", sys.executable, str(server)],
        stdout=log, stderr=log, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "proxy.log").read_text()
            time.sleep(0.1)
        else:
            raise AssertionError("proxy never became ready:\n" + (tmp_path / "proxy.log").read_text())
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[str]:
    """Base URL of a proxy (``http://127.0.0.1:PORT``) in front of the routing test server."""
    yield from start_proxy(tmp_path)


@pytest.fixture
def guarded_proxy(tmp_path: Path) -> Iterator[str]:
    """Like ``proxy``, with a policy: ``crash`` denied, ``echo`` limited to 2 calls a minute."""
    yield from start_proxy(tmp_path, "--deny-tools", "crash", "--rate-limit", "2/m")

