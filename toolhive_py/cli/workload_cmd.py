"""Workload lifecycle: ``run``, ``list``, ``stop``, ``start``, ``restart``, ``rm``, ``logs``, ``status``, ``runtime``.

Each command parses its options, makes one call into :mod:`toolhive_py.workloads` and renders the result.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import server_names
from toolhive_py.cli.output import console, err_console, print_json, print_table, render, say
from toolhive_py.runtime.limits import DEFAULT_CPUS, DEFAULT_MEMORY

if TYPE_CHECKING:
    from toolhive_py.workloads import RunResult, WorkloadView

__all__ = ["register"]

runtime_app = typer.Typer(help="The container engine mcpctl uses.", no_args_is_help=True)


def _prompt_secret(name: str, backend: str) -> str:
    return str(typer.prompt(f"Secret {name} (stored in {backend})", hide_input=True))


def _show_run(result: RunResult) -> None:
    workload = result.workload
    for client in result.connected:
        say(f"connected {client.client_name} ({client.path})", err=True)
    say(f"{workload.name} is {workload.status} ({workload.image}, {'vetted' if workload.vetted else 'UNVETTED'}, "
        f"{result.engine_kind}).", mark="ok")
    if result.secrets:
        say("  secrets: " + ", ".join(f"{s.secret_name} → {s.env_name}" for s in result.secrets))
    say(f"  URL: {workload.url}  (stdio-only clients: `mcpctl connect {workload.name}`)")


def _parse_tail(value: str) -> int | None:
    from toolhive_py.errors import UsageError

    if value == "all":
        return None
    if not value.isdigit():
        raise UsageError(f"Invalid --tail {value!r}.", hint="Use a number of lines, or all.")
    return int(value)


def _field(value: object) -> str:
    """A status value as a person reads it: yes/no, a comma list, - for nothing (never a Python repr)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value in ("", [], {}):
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} → {v}" for k, v in value.items())
    return str(value)


def _status_cell(view: WorkloadView) -> str:
    workload = view.workload
    return f"{workload.status} ({workload.restart_count} restarts)" if workload.restart_count else workload.status


def register(root: typer.Typer) -> None:
    """Attach the top-level lifecycle commands to the root app."""

    @root.command("run")
    def run(
        ctx: typer.Context,
        server: str = typer.Argument(..., help="Registry server name (or REGISTRY/NAME), an image with --unvetted, "
                                     "or a remote server's https:// URL.",
                                     autocompletion=server_names),
        args: list[str] | None = typer.Argument(None, help="Arguments for the server, after `--`."),
        name: str | None = typer.Option(None, "--name", help="Workload name (default: the server name)."),
        secret: list[str] = typer.Option([], "--secret", help="NAME[:ENV] from the secret backend; repeatable."),
        env: list[str] = typer.Option([], "-e", "--env", help="KEY=VALUE (not for secrets); repeatable."),
        env_file: Path | None = typer.Option(None, "--env-file", help="File of KEY=VALUE lines."),
        volume: list[str] = typer.Option([], "--volume", "-v", help="HOST:CONTAINER[:rw]; read-only unless :rw."),
        permission_profile: str = typer.Option("default", "--permission-profile",
                                               help="none | network | FILE (ToolHive JSON); default: the entry's."),
        pull: str = typer.Option("missing", "--pull", help="always | missing | never"),
        memory: str = typer.Option(DEFAULT_MEMORY, "--memory"),
        cpus: float = typer.Option(DEFAULT_CPUS, "--cpus"),
        unvetted: bool = typer.Option(False, "--unvetted", help="Allow something not from a trusted registry."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the hardened container spec and exit."),
        secret_backend: str | None = typer.Option(None, "--secret-backend"),
        allow_env_secrets: bool = typer.Option(False, "--allow-env-secrets", help="For an image with no python3 "
                                               "or sh: pass secrets in the container's stored env, which "
                                               "`inspect` shows."),
        port: int | None = typer.Option(None, "--port", help="Proxy port on 127.0.0.1 (default: a free one, "
                                        "kept for this name)."),
        tools: str | None = typer.Option(None, "--tools", help="Only these tools (comma-separated) are visible."),
        deny_tools: str | None = typer.Option(None, "--deny-tools", help="Hide and refuse these tools."),
        rate_limit: str | None = typer.Option(None, "--rate-limit", help="Per-tool call limit, e.g. 60/m."),
        screen: str = typer.Option("warn", "--screen", help="Tool descriptions that look like instructions to the "
                                   "model: block | warn (block only critical) | off."),
        dlp: str = typer.Option("redact", "--dlp", help="Secrets in tool arguments and results: redact | block | "
                                "warn | off (the workload's own secrets in results are blocked unless off)."),
        clients: str | None = typer.Option(None, "--client", help="Also connect these clients (comma-separated "
                                           "ids, e.g. cursor,vscode)."),
        header: list[str] = typer.Option([], "--header", help="A remote server's header, 'Name: value' with "
                                         "{SECRET} for a stored secret, e.g. 'Authorization: Bearer {GITHUB_PAT}'; "
                                         "repeatable."),
        socket: str | None = options.RUNTIME_SOCKET,
        json_output: bool = options.JSON,
    ) -> None:
        """Run a server in a hardened container behind a local proxy; prints the URL clients use."""
        from toolhive_py import workloads
        from toolhive_py.cli.progress import pull_display
        from toolhive_py.runtime.launch import parse_run_options

        paths = get_state(ctx).paths
        run_options = parse_run_options(
            name=name, secrets=secret, env=env, env_file=env_file, volumes=volume,
            permission_profile=permission_profile, pull=pull, memory=memory, cpus=cpus, args=args or (),
            port=port, tools=tools, deny_tools=deny_tools, rate_limit=rate_limit, screen=screen, dlp=dlp,
            allow_env_secrets=allow_env_secrets)
        if dry_run:
            plan = workloads.plan_run(paths, server, run_options, unvetted=unvetted)
            if json_output:
                print_json("run --dry-run", plan.to_dict())
            else:
                import json

                console().print_json(json.dumps(plan.to_dict(), default=str))
            return
        with pull_display(err_console().is_terminal and not json_output) as progress:
            result = workloads.run(
                paths, server, run_options, unvetted=unvetted, socket=socket,
                clients=[c.strip() for c in (clients or "").split(",") if c.strip()], secret_backend=secret_backend,
                prompt=_prompt_secret if sys.stdin.isatty() else None,
                confirm=(lambda question: typer.confirm(question, default=False)) if sys.stdin.isatty() else None,
                progress=progress,
                notify=lambda message: say(message, mark="step", err=True),
                warn=lambda message: say(message, mark="warning", err=True), headers=header)
        render("run", result, json_output=json_output, human=lambda: _show_run(result))

    @root.command("list")
    def list_(ctx: typer.Context, all_: bool = typer.Option(False, "--all", "-a", help="Include stopped."),
              all_users: bool = typer.Option(False, "--all-users", help="Also other users' workloads on this engine."),
              socket: str | None = options.RUNTIME_SOCKET, json_output: bool = options.JSON) -> None:
        """List your workloads (from engine labels)."""
        from toolhive_py import workloads

        views = workloads.list_workloads(get_state(ctx).paths, include_stopped=all_, all_users=all_users,
                                         socket=socket)
        if json_output:
            print_json("list", [view.to_dict() for view in views])
            return
        if not views:
            say("No workloads. Start one with `mcpctl run NAME`.", err=True)
            return
        print_table(None, ["NAME", "STATUS", "PROXY", "URL", "IMAGE", "VETTED", "TRANSPORT"],
                    [(v.workload.name, _status_cell(v), v.proxy, v.workload.url or "-", v.workload.image,
                      "yes" if v.workload.vetted else "NO", v.workload.transport) for v in views],
                    keep=("NAME", "URL"))

    def _lifecycle(verb: str, doc: str) -> None:
        @root.command(verb, help=doc)
        def command(ctx: typer.Context, name: str = options.WORKLOAD, socket: str | None = options.RUNTIME_SOCKET,
                    json_output: bool = options.JSON) -> None:
            from toolhive_py import workloads

            action = {"stop": workloads.stop, "start": workloads.start, "restart": workloads.restart}[verb]
            result = action(get_state(ctx).paths, name, socket=socket)
            render(verb, result, json_output=json_output, human=lambda: say(f"{name}: {result.workload.status}"))

    _lifecycle("stop", "Stop a workload and its proxy (it keeps its container and port).")
    _lifecycle("start", "Start a stopped workload, and its proxy if that is not running.")
    _lifecycle("restart", "Restart a workload; its proxy re-attaches (or is restarted if dead).")

    @root.command("rm")
    def rm(ctx: typer.Context, names: list[str] | None = options.WORKLOADS,
           all_: bool = typer.Option(False, "--all", help="Remove every workload of yours."),
           socket: str | None = options.RUNTIME_SOCKET, json_output: bool = options.JSON) -> None:
        """Remove workloads; with several, reports partial success (exit 8)."""
        from toolhive_py import workloads

        result = workloads.remove(get_state(ctx).paths, names or [], all_workloads=all_, socket=socket)

        def show() -> None:
            for target in result.removed:
                for client_id in result.disconnected.get(target, ()):
                    say(f"disconnected {target} from {client_id}", err=True)
                say(f"removed {target}")

        render("rm", result, json_output=json_output, human=show)

    @root.command("logs")
    def logs(ctx: typer.Context, name: str = options.WORKLOAD, follow: bool = typer.Option(False, "--follow", "-f"),
             tail: str = typer.Option("all", "--tail", help="Show only the last N lines (a number, or all)."),
             proxy: bool = typer.Option(False, "--proxy", help="Show the proxy's log instead of the server's."),
             socket: str | None = options.RUNTIME_SOCKET) -> None:
        """Show a workload's stderr/stdout log (or its proxy's, with --proxy)."""
        from toolhive_py import workloads

        paths = get_state(ctx).paths
        if proxy:
            for line in workloads.proxy_log_lines(paths, name, follow=follow):
                sys.stdout.write(line)
                sys.stdout.flush()
            return
        for chunk in workloads.logs(paths, name, follow=follow, tail=_parse_tail(tail), socket=socket):
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()

    @root.command("status")
    def status(ctx: typer.Context, name: str = options.WORKLOAD, socket: str | None = options.RUNTIME_SOCKET,
               json_output: bool = options.JSON) -> None:
        """Show one workload."""
        from toolhive_py import workloads

        shown = workloads.status(get_state(ctx).paths, name, socket=socket).to_dict()
        if json_output:
            print_json("status", shown)
            return
        print_table(None, ["FIELD", "VALUE"], [(k, _field(v)) for k, v in shown.items()], keep=("VALUE",))

    @runtime_app.command("status")
    def runtime_status(ctx: typer.Context, socket: str | None = options.RUNTIME_SOCKET,
                       json_output: bool = options.JSON) -> None:
        """Which engine and socket mcpctl uses, and why."""
        from toolhive_py import workloads

        info = workloads.runtime_status(get_state(ctx).paths, socket=socket)
        if json_output:
            print_json("runtime status", info)
            return
        print_table(None, ["FIELD", "VALUE"], [(k, _field(v)) for k, v in info.items()], keep=("VALUE",))

    root.add_typer(runtime_app, name="runtime")

