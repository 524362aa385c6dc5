"""`mcpctl upgrade --check` against a real running workload: a private registry moves its entry to a newer
pinned version with a new secret env var, and the check names the workload, both versions and the change."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Engine
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli
from tests.unit.registry_fixtures import write_signed
from toolhive_py.registry import minisign

NEWER = MCP_SERVER_IMAGE.rsplit(":", 1)[0] + ":2.0.0"


def test_upgrade_check_lists_a_workload_whose_entry_moved(engine: Engine, workload: str, tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    (tmp_path / "u.pub").write_text(pair.public.to_file_text())
    document = write_signed(tmp_path / "u.json", {"demo": {"description": "d", "image": MCP_SERVER_IMAGE}},
                            pair.secret)
    assert run_cli("registry", "add", "u", str(document), "--pubkey", str(tmp_path / "u.pub")).exit_code == 0
    started = run_cli("run", "u/demo", "--name", workload, "--secret-backend", "env", "--runtime-socket",
                      engine.base_url)
    assert started.exit_code == 0, started.stderr
    unchanged = run_cli("upgrade", "--check", "--json", "--runtime-socket", engine.base_url)
    assert unchanged.exit_code == 0, unchanged.stderr
    assert [c for c in unchanged.json()["data"] if c["name"] == workload] == []

    write_signed(document, {"demo": {"description": "d", "image": NEWER,
                                     "env_vars": [{"name": "DEMO_TOKEN", "secret": True}]}}, pair.secret, version=2)
    moved = run_cli("upgrade", "--check", "--json", "--runtime-socket", engine.base_url)
    assert moved.exit_code == 0, moved.stderr
    [check] = [c for c in moved.json()["data"] if c["name"] == workload]
    assert check == {"name": workload, "server": "u/demo", "running": MCP_SERVER_IMAGE, "pinned": NEWER,
                     "changes": [f"version {MCP_SERVER_IMAGE.rsplit(':', 1)[1]} → 2.0.0",
                                 "new secret env vars: DEMO_TOKEN"]}
    table = run_cli("upgrade", "--check", "--runtime-socket", engine.base_url)
    assert workload in table.stdout
    assert "DEMO_TOKEN" in table.stdout


