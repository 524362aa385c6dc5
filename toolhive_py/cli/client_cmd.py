"""``mcpctl client``: which AI clients are here, pointing them at managed servers, and their proxy credentials."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import workload_names
from toolhive_py.cli.output import print_json, print_table, render, say

if TYPE_CHECKING:
    from toolhive_py.workloads import ClientsResult

__all__ = ["app"]

app = typer.Typer(help="Connect AI clients (Claude, Cursor, VS Code, …) to managed servers.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, json_output: bool = options.JSON) -> None:
    """Clients mcpctl knows, whether each is installed here, and its user config."""
    from toolhive_py.clients.api import detect

    found = detect(get_state(ctx).paths)
    if json_output:
        print_json("client list", [{"id": s.client.id, "name": s.client.name, "installed": s.installed,
                                    "config": str(s.path) if s.path else None, "exists": s.exists,
                                    "servers": len(s.servers), "managed": s.managed, "error": s.error,
                                    "remote": s.client.supports_remote,
                                    "credential": s.client.credential} for s in found])
        return
    print_table(None, ["CLIENT", "NAME", "INSTALLED", "SERVERS", "MANAGED", "CONFIG"],
                [(s.client.id, s.client.name, "yes" if s.installed else "-", str(len(s.servers)) if s.exists else "-",
                  ", ".join(s.managed) or "-", f"{s.path} (unreadable: {s.error})" if s.error else str(s.path or "-"))
                 for s in found], keep=("CONFIG",))


@app.command("status")
def status(ctx: typer.Context, client: str = options.CLIENT, project: Path | None = options.PROJECT,
           json_output: bool = options.JSON) -> None:
    """The servers in one client's config, and which of them mcpctl manages."""
    from toolhive_py.clients.api import resolve_target
    from toolhive_py.clients.api import status as client_status

    shown = client_status(get_state(ctx).paths, resolve_target(client, project=project))
    if json_output:
        print_json("client status", shown)
        return
    say(f"{shown['path']}{'' if shown['exists'] else ' (does not exist yet)'}")
    print_table(None, ["SERVER", "MANAGED", "POINTS AT"],
                [(s["name"], "yes" if s["managed"] else "-", s["target"]) for s in shown["servers"]])


@app.command("connect")
def connect(ctx: typer.Context, client: str = options.CLIENT, servers: list[str] | None = options.WORKLOADS,
            all_: bool = options.ALL, project: Path | None = options.PROJECT,
            replace: bool = typer.Option(False, "--replace", help="Replace same-named entries mcpctl did not write."),
            force: bool = options.FORCE, socket: str | None = options.RUNTIME_SOCKET,
            json_output: bool = options.JSON) -> None:
    """Point a client at managed servers with a new credential each (again: rotates it): the proxy URL, or
    `mcpctl connect NAME --client CLIENT` for stdio-only clients."""
    from toolhive_py import workloads
    from toolhive_py.clients.api import resolve_target

    result = workloads.connect_clients(get_state(ctx).paths, resolve_target(client, project=project),
                                       None if all_ else list(servers or []), replace_foreign=replace, force=force,
                                       socket=socket)
    render("client connect", result, json_output=json_output, human=lambda: _show_connected(result))


def _show_connected(result: ClientsResult) -> None:
    say(f"{result.client_name}: {', '.join(result.servers)} → {result.path}", mark="ok")
    say(f"  credential: {_CREDENTIAL_WHERE.get(result.credential, result.credential)}")
    if result.credential == "vscode-inputs":
        for server in result.servers:
            say(f"  {result.client_name} asks for it when it first starts {server}: paste the output of "
                f"`mcpctl client token {result.client_id} {server} --show`")
    say(f"  backup: {result.backup} (undo with `mcpctl client restore {result.client_id}`)")
    if result.ended_migration:
        say(f"{', '.join(result.ended_migration)} now let in only clients with a credential: entries written "
            "without one stop working (`mcpctl client upgrade` gives every entry mcpctl wrote one)", mark="warning")


_CREDENTIAL_WHERE = {
    "headers": "in the entry's Authorization header (it opens only this local proxy)",
    "vscode-inputs": "in VS Code's secret storage (a password input), not in the file",
    "headers-helper": "in the secret backend; the client runs `mcpctl client token` for it at each connection",
    "stdio-bridge": "in the secret backend; `mcpctl connect` sends it, nothing is written",
}


@app.command("token")
def token(ctx: typer.Context, client: str = options.CLIENT, server: str = options.WORKLOAD,
          header_json: bool = typer.Option(False, "--header-json", help="Print the HTTP headers as a JSON object "
                                           "(Claude Code's headersHelper runs this)."),
          show: bool = typer.Option(False, "--show", help="Print it even when stdout is a terminal.")) -> None:
    """Print a client's proxy credential for a server (to a pipe; to a terminal only with --show)."""
    from toolhive_py import workloads
    from toolhive_py.errors import UsageError

    if sys.stdout.isatty() and not show:
        raise UsageError("The credential would be shown on the screen (and kept in the terminal's scrollback).",
                         hint=f"Pipe it (`mcpctl client token {client} {server} | wl-copy`), or pass --show.",
                         code="would-show-secret")
    value = workloads.client_token(get_state(ctx).paths, client, server)
    sys.stdout.write((json.dumps({"Authorization": f"Bearer {value}"}) if header_json else value) + "\n")


@app.command("revoke")
def revoke(ctx: typer.Context, client: str = options.CLIENT,
           server: str | None = typer.Argument(None, help="Only this server (default: every one).",
                                               autocompletion=workload_names),
           json_output: bool = options.JSON) -> None:
    """Invalidate a client's credentials at once (its entries stay; `client connect` gives it new ones)."""
    from toolhive_py import workloads

    result = workloads.revoke_clients(get_state(ctx).paths, client, server)
    render("client revoke", result, json_output=json_output,
           human=lambda: say(f"{client}: revoked for {', '.join(result.workloads) or 'nothing'}", mark="ok"))


@app.command("upgrade")
def upgrade(ctx: typer.Context, socket: str | None = options.RUNTIME_SOCKET, json_output: bool = options.JSON) -> None:
    """Give every entry mcpctl wrote a credential, and end migration mode: entries without one stop working."""
    from toolhive_py import workloads

    result = workloads.upgrade_clients(get_state(ctx).paths, socket=socket)

    def show() -> None:
        for rewritten in result.rewritten:
            _show_connected(rewritten)
        if result.secured:
            say(f"credentials required from now on: {', '.join(result.secured)}", mark="ok")
        if result.restarted:
            say(f"restarted the proxies of {', '.join(result.restarted)} (started before credentials)", mark="ok")
        if not (result.rewritten or result.secured or result.restarted or result.failures):
            say("Nothing to upgrade: every entry and workload has credentials.")

    render("client upgrade", result, json_output=json_output, human=show)


@app.command("disconnect")
def disconnect(ctx: typer.Context, client: str = options.CLIENT,
               servers: list[str] | None = typer.Argument(None, help="Only these (default: all mcpctl wrote)."),
               project: Path | None = options.PROJECT, force: bool = options.FORCE,
               json_output: bool = options.JSON) -> None:
    """Remove the entries mcpctl wrote (entries it did not write are never touched) and revoke their credentials."""
    from toolhive_py import workloads
    from toolhive_py.clients.api import resolve_target

    target = resolve_target(client, project=project)
    result = workloads.disconnect_clients(get_state(ctx).paths, target, servers or None, force=force)
    render("client disconnect", result, json_output=json_output,
           human=lambda: say(f"{target.client.name}: removed {', '.join(result.removed) or 'nothing'}"))


@app.command("restore")
def restore(ctx: typer.Context, client: str = options.CLIENT, force: bool = options.FORCE,
            json_output: bool = options.JSON) -> None:
    """Put a client's config back as it was before mcpctl's last change."""
    from toolhive_py.clients.api import restore as restore_client

    path = restore_client(get_state(ctx).paths, client, force=force)
    if json_output:
        print_json("client restore", {"client": client, "path": str(path)})
        return
    say(f"restored {path}")
