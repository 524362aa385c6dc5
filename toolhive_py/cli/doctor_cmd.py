"""``mcpctl doctor``: diagnose the setup; every failed check prints its fix."""

from __future__ import annotations

import typer

from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import console, print_json

__all__ = ["register"]

_MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}


def register(root: typer.Typer) -> None:
    @root.command("doctor")
    def doctor(ctx: typer.Context,
               socket: str | None = typer.Option(None, "--runtime-socket", envvar="MCPCTL_RUNTIME_SOCKET",
                                                 help="Engine socket/URL (overrides setting and env)."),
               json_output: bool = typer.Option(False, "--json", help="Print a JSON envelope.")) -> None:
        """Check engine, keyring, registries and proxies; exit 1 when something needs fixing."""
        from toolhive_py.doctor import run_checks

        checks = run_checks(get_state(ctx).paths, socket_flag=socket)
        failed = [c for c in checks if c.status == "fail"]
        if json_output:
            print_json("doctor", {"checks": [c.to_dict() for c in checks]}, status="error" if failed else "ok")
        else:
            out = console()
            for check in checks:
                out.print(f"{_MARKS[check.status]} {check.area:9} {check.name}: {check.detail}", highlight=False)
                if check.fix and check.status != "ok":
                    out.print(f"    fix: {check.fix}", highlight=False)
            out.print("All good." if not failed else f"{len(failed)} problem(s) found.", highlight=False)
        if failed:
            raise typer.Exit(1)
