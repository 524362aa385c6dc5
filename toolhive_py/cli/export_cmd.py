"""``mcpctl export``: parse, make one core call (``toolhive_py.export``), render the files or where they went."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import server_names, workload_names
from toolhive_py.cli.output import render, say
from toolhive_py.errors import UsageError
from toolhive_py.runtime.limits import DEFAULT_CPUS, DEFAULT_MEMORY

if TYPE_CHECKING:
    from toolhive_py.export import ExportResult

__all__ = ["register"]

_FORMATS = ("kubernetes", "toolhive", "compose")


def _names(incomplete: str) -> list[str]:
    """Workloads first (the default), then registry servers (for --entry)."""
    found = workload_names(incomplete)
    return found + [name for name in server_names(incomplete) if name not in found]


def _show(result: ExportResult) -> None:
    if result.written:
        for path in result.written:
            say(f"wrote {path}", mark="ok")
    else:
        sys.stdout.write("---\n".join(f.content for f in result.files))
        sys.stdout.flush()
    for note in result.notes:
        say(note, mark="warning", err=True)


def register(root: typer.Typer) -> None:
    """Attach ``export`` to the root app."""

    @root.command("export")
    def export(
        ctx: typer.Context,
        names: list[str] = typer.Argument(..., help="Workload names (or registry servers with --entry).",
                                          autocompletion=_names),
        fmt: str = typer.Option("kubernetes", "--format", "-f", help="kubernetes | toolhive | compose"),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write the files into DIR instead of "
                                           "printing them.", file_okay=False),
        entry: bool = typer.Option(False, "--entry", help="Export registry entries as `run` would start them, "
                                   "without running them."),
        volume: list[str] = typer.Option([], "--volume", "-v", help="With --entry: HOST:CONTAINER[:rw], as for run."),
        secret: list[str] = typer.Option([], "--secret", help="With --entry: NAME[:ENV], as for run; repeatable."),
        env: list[str] = typer.Option([], "-e", "--env", help="With --entry: KEY=VALUE (not for secrets)."),
        permission_profile: str = typer.Option("default", "--permission-profile",
                                               help="With --entry: none | network | FILE; default: the entry's."),
        memory: str = typer.Option(DEFAULT_MEMORY, "--memory", help="With --entry: the memory limit."),
        cpus: float = typer.Option(DEFAULT_CPUS, "--cpus", help="With --entry: the CPU limit."),
        unvetted: bool = typer.Option(False, "--unvetted", help="With --entry: allow an unsigned registry's entry."),
        secret_backend: str | None = typer.Option(None, "--secret-backend", help="With --entry: where the secrets "
                                                  "live (vault adds an ExternalSecret)."),
        socket: str | None = options.RUNTIME_SOCKET,
        json_output: bool = options.JSON,
    ) -> None:
        """Export workloads (or registry entries) to Kubernetes, ToolHive's operator or compose, hardened as run."""
        from toolhive_py import export as exporting
        from toolhive_py.runtime.launch import parse_run_options

        if fmt not in _FORMATS:
            raise UsageError(f"Invalid --format {fmt!r}.", hint=f"Use one of: {', '.join(_FORMATS)}.")
        run_only = {"--volume": volume, "--secret": secret, "--env": env, "--secret-backend": secret_backend,
                    "--unvetted": unvetted, "--permission-profile": permission_profile != "default",
                    "--memory": memory != DEFAULT_MEMORY, "--cpus": cpus != DEFAULT_CPUS}
        if not entry and (given := [flag for flag, value in run_only.items() if value]):
            raise UsageError(f"{', '.join(given)} only apply with --entry.",
                             hint="A running workload is exported as it was created; add --entry to export a "
                                  "registry entry with these options.")
        paths = get_state(ctx).paths
        chosen = exporting.ExportFormat(fmt)
        if entry:
            run_options = parse_run_options(
                name=None, secrets=secret, env=env, env_file=None, volumes=volume,
                permission_profile=permission_profile, pull="never", memory=memory, cpus=cpus, args=(), port=None,
                tools=None, deny_tools=None, rate_limit=None)
            result = exporting.export_entries(paths, names, run_options, fmt=chosen, unvetted=unvetted,
                                              secret_backend=secret_backend, output_dir=output)
        else:
            result = exporting.export_workloads(paths, names, fmt=chosen, socket=socket, output_dir=output)
        render("export", result, json_output=json_output, human=lambda: _show(result))
