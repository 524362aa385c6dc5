"""The root Typer app: global options, the error boundary, and the command groups.

Command modules import only typer at import time; each command imports its core module when it runs,
so ``mcpctl --help`` never loads docker, mcp, uvicorn, hvac or httpx.
"""

from __future__ import annotations

import logging
from typing import Any

import typer

# Typer 0.29 vendors click as typer._click; its Context/Command types are the ones our overrides must match.
from typer import _click as click
from typer.core import TyperGroup

from toolhive_py import __version__
from toolhive_py.cli import (
    auth_cmd,
    client_cmd,
    config_cmd,
    doctor_cmd,
    export_cmd,
    proxy_cmd,
    registry_cmd,
    scan_cmd,
    secret_cmd,
    tools_cmd,
    workload_cmd,
)
from toolhive_py.cli._state import CLIState, invocation
from toolhive_py.errors import ExitCode, MCPCTLError

__all__ = ["app"]


class _RootGroup(TyperGroup):
    """Turns :class:`MCPCTLError` into one message, a hint and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from toolhive_py.cli.output import print_error, print_json

        try:
            return super().invoke(ctx)
        except MCPCTLError as error:
            state = ctx.obj
            if isinstance(state, CLIState) and state.debug:
                raise
            logging.getLogger("toolhive_py").debug("command failed", exc_info=True)
            record = invocation(ctx)
            if record.json_output:
                print_json(record.command, None, status="error", errors=[error.to_dict()])
            print_error(error)
            raise typer.Exit(int(error.exit_code)) from None
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


app = typer.Typer(
    cls=_RootGroup,
    name="mcpctl",
    help="Run vetted MCP servers in hardened containers behind a local proxy, and inventory the rest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: rich's help renderer pulls in markdown-it and costs ~70 ms of start-up.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mcpctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs.", envvar="MCPCTL_DEBUG"),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    from toolhive_py.config import Paths

    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = CLIState(paths=Paths.from_env(), debug=debug)


registry_cmd.register(app)
workload_cmd.register(app)
proxy_cmd.register(app)
doctor_cmd.register(app)
secret_cmd.register(app)
scan_cmd.register(app)
export_cmd.register(app)
app.add_typer(config_cmd.app, name="config")
app.add_typer(client_cmd.app, name="client")
app.add_typer(tools_cmd.app, name="tools")
app.add_typer(auth_cmd.app, name="auth")
