"""End to end on 127.0.0.1 with OAuth, as a person uses mcpctl: the conformance suite's OAuth-protected server
and authorization server (scenario auth/metadata-default), `mcpctl run URL`, `mcpctl auth login --headless`,
a tool called through the workload's proxy with the token only mcpctl holds, `mcpctl auth logout` and the
401 that then names `mcpctl auth login NAME` (``conformance_cli_driver.py`` does the steps while the suite's
servers run; the suite judges the OAuth exchange)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_remote_conformance import DRIVER, _client, prerequisites

__all__ = ["prerequisites"]

CLI_DRIVER = DRIVER.with_name("conformance_cli_driver.py")


def test_a_remote_workload_signs_in_with_oauth_and_serves_tools_through_its_proxy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = tmp_path / "report.json"
    monkeypatch.setenv("MCPCTL_DRIVER_REPORT", str(report))
    results = _client(tmp_path / "suite", "--scenario", "auth/metadata-default", driver=CLI_DRIVER)
    steps = json.loads(report.read_text())
    failed = {check: status for check, status in results.items() if status != "SUCCESS"}
    assert results, steps
    assert failed == {}, steps
    for step in ("run", "login", "status", "tools", "call", "logout", "rm"):
        assert steps[step]["rc"] == 0, (step, steps[step])
    status = json.loads(steps["status"]["stdout"])["data"]
    assert (status["auth"], status["signed_in"]) == ("oauth", True)
    assert status["issuer"].startswith("http://localhost:")
    assert json.loads(steps["tools"]["stdout"])["data"]["tools"]
    assert steps["after_logout"]["rc"] != 0
    assert "mcpctl auth login conf" in steps["after_logout"]["stderr"]

    held = steps["secrets"]
    assert held["tokens"]
    assert held["proxy_running"]
    assert not held["exposed"]
    home = Path(os.environ["HOME"])
    for token in held["tokens"]:
        assert [p for p in home.rglob("*") if p.is_file() and token.encode() in p.read_bytes()] == []
        for step in steps.values():
            assert token not in step["stdout"] + step["stderr"]
