"""``mcpctl scan``: the shadow-AI inventory."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(root: typer.Typer) -> None:
    """Attach ``scan`` to the root app."""
