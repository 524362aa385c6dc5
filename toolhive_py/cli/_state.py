"""Per-invocation state: resolved once by the root callback (paths, debug) or recorded once as shared options
are parsed (``--json``, ``--runtime-socket``), and read by commands and the error boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import typer

# Typer 0.29 vendors click as typer._click; the error boundary holds that Context type.
from typer import _click as click

from toolhive_py.config import Paths

__all__ = ["CLIState", "Invocation", "command_path", "get_state", "invocation", "remember"]

_INVOCATION_KEY: Final = "mcpctl.invocation"


@dataclass(frozen=True)
class CLIState:
    paths: Paths
    debug: bool = False


@dataclass
class Invocation:
    """What the shared options said, for the error boundary: it never reads argv."""

    json_output: bool = False
    runtime_socket: str | None = None
    command: str = ""


def get_state(ctx: typer.Context) -> CLIState:
    """The state the root callback stored; builds a default one when a sub-app runs on its own (tests)."""
    root = ctx.find_root()
    state = root.obj
    if not isinstance(state, CLIState):
        state = CLIState(paths=Paths.from_env())
        root.obj = state
    return state


def invocation(ctx: click.Context) -> Invocation:
    """The invocation record, shared by every context of one command line (click shares ``meta``)."""
    found = ctx.meta.get(_INVOCATION_KEY)
    if not isinstance(found, Invocation):
        found = ctx.meta[_INVOCATION_KEY] = Invocation()
    return found


def remember(ctx: click.Context, *, json_output: bool | None = None, runtime_socket: str | None = None) -> None:
    """Record a shared option's value and the command path it was given to (``client connect``, never values)."""
    record = invocation(ctx)
    if json_output is not None:
        record.json_output = json_output
    if runtime_socket is not None:
        record.runtime_socket = runtime_socket
    record.command = command_path(ctx)


def command_path(ctx: click.Context) -> str:
    """The command's words below the program name: ``run``, ``client connect``."""
    names = []
    current: click.Context | None = ctx
    while current is not None and current.parent is not None:
        names.append(current.info_name or "")
        current = current.parent
    return " ".join(reversed(names))
