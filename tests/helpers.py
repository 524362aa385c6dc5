"""Drive the CLI in-process, the way a user would from a shell."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from toolhive_py.cli.app import app
from toolhive_py.cli.output import reset_consoles

__all__ = ["CLIResult", "run_cli"]


@dataclass(frozen=True)
class CLIResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> CLIResult:  # noqa: A002 - mirrors CliRunner
    """Run ``mcpctl ARGS`` in-process and return its exit code and both streams."""
    reset_consoles()
    runner = CliRunner()
    result = runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
    return CLIResult(result.exit_code, result.stdout, result.stderr)
