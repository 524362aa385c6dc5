"""``mcpctl scan``: the shadow-AI inventory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import as_text, console, print_json, say

if TYPE_CHECKING:
    from toolhive_py.scan.model import ScanReport
    from toolhive_py.scan.model import ServerFinding as ScanFinding

__all__ = ["register"]

_LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def register(root: typer.Typer) -> None:
    """Attach ``scan`` to the root app."""

    @root.command("scan")
    def scan(
        ctx: typer.Context,
        home: Path | None = typer.Option(None, "--home", help="Scan this home directory (e.g. a mounted disk "
                                         "image) instead of yours."),
        project_dir: list[Path] = typer.Option([], "--project-dir", help="Also search this tree for project "
                                               "configs; repeatable."),
        root: Path | None = typer.Option(None, "--root", help="Read managed (system-wide) configs under this "
                                         "root, e.g. a mounted disk. Default: / for your own home, none with "
                                         "--home."),
        output_format: str = typer.Option("table", "--format", help="table | json | sarif | csv | markdown"),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here."),
        fail_on: str | None = typer.Option(None, "--fail-on", help="Exit 1 when a finding is at this level or "
                                           "worse: critical | high | medium | low | info."),
        processes: bool = typer.Option(True, "--processes/--no-processes", help="Look at running processes."),
        containers: bool = typer.Option(True, "--containers/--no-containers", help="Look at running containers."),
        fix: bool = typer.Option(False, "--fix", help="Show how to migrate what was found (dry run)."),
        apply: bool = typer.Option(False, "--apply", help="With --fix: do it (secrets to the backend, vetted "
                                   "servers re-pointed at managed ones; backups first)."),
        socket: str | None = options.RUNTIME_SOCKET,
        json_output: bool = options.JSON,
    ) -> None:
        """Inventory every MCP server configured or running here: secrets, vetting, pinning, risk."""
        from toolhive_py.errors import UsageError
        from toolhive_py.scan.model import LEVELS, level_at_least
        from toolhive_py.scan.report import FORMATS, render
        from toolhive_py.scan.scanner import ScanOptions, run_scan

        if output_format not in FORMATS:
            raise UsageError(f"Unknown format {output_format!r}.", hint=f"Use one of: {', '.join(FORMATS)}.")
        if fail_on is not None and fail_on not in LEVELS:
            raise UsageError(f"Unknown level {fail_on!r}.", hint=f"Use one of: {', '.join(LEVELS)}.")
        if apply and not fix:
            raise UsageError("--apply goes with --fix.")
        if json_output and (output is not None or output_format not in ("table", "json")):
            raise UsageError("--json prints the report in mcpctl's envelope to stdout; it does not combine with "
                             "--output or another --format.", hint="Use --format json --output FILE for a file.")
        paths = get_state(ctx).paths
        options = ScanOptions(home=(home or Path.home()).expanduser(), project_dirs=project_dir,
                              processes=processes and home is None, containers=containers and home is None,
                              runtime_socket=socket,
                              managed_root=root if root is not None else (Path("/") if home is None else None))
        report = run_scan(paths, options)
        if fix:
            from toolhive_py.scan.fix import apply_plan, plan_fixes, plan_outcome, render_plan

            plan = plan_fixes(paths, report, socket)
            if apply:
                apply_plan(paths, plan)
            status, exit_code = plan_outcome(plan)
            if json_output:
                print_json("scan --fix", [step.to_dict() for step in plan], status=str(status))
            else:
                say(render_plan(plan, applied=apply))
            if exit_code:
                raise typer.Exit(int(exit_code))
            return
        if json_output:
            print_json("scan", report.to_dict())
        elif output_format == "table" and output is None:
            _print_table(report)
        else:
            text = render(report, "markdown" if output_format == "table" else output_format)
            if output is not None:
                output.write_text(text, encoding="utf-8")
                say(f"wrote {output}", err=True)
            else:
                typer.echo(text, nl=False)  # machine formats: no rich rendering (it costs ~0.4 s on 200 servers)
        if fail_on is not None and any(level_at_least(f.level, fail_on) for f in report.findings):
            raise typer.Exit(1)
        if fail_on is not None and not report.complete:  # nothing found where it looked, but it did not look everywhere
            from toolhive_py.errors import ExitCode

            raise typer.Exit(ExitCode.PARTIAL)


def _group(finding: ScanFinding, home: str) -> str:
    """A table per client and file (scope included: ~/.claude.json holds user and per-project servers)."""
    if finding.config_path:
        path = finding.config_path
        shown = "~" + path[len(home):] if home and path.startswith(home.rstrip("/") + "/") else path
        return f"{finding.client} · {finding.scope} · {shown}"
    if finding.source == "process":
        return f"{finding.client or 'unknown client'} · running processes"
    return f"containers · {finding.scope}"


def _print_table(report: ScanReport) -> None:
    from rich.table import Table

    out = console()
    groups: dict[str, list[ScanFinding]] = {}
    for finding in report.findings:
        groups.setdefault(_group(finding, report.home), []).append(finding)
    for title, findings in groups.items():
        # Names, targets and reasons come from the scanned files: escaped so they cannot inject rich markup.
        table = Table(title=as_text(title), title_justify="left", show_edge=False, header_style="bold")
        for column in ("LEVEL", "SERVER", "STATUS", "RUNS", "WHY"):
            table.add_column(column)
        for f in findings:
            table.add_row(f"[{_LEVEL_STYLE[f.level]}]{f.level}[/]", as_text(f.name), f.status, as_text(f.target),
                          as_text("\n".join(r.message for r in f.reasons if r.code != "managed")) or "-")
        out.print(table)
    summary = report.summary()
    out.print(f"{summary['servers']} servers, {summary['secrets']} plaintext secrets, {summary['unvetted']} "
              f"unvetted, {summary['errors']} could not be read."
              + ("" if report.complete else " Incomplete: servers in those places were not seen."), highlight=False)
    for error in report.errors:
        say(f"{error.path}: {error.message}", mark="warn", err=True)
