"""Workload lifecycle: ``run``, ``list``, ``stop``, ``start``, ``restart``, ``rm``, ``logs``, ``status``, ``runtime``."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(root: typer.Typer) -> None:
    """Attach the top-level lifecycle commands to the root app."""
