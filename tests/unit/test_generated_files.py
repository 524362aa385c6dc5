"""Generated files (completions, CLI reference) are fresh, and completions really complete in a real shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_completions_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-completions"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _complete_in_bash(*words: str) -> list[str]:
    """Run the checked-in bash completion function in a real bash, as TAB would."""
    quoted = " ".join(words)
    script = (
        f"source {ROOT / 'completions' / 'mcpctl.bash'}\n"
        f"COMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n_mcpctl_completion mcpctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completion_completes_a_subcommand() -> None:
    assert _complete_in_bash("mcpctl", "reg") == ["registry"]


def test_bash_completion_completes_a_nested_subcommand() -> None:
    assert _complete_in_bash("mcpctl", "config", "un") == ["unset"]


def test_cli_reference_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-cli-docs"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_client_matrix_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-clients-doc"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
