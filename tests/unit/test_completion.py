"""Dynamic shell completion of server, workload and secret names, through the real completion protocol."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import run_cli

MCPCTL = str(Path(sys.executable).with_name("mcpctl"))


def complete(words: str, extra_env: dict[str, str] | None = None) -> list[str]:
    env = {**os.environ, "_MCPCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)), **(extra_env or {})}
    result = subprocess.run([MCPCTL], env=env, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    return result.stdout.split()


def test_server_names_come_from_the_signed_registry() -> None:
    assert complete("mcpctl run git") == ["git", "github", "github-remote", "gitlab"]
    assert "default/github" in complete("mcpctl info default/gi")


def test_workload_names_come_from_the_state_directory(isolated_home: Path) -> None:
    workloads = isolated_home / ".local" / "state" / "mcpctl" / "workloads"
    for name in ("alpha", "beta"):
        (workloads / name).mkdir(parents=True)
    assert complete("mcpctl logs ") == ["alpha", "beta"]
    assert complete("mcpctl stop al") == ["alpha"]


def test_secret_names_come_from_the_secret_backend() -> None:
    assert run_cli("secret", "backend", "env").exit_code == 0
    assert complete("mcpctl secret get GH", {"MCPCTL_SECRET_GH_TOKEN": "x", "MCPCTL_SECRET_OTHER": "y"}) == ["GH_TOKEN"]
