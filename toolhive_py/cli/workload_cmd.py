"""Workload lifecycle: ``run``, ``list``, ``stop``, ``start``, ``restart``, ``rm``, ``logs``, ``status``, ``runtime``."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import server_names, workload_names
from toolhive_py.cli.output import console, err_console, print_json, print_table

if TYPE_CHECKING:
    from toolhive_py.config import Paths
    from toolhive_py.proxy.supervisor import ProxyState
    from toolhive_py.runtime.builds import BuildConfig
    from toolhive_py.runtime.engine import Engine
    from toolhive_py.runtime.launch import SecretResolver
    from toolhive_py.runtime.workloads import Workload

__all__ = ["register"]

_JSON = typer.Option(False, "--json", help="Print a JSON envelope.")
_SOCKET = typer.Option(None, "--runtime-socket", help="Engine socket/URL (overrides setting and env).",
                       envvar="MCPCTL_RUNTIME_SOCKET")

_WORKLOAD = typer.Argument(..., help="Workload name.", autocompletion=workload_names)

runtime_app = typer.Typer(help="The container engine mcpctl uses.", no_args_is_help=True)


@contextmanager
def _engine(ctx: typer.Context, socket: str | None) -> Iterator[Engine]:
    """The engine for one command, closed when it ends."""
    from toolhive_py.config import Settings
    from toolhive_py.runtime.engine import connect

    setting = Settings(get_state(ctx).paths.settings_file).get("runtime.socket")
    engine = connect(flag=socket, setting=setting)
    try:
        yield engine
    finally:
        engine.close()


def _parse_env(pairs: Sequence[str], env_file: Path | None) -> dict[str, str]:
    from toolhive_py.errors import UsageError

    env: dict[str, str] = {}
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file else []
    for raw in [*lines, *pairs]:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise UsageError(f"Invalid environment entry {line.split('=')[0]!r}.", hint="Use KEY=VALUE.")
        env[key.strip()] = value
    return env


def _secret_resolver(ctx: typer.Context, backend: str | None) -> SecretResolver:
    from toolhive_py.secrets import SecretRequest, open_provider, resolve_secret_env

    paths = get_state(ctx).paths

    def resolve(pairs: Sequence[tuple[str, str]]) -> Mapping[str, str]:
        provider = open_provider(paths, backend)
        prompt = None
        if sys.stdin.isatty():
            def prompt(name: str) -> str:
                return str(typer.prompt(f"Secret {name} (stored in {provider.name})", hide_input=True))
        return resolve_secret_env(provider, [SecretRequest(s, e) for s, e in pairs], prompt=prompt)

    return resolve


def _ensure_proxy(paths: Paths, engine: Engine, workload: Workload) -> ProxyState | None:
    """The workload's proxy, started on its recorded port when it is not running (after a crash or kill -9)."""
    from toolhive_py.proxy.supervisor import running_proxy, start_proxy
    from toolhive_py.runtime.spec import container_name

    if workload.proxy_port is None:
        return None
    return running_proxy(paths, workload.name) or start_proxy(
        paths, name=workload.name, port=workload.proxy_port, engine=engine.url,
        container=container_name(workload.name), policy_json=workload.policy_json,
        upstream=workload.transport, target_port=workload.target_port)


def _build_config(paths: Paths) -> BuildConfig:
    """Where local package builds start from (settings build.python_image, build.ca_bundle)."""
    from toolhive_py.config import Settings
    from toolhive_py.runtime.builds import DEFAULT_NODE_IMAGE, DEFAULT_PYTHON_IMAGE, BuildConfig

    settings = Settings(paths.settings_file)
    ca_bundle = settings.get("build.ca_bundle")
    return BuildConfig(python_image=settings.get("build.python_image") or DEFAULT_PYTHON_IMAGE,
                       ca_bundle=Path(ca_bundle).expanduser() if ca_bundle else None, cache_dir=paths.cache_dir,
                       node_image=settings.get("build.node_image") or DEFAULT_NODE_IMAGE)


def _proxy_column(paths: Paths, workload: Workload) -> str:
    from toolhive_py.proxy.supervisor import running_proxy

    if workload.proxy_port is None:
        return "-"
    return "up" if running_proxy(paths, workload.name) else "DOWN"


def register(root: typer.Typer) -> None:
    """Attach the top-level lifecycle commands to the root app."""

    @root.command("run")
    def run(
        ctx: typer.Context,
        server: str = typer.Argument(..., help="Registry server name (or REGISTRY/NAME), or an image with --unvetted.",
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
        memory: str = typer.Option("512m", "--memory"),
        cpus: float = typer.Option(1.0, "--cpus"),
        unvetted: bool = typer.Option(False, "--unvetted", help="Allow something not from a trusted registry."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the hardened container spec and exit."),
        secret_backend: str | None = typer.Option(None, "--secret-backend"),
        port: int | None = typer.Option(None, "--port", help="Proxy port on 127.0.0.1 (default: a free one, "
                                        "kept for this name)."),
        tools: str | None = typer.Option(None, "--tools", help="Only these tools (comma-separated) are visible."),
        deny_tools: str | None = typer.Option(None, "--deny-tools", help="Hide and refuse these tools."),
        rate_limit: str | None = typer.Option(None, "--rate-limit", help="Per-tool call limit, e.g. 60/m."),
        clients: str | None = typer.Option(None, "--client", help="Also connect these clients (comma-separated "
                                           "ids, e.g. cursor,vscode)."),
        socket: str | None = _SOCKET,
        json_output: bool = _JSON,
    ) -> None:
        """Run a server in a hardened container behind a local proxy; prints the URL clients use."""
        import dataclasses
        import json as jsonlib

        from toolhive_py.cli.progress import pull_display
        from toolhive_py.clients.api import ManagedServer
        from toolhive_py.clients.api import connect as connect_client
        from toolhive_py.clients.api import resolve_target as resolve_client
        from toolhive_py.errors import UsageError
        from toolhive_py.proxy.policy import ToolPolicy
        from toolhive_py.proxy.supervisor import free_port
        from toolhive_py.registry import RegistryStore
        from toolhive_py.runtime.images import PullPolicy
        from toolhive_py.runtime.launch import RunOptions, launch, plan, resolve_target
        from toolhive_py.runtime.spec import parse_volume
        from toolhive_py.secrets import parse_secret_flag

        try:
            pull_policy = PullPolicy(pull)
        except ValueError:
            raise UsageError(f"Invalid --pull {pull!r}.", hint="Use always, missing or never.") from None
        requests = [parse_secret_flag(flag) for flag in secret]
        options = RunOptions(
            name=name, env=_parse_env(env, env_file), secrets=tuple((r.secret_name, r.env_name) for r in requests),
            mounts=tuple(parse_volume(v) for v in volume), permission_profile=permission_profile,
            memory=memory, cpus=cpus, args=tuple(args or ()), pull=pull_policy,
            proxy_port=port, policy_json=ToolPolicy.from_options(tools, deny_tools, rate_limit).to_json(),
        )
        target = resolve_target(RegistryStore(get_state(ctx).paths), server, unvetted=unvetted)
        if dry_run:
            _, spec = plan(target, options)
            shown = spec.to_display()
            if json_output:
                print_json("run --dry-run", shown)
            else:
                console().print_json(jsonlib.dumps(shown, default=str))
            return
        if not target.vetted:
            err_console().print(f"[bold yellow]WARNING:[/] {target.server} is UNVETTED: it is not from a "
                                "verified registry.", highlight=False)
        options = dataclasses.replace(options, proxy_port=free_port(port))
        client_targets = [resolve_client(c.strip()) for c in (clients or "").split(",") if c.strip()]
        with _engine(ctx, socket) as engine, pull_display(err_console().is_terminal and not json_output) as progress:
            workload = launch(engine, target, options, resolve_secrets=_secret_resolver(ctx, secret_backend),
                              build=_build_config(get_state(ctx).paths), progress=progress,
                              notify=lambda message: err_console().print(f"→ {message}", highlight=False))
            _ensure_proxy(get_state(ctx).paths, engine, workload)
        for client_target in client_targets:
            connect_client(get_state(ctx).paths, client_target, [ManagedServer(workload.name, workload.url or "")])
            err_console().print(f"connected {client_target.client.name} ({client_target.path})", highlight=False)
        if json_output:
            print_json("run", workload.to_dict())
            return
        console().print(f"[green]✓[/] {workload.name} is {workload.status} ({workload.image}, "
                        f"{'vetted' if workload.vetted else 'UNVETTED'}, {engine.kind}).", highlight=False)
        console().print(f"  URL: [bold]{workload.url}[/]  (stdio-only clients: `mcpctl connect {workload.name}`)",
                        highlight=False)

    @root.command("list")
    def list_(ctx: typer.Context, all_: bool = typer.Option(False, "--all", "-a", help="Include stopped."),
              socket: str | None = _SOCKET, json_output: bool = _JSON) -> None:
        """List workloads (from engine labels)."""
        from toolhive_py.runtime.workloads import list_workloads

        paths = get_state(ctx).paths
        with _engine(ctx, socket) as engine:
            workloads = list_workloads(engine, include_stopped=all_)
        if json_output:
            print_json("list", [{**w.to_dict(), "proxy": _proxy_column(paths, w)} for w in workloads])
            return
        if not workloads:
            err_console().print("No workloads. Start one with `mcpctl run NAME`.")
            return
        print_table(None, ["NAME", "STATUS", "PROXY", "URL", "IMAGE", "VETTED", "TRANSPORT"],
                    [(w.name, f"{w.status} ({w.restart_count} restarts)" if w.restart_count else w.status,
                      _proxy_column(paths, w), w.url or "-", w.image, "yes" if w.vetted else "NO",
                      w.transport) for w in workloads])

    def _lifecycle(verb: str, doc: str) -> None:
        @root.command(verb, help=doc)
        def command(ctx: typer.Context, name: str = _WORKLOAD, socket: str | None = _SOCKET,
                    json_output: bool = _JSON) -> None:
            from toolhive_py.proxy.supervisor import stop_proxy
            from toolhive_py.runtime import workloads

            action = {"stop": workloads.stop_workload, "start": workloads.start_workload,
                      "restart": workloads.restart_workload}[verb]
            paths = get_state(ctx).paths
            with _engine(ctx, socket) as engine:
                if verb == "stop":
                    stop_proxy(paths, name)
                workload = action(engine, name)
                if verb != "stop":
                    _ensure_proxy(paths, engine, workload)
            if json_output:
                print_json(verb, workload.to_dict())
            else:
                console().print(f"{name}: {workload.status}", highlight=False)

    _lifecycle("stop", "Stop a workload and its proxy (it keeps its container and port).")
    _lifecycle("start", "Start a stopped workload, and its proxy if that is not running.")
    _lifecycle("restart", "Restart a workload; its proxy re-attaches (or is restarted if dead).")

    @root.command("rm")
    def rm(ctx: typer.Context, names: list[str] | None = typer.Argument(None, autocompletion=workload_names),
           all_: bool = typer.Option(False, "--all", help="Remove every workload."),
           socket: str | None = _SOCKET, json_output: bool = _JSON) -> None:
        """Remove workloads; with several, reports partial success (exit 8)."""
        from toolhive_py.clients.api import disconnect_everywhere
        from toolhive_py.errors import ExitCode, MCPCTLError, UsageError
        from toolhive_py.proxy.supervisor import stop_proxy
        from toolhive_py.runtime.workloads import list_workloads, remove_workload

        if not names and not all_:
            raise UsageError("Name a workload or pass --all.")
        removed, errors = [], []
        with _engine(ctx, socket) as engine:
            targets = [w.name for w in list_workloads(engine, include_stopped=True)] if all_ else list(names or [])
            for target in targets:
                try:
                    remove_workload(engine, target)
                    stop_proxy(get_state(ctx).paths, target)
                    for client_id in disconnect_everywhere(get_state(ctx).paths, target):
                        err_console().print(f"disconnected {target} from {client_id}", highlight=False)
                    removed.append(target)
                except MCPCTLError as error:
                    errors.append({"name": target, **error.to_dict()})
        status = "ok" if not errors else ("partial" if removed else "error")
        if json_output:
            print_json("rm", {"removed": removed}, status=status, errors=errors)
        else:
            for target in removed:
                console().print(f"removed {target}", highlight=False)
            for failure in errors:
                err_console().print(f"[red]✗[/] {failure['name']}: {failure['message']}", highlight=False)
        if errors:
            code = ExitCode.PARTIAL if removed else ExitCode.NOT_FOUND
            raise typer.Exit(int(code))

    @root.command("logs")
    def logs(ctx: typer.Context, name: str = _WORKLOAD, follow: bool = typer.Option(False, "--follow", "-f"),
             tail: str = typer.Option("all", "--tail"),
             proxy: bool = typer.Option(False, "--proxy", help="Show the proxy's log instead of the server's."),
             socket: str | None = _SOCKET) -> None:
        """Show a workload's stderr/stdout log (or its proxy's, with --proxy)."""
        from toolhive_py.runtime.workloads import workload_logs

        if proxy:
            from toolhive_py.cli.proxy_cmd import follow_lines
            from toolhive_py.errors import NotFoundError
            from toolhive_py.proxy.supervisor import proxy_log_path

            path = proxy_log_path(get_state(ctx).paths, name)
            if not path.exists():
                raise NotFoundError(f"No proxy log for {name}.", hint="Is it a workload started with `mcpctl run`?")
            for line in follow_lines(path, follow=follow):
                sys.stdout.write(line)
                sys.stdout.flush()
            return

        with _engine(ctx, socket) as engine:
            for chunk in workload_logs(engine, name, follow=follow, tail=int(tail) if tail.isdigit() else "all"):
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()

    @root.command("status")
    def status(ctx: typer.Context, name: str = _WORKLOAD, socket: str | None = _SOCKET, json_output: bool = _JSON) -> None:
        """Show one workload."""
        from toolhive_py.runtime.workloads import get_workload

        with _engine(ctx, socket) as engine:
            workload = get_workload(engine, name)
        shown = {**workload.to_dict(), "proxy": _proxy_column(get_state(ctx).paths, workload)}
        if json_output:
            print_json("status", shown)
            return
        print_table(None, ["FIELD", "VALUE"], [(k, v) for k, v in shown.items()])

    @runtime_app.command("status")
    def runtime_status(ctx: typer.Context, socket: str | None = _SOCKET, json_output: bool = _JSON) -> None:
        """Which engine and socket mcpctl uses, and why."""
        with _engine(ctx, socket) as engine:
            info = engine.describe()
        if json_output:
            print_json("runtime status", info)
            return
        print_table(None, ["FIELD", "VALUE"], list(info.items()))

    root.add_typer(runtime_app, name="runtime")
