"""Commands that talk to a workload's proxy: ``connect`` (stdio bridge) and ``audit`` (its request log)."""

from __future__ import annotations

import sys

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import print_json, print_table

__all__ = ["register"]


def register(root: typer.Typer) -> None:
    @root.command("connect")
    def connect(ctx: typer.Context, name: str = options.WORKLOAD,
                client: str | None = typer.Option(None, "--client", help="Send this client's proxy credential "
                                                  "(from the secret backend) with every request."),
                socket: str | None = options.RUNTIME_SOCKET) -> None:
        """Bridge stdio to a workload's proxy, for clients that can only start a command."""
        import anyio

        from toolhive_py import workloads
        from toolhive_py.proxy.bridge import bridge

        endpoint = workloads.bridge_endpoint(get_state(ctx).paths, name, client=client, socket=socket)
        anyio.run(bridge, endpoint.url, endpoint.token)

    @root.command("audit")
    def audit(ctx: typer.Context, name: str = options.WORKLOAD,
              follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new records."),
              json_output: bool = options.JSON) -> None:
        """Show the proxy's audit log: one record per MCP request, never argument or result values."""
        from toolhive_py import workloads

        paths = get_state(ctx).paths
        if follow:
            for line in workloads.audit_lines(paths, name, follow=True):
                sys.stdout.write(line)
                sys.stdout.flush()
            return
        records = workloads.audit_records(paths, name)
        if json_output:
            print_json("audit", records)
            return
        print_table(None, ["TIME", "CLIENT", "METHOD", "TARGET", "MS", "OUTCOME"],
                    [(r["time"], f"{r.get('client_name') or '?'} {r.get('client_version') or ''}".strip(),
                      r["method"], r.get("target") or "", f"{r['duration_ms']:.1f}", r["outcome"]) for r in records],
                    keep=("TIME",))
