"""The conformance suite's client auth scenarios against mcpctl's remote connection (the driver in
``conformance_auth_driver.py``: the SDK's OAuth client as mcpctl sets it up, tokens in the real keyring,
the authorization answered headlessly), at the latest dated revision and at 2026-07-28."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from toolhive_py.config import Paths

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".cache" / "node-tools" / "node_modules" / ".bin" / "node"
SUITE = ROOT / ".cache" / "node-tools" / "next" / "node_modules" / ".bin" / "conformance"
DRIVER = Path(__file__).with_name("conformance_auth_driver.py")
# Scenarios of extensions mcpctl does not implement (client credentials, enterprise-managed, DPoP, WIF):
# the suite runs and reports them but never scores them.
_EXTENSIONS = ("auth/client-credentials-", "auth/enterprise-", "auth/dpop", "auth/wif-")


@pytest.fixture(autouse=True)
def prerequisites() -> None:
    import keyring
    import keyring.errors

    missing = [] if NODE.exists() and SUITE.exists() else ["the conformance suite (bash scripts/lib/node-tools)"]
    try:
        keyring.get_password("mcpctl-test-probe", "probe")
    except keyring.errors.KeyringError:
        missing.append("a Secret Service keyring (dbus-run-session -- bash scripts/lib/with-keyring)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("missing: " + ", ".join(missing))
        pytest.skip("missing: " + ", ".join(missing))


def _client(tmp_path: Path, *selection: str, driver: Path = DRIVER) -> dict[str, str]:
    """check id (scenario/check) → status of one suite run of ``driver``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "results"
    command = f"env PYTHONPATH={ROOT} {sys.executable} {driver}"
    subprocess.run([str(NODE), str(SUITE), "client", "--command", command, *selection, "--timeout", "90000",  # noqa: S603
                    "-o", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=580, check=False,
                   env={**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    results = {}
    for checks in sorted(out.glob("auth/*/checks.json")):
        scenario = "auth/" + re.sub(r"-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name)
        for check in json.loads(checks.read_text()):
            if check.get("status") != "INFO":
                results[f"{scenario}/{check['id']}"] = str(check["status"])
    return results


def _required_auth_scenarios(revision: str) -> list[str]:
    listing = subprocess.run([str(NODE), str(SUITE), "list", "--client", "--requirements", revision],  # noqa: S603
                             capture_output=True, text=True, timeout=60, check=True).stdout
    required = listing.split("never scored", 1)[0]
    return [s for s in re.findall(r"^\s+- (auth/\S+)$", required, flags=re.M) if not s.startswith(_EXTENSIONS)]


def _assert_all_passed(results: dict[str, str], scenarios: int) -> None:
    failed = {check: status for check, status in results.items() if status != "SUCCESS"}
    reported = {check.rsplit("/", 1)[0] for check in results}
    print(f"conformance auth: {len(results) - len(failed)}/{len(results)} checks, "  # noqa: T201 - the counts
          f"{len(reported)} scenarios")
    assert len(reported) == scenarios, f"scenarios that reported no checks: {sorted(reported)}"
    assert failed == {}


def test_the_auth_suite_passes_at_the_latest_dated_revision(tmp_path: Path) -> None:
    results = _client(tmp_path, "--suite", "auth")
    _assert_all_passed(results, 14)
    names = Paths.from_env()
    from toolhive_py.secrets import open_provider

    stored = open_provider(names, "keyring").list_names()
    assert any(n.startswith("mcpctl-oauth-token.") for n in stored)
    assert any(n.startswith("mcpctl-oauth-client.") for n in stored)


def test_every_auth_scenario_2026_07_28_requires_passes(tmp_path: Path) -> None:
    scenarios = _required_auth_scenarios("2026-07-28")
    assert len(scenarios) >= 25
    results = _client(tmp_path / "suite", "--suite", "auth", "--spec-version", "2026-07-28")
    suite_scenarios = {check.rsplit("/", 1)[0] for check in results}
    for index, scenario in enumerate(s for s in scenarios if s not in suite_scenarios):
        results.update(_client(tmp_path / f"one-{index}", "--scenario", scenario, "--spec-version", "2026-07-28"))
    _assert_all_passed(results, len(scenarios))
