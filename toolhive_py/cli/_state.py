"""Per-invocation state resolved once by the root callback and shared by every command."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from toolhive_py.config import Paths

__all__ = ["CLIState", "get_state"]


@dataclass(frozen=True)
class CLIState:
    paths: Paths
    debug: bool = False


def get_state(ctx: typer.Context) -> CLIState:
    """The state the root callback stored; builds a default one when a sub-app runs on its own (tests)."""
    root = ctx.find_root()
    state = root.obj
    if not isinstance(state, CLIState):
        state = CLIState(paths=Paths.from_env())
        root.obj = state
    return state
