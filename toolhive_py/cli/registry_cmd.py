"""``mcpctl registry …`` plus the top-level ``search`` and ``info`` aliases."""

from __future__ import annotations

import typer

__all__ = ["app", "register"]

app = typer.Typer(help="Signed server registries: list, search, verify, add, sign.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Attach the registry group and its top-level aliases to the root app."""
    root.add_typer(app, name="registry")
