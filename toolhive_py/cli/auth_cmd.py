"""``mcpctl auth …``: sign in to a remote workload's server with OAuth, see whether mcpctl holds a sign-in,
and forget it. Tokens live in the secret backend and the proxy's memory; nothing here shows one."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import print_table, render, say

if TYPE_CHECKING:
    from toolhive_py.workloads import AuthStatus

__all__ = ["app"]

app = typer.Typer(help="Sign in to remote servers that need OAuth; tokens stay in the secret backend.",
                  no_args_is_help=True)


def _show(status: AuthStatus) -> None:
    expires = (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(status.expires_at))
               if status.expires_at is not None else "-")
    print_table(None, ["NAME", "SIGNED IN", "ISSUER", "EXPIRES", "REFRESHABLE", "SCOPE"],
                [(status.name, "yes" if status.signed_in else "no", status.issuer or "-", expires,
                  "yes" if status.refreshable else "no", status.scope or "-")], keep=("NAME", "ISSUER"))


@app.command("login")
def login(ctx: typer.Context, name: str = options.WORKLOAD,
          headless: bool = typer.Option(False, "--headless", help="Print the URL and read the redirect URL (or "
                                        "the code) from stdin, for a machine without a browser."),
          client_id: str | None = typer.Option(None, "--client-id", help="A client id registered for mcpctl with "
                                               "the authorization server (when it allows no registration)."),
          client_secret: str | None = typer.Option(None, "--client-secret", help="The stored secret holding that "
                                                   "client's secret (a NAME for `mcpctl secret set`)."),
          json_output: bool = options.JSON) -> None:
    """Sign in to a remote workload's server (OAuth 2.1 in a browser, or --headless) and restart its proxy."""
    from toolhive_py import workloads

    def show(url: str) -> None:
        import webbrowser

        say("Opening your browser to sign in; if it does not open, visit:", err=True)
        sys.stderr.write(url + "\n")
        webbrowser.open(url)

    def ask(url: str) -> str:
        say("Open this URL in a browser, sign in, then paste the URL it sends you to (or the code):", err=True)
        sys.stderr.write(url + "\n")
        sys.stderr.flush()
        return sys.stdin.readline()

    result = workloads.auth_login(get_state(ctx).paths, name, show=show, ask=ask if headless else None,
                                  client_id=client_id, client_secret_name=client_secret)
    render("auth login", result, json_output=json_output,
           human=lambda: say(f"Signed in to {result.url} ({result.issuer}).", mark="ok"))


@app.command("status")
def status(ctx: typer.Context, name: str = options.WORKLOAD, json_output: bool = options.JSON) -> None:
    """Whether mcpctl holds a sign-in for a remote workload, from whom, and until when."""
    from toolhive_py import workloads

    result = workloads.auth_status(get_state(ctx).paths, name)
    render("auth status", result, json_output=json_output, human=lambda: _show(result))


@app.command("logout")
def logout(ctx: typer.Context, name: str = options.WORKLOAD, json_output: bool = options.JSON) -> None:
    """Forget a remote workload's tokens; its proxy then asks for `mcpctl auth login NAME`."""
    from toolhive_py import workloads

    result = workloads.auth_logout(get_state(ctx).paths, name)
    render("auth logout", result, json_output=json_output,
           human=lambda: say(f"Signed out of {result.url}.", mark="ok"))
