"""``mcpctl tools``: a workload's tools through its proxy (list, call) and their pins (diff, approve).

Everything a server wrote (names, descriptions, results) is shown with its invisible characters spelled
out as ``\\uXXXX``: a description that hides text in zero-width, tag or bidirectional characters must not
hide it from the person reviewing it.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import TYPE_CHECKING, Final

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import print_table, render, say

if TYPE_CHECKING:
    from toolhive_py.integrity.screening import ScreenFinding
    from toolhive_py.workload_tools import PendingChange

__all__ = ["app"]

app = typer.Typer(help="A workload's tools through its proxy: list, call, and approve changed tools.",
                  no_args_is_help=True)

_INVISIBLE: Final = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_LEVELS: Final = ("critical", "high", "medium", "low", "info")
_DESCRIPTION_WIDTH: Final = 100


def _escape(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # a JSON-valid escape needs the surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _visible(text: str, *, keep: str = "") -> str:
    """``text`` with control, format (zero-width, bidi, tag), private-use and unassigned characters written as
    JSON escapes, so they show instead of acting; inside a JSON string the result still means the same."""
    return "".join(_escape(c) if c not in keep and unicodedata.category(c) in _INVISIBLE else c for c in text)


def _summary(description: str) -> str:
    first = _visible(description.strip().split("\n", 1)[0])
    more = len(first) > _DESCRIPTION_WIDTH or "\n" in description.strip()
    return first[:_DESCRIPTION_WIDTH] + ("…" if more else "")


def _screening(findings: tuple[ScreenFinding, ...]) -> str:
    """The worst level's codes, and how many findings more: ``critical: bidi-control (+1)``."""
    if not findings:
        return "-"
    worst = min(findings, key=lambda f: _LEVELS.index(f.level) if f.level in _LEVELS else len(_LEVELS)).level
    codes = sorted({f.code for f in findings if f.level == worst})
    rest = sum(1 for f in findings if f.level != worst)
    return f"{worst}: {', '.join(codes)}" + (f" (+{rest})" if rest else "")


def _show_changes(changes: tuple[PendingChange, ...]) -> None:
    from toolhive_py.workload_tools import change_lines

    for change in changes:
        say(f"{_visible(change.tool)}: {change.kind}", bold=True)
        for finding in change.findings:
            say(f"  screening {finding.level}: {finding.code}: {_visible(finding.message)}", mark="warn")
        for line in change_lines(change):
            say(f"  {line}")


@app.command("list")
def list_(ctx: typer.Context, name: str = options.WORKLOAD, socket: str | None = options.RUNTIME_SOCKET,
          json_output: bool = options.JSON) -> None:
    """List a workload's tools through its proxy, with each tool's pin state and screening findings."""
    from toolhive_py.workload_tools import PinState, list_tools

    result = list_tools(get_state(ctx).paths, name, socket=socket)

    def show() -> None:
        print_table(None, ["TOOL", "CLIENTS SEE IT", "PIN", "SCREENING", "DESCRIPTION"],
                    [(_visible(t.name), "yes" if t.visible else "no", str(t.pin), _screening(t.findings),
                      _summary(t.description)) for t in result.tools])
        withheld = [t.name for t in result.tools if t.pin in (PinState.CHANGED, PinState.NEW)]
        if withheld:
            say(f"{len(withheld)} tool(s) withheld from clients until approved: {_visible(', '.join(withheld))}. "
                f"Review with `mcpctl tools diff {name}`, then `mcpctl tools approve {name}`.", mark="warn")
        if not result.pinning:
            say("No pins recorded for this workload: its tools are not checked for changes.", mark="warn", err=True)

    render("tools list", result, json_output=json_output, human=show)


@app.command("call")
def call(ctx: typer.Context, name: str = options.WORKLOAD,
         tool: str = typer.Argument(..., help="Tool name."),
         args: str = typer.Option("{}", "--args", help="The tool's arguments as a JSON object ('-': read stdin)."),
         timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Seconds to wait for the result."),
         socket: str | None = options.RUNTIME_SOCKET, json_output: bool = options.JSON) -> None:
    """Call a tool through the workload's proxy (policy and guards apply) and print its result as JSON."""
    from toolhive_py.workload_tools import call_tool, parse_arguments

    arguments = parse_arguments(sys.stdin.read() if args == "-" else args)
    result = call_tool(get_state(ctx).paths, name, tool, arguments, socket=socket, timeout=timeout)

    def show() -> None:
        sys.stdout.write(_visible(json.dumps(result.result, indent=2, ensure_ascii=False), keep="\n") + "\n")

    render("tools call", result, json_output=json_output, human=show)


@app.command("diff")
def diff(ctx: typer.Context, name: str = options.WORKLOAD,
         tools: list[str] | None = typer.Argument(None, help="Only these tools (default: every pending change)."),
         json_output: bool = options.JSON) -> None:
    """Show the tool changes waiting for approval: the approved definition against what the server lists now."""
    from toolhive_py.workload_tools import diff as pending_diff

    result = pending_diff(get_state(ctx).paths, name, tools or None)

    def show() -> None:
        if not result.changes:
            say(f"{name}: no tool changes waiting for approval.", mark="ok")
            return
        _show_changes(result.changes)

    render("tools diff", result, json_output=json_output, human=show)


@app.command("approve")
def approve(ctx: typer.Context, name: str = options.WORKLOAD,
            tools: list[str] | None = typer.Argument(None, help="Only these tools (default: every pending change)."),
            yes: bool = typer.Option(False, "--yes", "-y", help="Approve without asking (after showing the diff)."),
            json_output: bool = options.JSON) -> None:
    """Show the pending tool changes, then approve them: clients see the new definitions from then on."""
    from toolhive_py.errors import UsageError
    from toolhive_py.workload_tools import approve as approve_tools
    from toolhive_py.workload_tools import diff as pending_diff

    paths = get_state(ctx).paths
    shown = pending_diff(paths, name, tools or None)
    if shown.changes and not json_output:
        _show_changes(shown.changes)
    if shown.changes and not yes:
        if json_output or not sys.stdin.isatty():
            raise UsageError(f"Not approving {len(shown.changes)} tool change(s) of {name} without confirmation.",
                             hint=f"Review them with `mcpctl tools diff {name}`, then run "
                                  f"`mcpctl tools approve {name} --yes`.", code="confirmation-required")
        if not typer.confirm(f"Approve {len(shown.changes)} tool change(s) of {name}?", default=False):
            say("Nothing approved.", err=True)
            raise typer.Exit(1)
    result = approve_tools(paths, name, tools or None, shown=shown.changes)

    def show() -> None:
        if result.approved:
            say(f"{name}: approved {_visible(', '.join(result.approved))}.", mark="ok")
        else:
            say(f"{name}: no tool changes waiting for approval.", mark="ok")

    render("tools approve", result, json_output=json_output, human=show)
