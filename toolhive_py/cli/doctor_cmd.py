"""``mcpctl doctor``: diagnose the setup; every failed check prints its fix."""

from __future__ import annotations

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import print_json, say

__all__ = ["register"]


def register(root: typer.Typer) -> None:
    @root.command("doctor")
    def doctor(ctx: typer.Context, socket: str | None = options.RUNTIME_SOCKET,
               json_output: bool = options.JSON) -> None:
        """Check engine, keyring, registries and proxies; exit 1 when something needs fixing."""
        from toolhive_py.doctor import run_checks

        checks = run_checks(get_state(ctx).paths, socket_flag=socket)
        failed = [c for c in checks if c.status == "fail"]
        if json_output:
            print_json("doctor", {"checks": [c.to_dict() for c in checks]}, status="error" if failed else "ok")
        else:
            for check in checks:
                say(f"{check.area:9} {check.name}: {check.detail}", mark=check.status)
                if check.fix and check.status != "ok":
                    say(f"    fix: {check.fix}")
            say("All good." if not failed else f"{len(failed)} problem(s) found.")
        if failed:
            raise typer.Exit(1)
