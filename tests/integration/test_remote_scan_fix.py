"""`scan --fix --apply` on a VS Code config whose remote entry holds a GitHub token in plain text: the entry
becomes a managed remote workload of the same URL, the token moves into the keyring, and the entry (now
pointing at the local proxy) still answers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.integration.remote_server import TlsFiles, make_tls, serve_remote
from toolhive_py.config import Paths

PAT = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8"  # the shape scan detects as a GitHub token


def _steps(data: Any) -> list[dict[str, Any]]:
    steps = data if isinstance(data, list) else (data or {}).get("plan", [])
    return [s for s in steps if isinstance(s, dict)]


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, TlsFiles]]:
    directory = tmp_path / "tls"
    directory.mkdir()
    tls = make_tls(directory)
    with serve_remote(tls, tmp_path / "remote.log", token=PAT) as base:
        yield base + "/mcp", tls


def test_scan_fix_turns_a_plaintext_remote_token_into_a_managed_remote_workload(
        keyring_paths: Paths, remote: tuple[str, TlsFiles], tmp_path: Path) -> None:
    url, tls = remote
    assert run_cli("config", "set", "build.ca_bundle", str(tls.ca)).exit_code == 0
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "Code" / "User" / "mcp.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"servers": {"github": {
        "type": "http", "url": url, "headers": {"Authorization": f"Bearer {PAT}"}}}}, indent=2))
    planned = run_cli("scan", "--fix", "--json")
    assert planned.exit_code == 0, planned.stderr
    actions = [s["action"] for s in _steps(planned.json()["data"]) if s["server"] == "github"]
    assert actions == ["move-secret", "run-remote", "repoint"]
    applied = run_cli("scan", "--fix", "--apply", "--json")
    try:
        assert applied.exit_code == 0, applied.stdout + applied.stderr
        assert "ghp_" not in config.read_text()
        entry = json.loads(config.read_text())["servers"]["github"]
        assert entry["url"].startswith("http://127.0.0.1:")
        called = run_cli("tools", "call", "github", "echo", "--args", '{"text": "fixed"}')
        assert called.exit_code == 0, called.stderr
        assert "remote:fixed" in called.stdout
        assert "auth=yes" in (tmp_path / "remote.log").read_text()
        home = Path(os.environ["HOME"])
        holding = [p for p in home.rglob("*") if p.is_file() and PAT.encode() in p.read_bytes()
                   and "backups" not in p.parts]
        assert holding == []
        for result in (planned, applied, called):
            assert PAT not in result.stdout + result.stderr
    finally:
        run_cli("rm", "github")
