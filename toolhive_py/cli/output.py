"""Rendering for the CLI: the ``--json`` envelope, tables and error messages.

Machine output goes to stdout as one JSON document:
``{"schema_version": 1, "command": "...", "status": "ok|partial|error", "data": ..., "errors": [...]}``.
Human output uses rich; rich honours ``NO_COLOR`` and drops escape codes when stdout is not a TTY.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from rich.console import Console

    from toolhive_py.errors import MCPCTLError

__all__ = ["JSON_SCHEMA_VERSION", "console", "err_console", "print_error", "print_json", "print_table"]

JSON_SCHEMA_VERSION: Final = 1

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


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(table)


def print_error(error: MCPCTLError) -> None:
    from rich.markup import escape

    err = err_console()
    err.print(f"[bold red]Error:[/] {escape(error.message)}", highlight=False)
    if error.hint:
        err.print(f"[bold]Hint:[/] {escape(error.hint)}", highlight=False)
