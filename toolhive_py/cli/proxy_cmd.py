"""Commands that talk to a workload's proxy: ``connect`` (stdio bridge) and ``audit`` (its request log)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import typer

from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import workload_names
from toolhive_py.cli.output import print_json, print_table

__all__ = ["follow_lines", "register"]

_SOCKET = typer.Option(None, "--runtime-socket", help="Engine socket/URL (overrides setting and env).",
                       envvar="MCPCTL_RUNTIME_SOCKET")


def follow_lines(path: Path, *, follow: bool, poll: float = 0.2) -> Iterator[str]:
    """The file's lines, then (with ``follow``) new ones as they are appended, like ``tail -f``."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        while True:
            line = handle.readline()
            if line:
                yield line
            elif not follow:
                return
            else:
                time.sleep(poll)


def register(root: typer.Typer) -> None:
    @root.command("connect")
    def connect(ctx: typer.Context, name: str = typer.Argument(..., help="Workload name.", autocompletion=workload_names),
                socket: str | None = _SOCKET) -> None:
        """Bridge stdio to a workload's proxy, for clients that can only start a command."""
        import anyio

        from toolhive_py.proxy.bridge import bridge
        from toolhive_py.proxy.supervisor import running_proxy

        paths = get_state(ctx).paths
        state = running_proxy(paths, name)
        if state is not None:
            url = state.url
        else:
            from toolhive_py.cli.workload_cmd import _engine, _ensure_proxy
            from toolhive_py.errors import MCPCTLError
            from toolhive_py.runtime.workloads import get_workload

            with _engine(ctx, socket) as engine:
                workload = get_workload(engine, name)
                if _ensure_proxy(paths, engine, workload) is None or workload.url is None:
                    raise MCPCTLError(f"Workload {name} has no proxy.", hint=f"Recreate it: mcpctl rm {name} && "
                                      "mcpctl run …", code="no-proxy")
                url = workload.url
        anyio.run(bridge, url)

    @root.command("audit")
    def audit(ctx: typer.Context, name: str = typer.Argument(..., help="Workload name.", autocompletion=workload_names),
              follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new records."),
              json_output: bool = typer.Option(False, "--json", help="Print records as JSON.")) -> None:
        """Show the proxy's audit log: one record per MCP request, never argument or result values."""
        from toolhive_py.errors import NotFoundError
        from toolhive_py.proxy.supervisor import audit_path

        path = audit_path(get_state(ctx).paths, name)
        if not path.exists():
            raise NotFoundError(f"No audit log for {name}.", hint="It appears once a client sends a request "
                                "through the workload's proxy.", path=str(path))
        if follow:
            for line in follow_lines(path, follow=True):
                sys.stdout.write(line)
                sys.stdout.flush()
            return
        records = [json.loads(line) for line in follow_lines(path, follow=False) if line.strip()]
        if json_output:
            print_json("audit", records)
            return
        print_table(None, ["TIME", "CLIENT", "METHOD", "TARGET", "MS", "OUTCOME"],
                    [(r["time"], f"{r.get('client_name') or '?'} {r.get('client_version') or ''}".strip(),
                      r["method"], r.get("target") or "", f"{r['duration_ms']:.1f}", r["outcome"]) for r in records])
