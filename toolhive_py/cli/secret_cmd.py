"""``mcpctl secret …``: manage secrets in the keyring, Vault or the environment."""

from __future__ import annotations

import typer

__all__ = ["app", "register"]

app = typer.Typer(help="Store secrets for servers; values never touch argv, logs or configs.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="secret")
