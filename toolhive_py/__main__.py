"""``python -m toolhive_py`` runs the mcpctl CLI."""

from __future__ import annotations

from toolhive_py.cli import main

main()
