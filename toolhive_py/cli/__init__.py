"""The ``mcpctl`` command line: parse, call a core function, render. No decisions live here."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    from toolhive_py.cli.app import app

    try:
        app(args=argv, prog_name="mcpctl")
    except BrokenPipeError:
        # Output piped into `head` and friends: exit quietly, and stop Python complaining at shutdown.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
