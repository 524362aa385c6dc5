"""Options and arguments that more than one command takes, each defined once (as pip's ``cmdoptions``).

Design rule: a command names these instead of building its own ``typer.Option``. ``--json`` and
``--runtime-socket`` also record their value in the invocation's state (``_state.remember``) when they are
parsed, so the error boundary knows to answer in JSON, and for which command, without reading argv.
"""

from __future__ import annotations

from typing import Any

import typer

from toolhive_py.cli._state import remember
from toolhive_py.cli.completion import client_ids, workload_names
from toolhive_py.runtime.engine import ENV_SOCKET
from toolhive_py.secrets.base import BACKENDS

__all__ = ["ALL", "BACKEND", "CLIENT", "FORCE", "JSON", "PROJECT", "RUNTIME_SOCKET", "WORKLOAD", "WORKLOADS"]


def _remember_json(ctx: typer.Context, _param: Any, value: bool) -> bool:
    if value:
        remember(ctx, json_output=True)
    return value


def _remember_socket(ctx: typer.Context, _param: Any, value: str | None) -> str | None:
    if value:
        remember(ctx, runtime_socket=value)
    return value


JSON: Any = typer.Option(False, "--json", help="Print a JSON envelope.", callback=_remember_json)
RUNTIME_SOCKET: Any = typer.Option(None, "--runtime-socket", envvar=ENV_SOCKET, callback=_remember_socket,
                                   help="Engine socket/URL (overrides the runtime.socket setting and env).")
BACKEND: Any = typer.Option(None, "--backend", help=f"{' | '.join(BACKENDS)} (default: setting secrets.backend).")
WORKLOAD: Any = typer.Argument(..., help="Workload name.", autocompletion=workload_names)
WORKLOADS: Any = typer.Argument(None, help="Workload names.", autocompletion=workload_names)
ALL: Any = typer.Option(False, "--all", help="Every managed server.")
CLIENT: Any = typer.Argument(..., help="Client id, e.g. cursor, vscode, claude-desktop.", autocompletion=client_ids)
PROJECT: Any = typer.Option(None, "--project", help="Write the project's config in DIR instead of the user's.")
FORCE: Any = typer.Option(False, "--force", help="Write a config file the user made read-only anyway.")
