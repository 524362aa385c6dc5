"""``mcpctl client``: which AI clients are here, and pointing them at managed servers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import client_ids, workload_names
from toolhive_py.cli.output import console, print_json, print_table

if TYPE_CHECKING:
    from toolhive_py.clients.api import ManagedServer

__all__ = ["app", "managed_servers"]

app = typer.Typer(help="Connect AI clients (Claude, Cursor, VS Code, …) to managed servers.", no_args_is_help=True)

_CLIENT = typer.Argument(..., help="Client id, e.g. cursor, vscode, claude-desktop.", autocompletion=client_ids)
_PROJECT = typer.Option(None, "--project", help="Write the project's config in DIR instead of the user's.")
_JSON = typer.Option(False, "--json", help="Print a JSON envelope.")
_SOCKET = typer.Option(None, "--runtime-socket", help="Engine socket/URL (overrides setting and env).",
                       envvar="MCPCTL_RUNTIME_SOCKET")


def managed_servers(ctx: typer.Context, socket: str | None, names: list[str] | None) -> list[ManagedServer]:
    """Workloads as (name, proxy URL); every name must exist and have a proxy."""
    from toolhive_py.cli.workload_cmd import _engine
    from toolhive_py.clients.api import ManagedServer
    from toolhive_py.errors import NotFoundError
    from toolhive_py.runtime.workloads import list_workloads

    with _engine(ctx, socket) as engine:
        workloads = {w.name: w for w in list_workloads(engine, include_stopped=True)}
    chosen = list(workloads) if names is None else names
    servers: list[ManagedServer] = []
    for name in chosen:
        workload = workloads.get(name)
        if workload is None or workload.url is None:
            raise NotFoundError(f"No managed server named {name!r}.", hint="Start it with `mcpctl run NAME`; "
                                "`mcpctl list --all` shows what exists.")
        servers.append(ManagedServer(name, workload.url))
    return servers


@app.command("list")
def list_(ctx: typer.Context, json_output: bool = _JSON) -> None:
    """Clients mcpctl knows, whether each is installed here, and its user config."""
    from toolhive_py.clients.api import detect

    found = detect(get_state(ctx).paths)
    if json_output:
        print_json("client list", [{"id": s.client.id, "name": s.client.name, "installed": s.installed,
                                    "config": str(s.path) if s.path else None, "exists": s.exists,
                                    "servers": len(s.servers), "managed": s.managed, "error": s.error,
                                    "remote": s.client.supports_remote} for s in found])
        return
    print_table(None, ["CLIENT", "NAME", "INSTALLED", "SERVERS", "MANAGED", "CONFIG"],
                [(s.client.id, s.client.name, "yes" if s.installed else "-", str(len(s.servers)) if s.exists else "-",
                  ", ".join(s.managed) or "-", f"{s.path} (unreadable: {s.error})" if s.error else str(s.path or "-"))
                 for s in found])


@app.command("status")
def status(ctx: typer.Context, client: str = _CLIENT, project: Path | None = _PROJECT,
           json_output: bool = _JSON) -> None:
    """The servers in one client's config, and which of them mcpctl manages."""
    from toolhive_py.clients.api import resolve_target
    from toolhive_py.clients.api import status as client_status

    shown = client_status(get_state(ctx).paths, resolve_target(client, project=project))
    if json_output:
        print_json("client status", shown)
        return
    console().print(f"{shown['path']}{'' if shown['exists'] else ' (does not exist yet)'}", highlight=False)
    print_table(None, ["SERVER", "MANAGED", "POINTS AT"],
                [(s["name"], "yes" if s["managed"] else "-", s["target"]) for s in shown["servers"]])


@app.command("connect")
def connect(ctx: typer.Context, client: str = _CLIENT,
            servers: list[str] | None = typer.Argument(None, help="Workload names.", autocompletion=workload_names),
            all_: bool = typer.Option(False, "--all", help="Every managed server."),
            project: Path | None = _PROJECT,
            replace: bool = typer.Option(False, "--replace", help="Replace same-named entries mcpctl did not write."),
            socket: str | None = _SOCKET, json_output: bool = _JSON) -> None:
    """Point a client at managed servers: the proxy URL, or `mcpctl connect NAME` for stdio-only clients."""
    from toolhive_py.clients.api import connect as connect_client
    from toolhive_py.clients.api import resolve_target
    from toolhive_py.errors import UsageError

    if not servers and not all_:
        raise UsageError("Name servers to connect, or pass --all.")
    target = resolve_target(client, project=project)
    chosen = managed_servers(ctx, socket, None if all_ else list(servers or []))
    backup = connect_client(get_state(ctx).paths, target, chosen, replace=replace)
    names = [s.name for s in chosen]
    if json_output:
        print_json("client connect", {"client": client, "path": str(target.path), "servers": names,
                                      "backup": str(backup)})
        return
    console().print(f"[green]✓[/] {target.client.name}: {', '.join(names)} → {target.path}", highlight=False)
    console().print(f"  backup: {backup} (undo with `mcpctl client restore {client}`)", highlight=False)


@app.command("disconnect")
def disconnect(ctx: typer.Context, client: str = _CLIENT,
               servers: list[str] | None = typer.Argument(None, help="Only these (default: all mcpctl wrote)."),
               project: Path | None = _PROJECT, json_output: bool = _JSON) -> None:
    """Remove the entries mcpctl wrote; entries it did not write are never touched."""
    from toolhive_py.clients.api import disconnect as disconnect_client
    from toolhive_py.clients.api import resolve_target

    target = resolve_target(client, project=project)
    removed = disconnect_client(get_state(ctx).paths, target, servers or None)
    if json_output:
        print_json("client disconnect", {"client": client, "path": str(target.path), "removed": removed})
        return
    console().print(f"{target.client.name}: removed {', '.join(removed) or 'nothing'}", highlight=False)


@app.command("restore")
def restore(ctx: typer.Context, client: str = _CLIENT, json_output: bool = _JSON) -> None:
    """Put a client's config back as it was before mcpctl's last change."""
    from toolhive_py.clients.api import restore as restore_client

    path = restore_client(get_state(ctx).paths, client)
    if json_output:
        print_json("client restore", {"client": client, "path": str(path)})
        return
    console().print(f"restored {path}", highlight=False)
