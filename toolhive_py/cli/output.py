"""Rendering for the CLI: the ``--json`` envelope, tables and error messages.

Machine output goes to stdout as one JSON document:
``{"schema_version": 1, "command": "...", "status": "ok|partial|error", "data": ..., "errors": [...]}``.
Human output uses rich; rich honours ``NO_COLOR`` and drops escape codes when stdout is not a TTY.

Policy: every string that did not come from this package (names, descriptions, paths, tool names, messages
quoting them) is shown as text, never as markup, and with control characters removed, so a client named
``[/oops]`` cannot crash a table and a registry description cannot forge rows or move the cursor.
Only the fixed marks below (✓ ! ✗) carry markup.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from toolhive_py.errors import MCPCTLError
    from toolhive_py.results import Result

__all__ = ["JSON_SCHEMA_VERSION", "MARKS", "as_text", "clean", "console", "err_console", "print_error", "print_json",
           "print_table", "render", "reset_consoles", "say"]

JSON_SCHEMA_VERSION: Final = 1

Mark = Literal["ok", "warn", "fail", "step", "warning"]
MARKS: Final[dict[str, str]] = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "step": "→",
                                "warning": "[bold yellow]WARNING:[/]"}

# C0 controls but tab and newline, DEL, and C1 controls (CSI, OSC, … start escape sequences on their own).
_CONTROLS: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(value: object) -> str:
    """``value`` as text a terminal shows as it is: control characters (ANSI/OSC escapes) removed."""
    return _CONTROLS.sub("", str(value))


def as_text(value: object) -> str:
    """``value`` for a rich string with markup: escaped, so it shows as it is, and cleaned of controls."""
    from rich.markup import escape

    return escape(clean(value))

_consoles: dict[str, Console] = {}


def console() -> Console:
    """The stdout console, built on first use so start-up does not pay for rich."""
    if "out" not in _consoles:
        from rich.console import Console

        _consoles["out"] = Console(soft_wrap=True)
    return _consoles["out"]


def err_console() -> Console:
    if "err" not in _consoles:
        from rich.console import Console

        _consoles["err"] = Console(stderr=True, soft_wrap=True)
    return _consoles["err"]


def reset_consoles() -> None:
    """Forget cached consoles; the test runner swaps sys.stdout between invocations."""
    _consoles.clear()


def print_json(command: str, data: Any, *, status: str = "ok", errors: Sequence[dict[str, Any]] = ()) -> None:
    envelope = {
        "schema_version": JSON_SCHEMA_VERSION,
        "command": command,
        "status": status,
        "data": data,
        "errors": list(errors),
    }
    sys.stdout.write(json.dumps(envelope, indent=2, sort_keys=False, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                keep: Sequence[str] = ()) -> None:
    """A table; the ``keep`` columns (the values a user copies: URLs, paths, times) are never shortened or
    wrapped, the others fold to make room on a narrow terminal."""
    from rich.table import Table

    cells = [["" if cell is None else clean(cell) for cell in row] for row in rows]
    table = Table(title=None if title is None else as_text(title), show_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        if column in keep:
            width = max([len(column), *(max(map(len, row[index].splitlines() or [""])) for row in cells)])
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*(as_text(cell) for cell in row))
    console().print(table)


def say(text: object, *, mark: Mark | None = None, err: bool = False, bold: bool = False) -> None:
    """One line of human output: ``text`` is shown as it is (never as markup), after an optional mark."""
    out = err_console() if err else console()
    body = f"[bold]{as_text(text)}[/]" if bold else as_text(text)
    out.print(f"{MARKS[mark]} {body}" if mark else body, highlight=False)


def render(command: str, result: Result, *, json_output: bool, human: Callable[[], None]) -> None:
    """Show an operation's result: the JSON envelope, or ``human`` plus one line per failure; then exit with
    the code the core decided."""
    if json_output:
        print_json(command, result.to_dict(), status=str(result.status),
                   errors=[failure.to_dict() for failure in result.failures])
    else:
        human()
        for failure in result.failures:
            say(f"{failure.name}: {failure.error.message}", mark="fail", err=True)
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))


def print_error(error: MCPCTLError) -> None:
    err = err_console()
    err.print(f"[bold red]Error:[/] {as_text(error.message)}", highlight=False)
    if error.hint:
        err.print(f"[bold]Hint:[/] {as_text(error.hint)}", highlight=False)
