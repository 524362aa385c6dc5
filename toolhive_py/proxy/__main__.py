"""``python -m toolhive_py.proxy``: the detached proxy process `mcpctl run` starts, also usable by hand.

    python -m toolhive_py.proxy --port 8700 --stdio -- python server.py
    python -m toolhive_py.proxy --port 8700 --container mcpctl-github --engine unix:///var/run/docker.sock
    python -m toolhive_py.proxy --port 8700 --remote https://api.example.com/mcp --remote-header 'X-Key: {KEY}'

argparse rather than the Typer app keeps this process's start-up small; it is spawned for every workload.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from toolhive_py.errors import MCPCTLError
from toolhive_py.proxy.backends import (
    BackendFactory,
    ContainerBackendFactory,
    HttpBackendFactory,
    ProcessBackendFactory,
)
from toolhive_py.proxy.guard import build_guards
from toolhive_py.proxy.http.sessions import SessionLimits
from toolhive_py.proxy.policy import ToolPolicy
from toolhive_py.proxy.server import ConnectionLimits, serve

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolhive_py.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default=None, help="server name for the audit log and metrics")
    parser.add_argument("--container", help="attach to this container's stdio")
    parser.add_argument("--engine", help="engine API URL for --container (unix:///… or tcp://…)")
    parser.add_argument("--upstream", choices=["stdio", "streamable-http", "sse"], default="stdio",
                        help="how the container's server speaks MCP")
    parser.add_argument("--target-port", type=int, default=0, help="the server's port inside the container")
    parser.add_argument("--policy", default=None, help="tool policy JSON (as stored in the workload label)")
    parser.add_argument("--tools", default=None, help="comma-separated allow-list")
    parser.add_argument("--deny-tools", default=None, help="comma-separated deny-list")
    parser.add_argument("--rate-limit", default=None, help="per-tool limit, e.g. 60/m")
    parser.add_argument("--audit-log", type=Path, default=None)
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the workload's state directory (tool pins, DLP fingerprints)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--stdio", action="store_true", help="run the command after `--` and proxy its stdio")
    parser.add_argument("--secrets-stdin", action="store_true",
                        help="read the container's secrets as one frame line on stdin (kept in memory only)")
    parser.add_argument("--idle-timeout", type=float, default=1800.0,
                        help="seconds an unused session lives before it is closed (default 30 min)")
    parser.add_argument("--max-sessions", type=int, default=256, help="sessions open at once; more get 503")
    parser.add_argument("--call-timeout", type=float, default=0.0,
                        help="seconds a tool call may wait for its answer, restarted by progress (0: no limit)")
    parser.add_argument("--tool-timeout", action="append", default=[], metavar="TOOL=SECONDS",
                        help="a tool's own call timeout (repeatable)")
    parser.add_argument("--input-timeout", type=float, default=120.0,
                        help="seconds a 2026-07-28 client has to answer a session-era server's question (default 2 min)")
    parser.add_argument("--max-connections", type=int, default=1000, help="connections at once; more get 503")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a client has to send a request's headers")
    parser.add_argument("--credentials", type=Path, default=None,
                        help="the workload's client credentials file: the MCP endpoints need a bearer token it "
                             "lists (re-read on change; while the file does not exist, no check)")
    parser.add_argument("--allow-uid", type=int, action="append", default=[], metavar="UID",
                        help="also let this local user connect (repeatable; by default only this user and root)")
    parser.add_argument("--remote", default=None, metavar="URL", help="proxy this remote (https) MCP server")
    parser.add_argument("--remote-header", action="append", default=[], metavar="'NAME: TEMPLATE'",
                        help="a header for the remote, {SECRET} placeholders filled from --secrets-stdin")
    parser.add_argument("--oauth", action="store_true",
                        help="the remote needs OAuth: its tokens come in the secrets frame (MCPCTL_OAUTH_STATE)")
    parser.add_argument("--ca-bundle", type=Path, default=None,
                        help="extra CA certificates (PEM) trusted for the remote, besides the system's")
    arguments = list(sys.argv[1:] if argv is None else argv)
    split = arguments.index("--") if "--" in arguments else len(arguments)
    args = parser.parse_args(arguments[:split])
    command = arguments[split + 1:]
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    secret_env = _read_secrets() if args.secrets_stdin else {}
    factory: BackendFactory
    if args.remote:
        factory = _remote_factory(parser, args, secret_env)
    elif args.stdio and command:
        factory = ProcessBackendFactory(tuple(command))
    elif args.container and args.engine and args.upstream != "stdio":
        factory = HttpBackendFactory(args.engine, args.container, args.target_port, args.upstream)
        if secret_env:
            factory = ContainerBackendFactory(args.engine, args.container, secret_env).in_front_of(factory)
    elif args.container and args.engine:
        factory = ContainerBackendFactory(args.engine, args.container, secret_env)
    else:
        parser.error("give --stdio -- COMMAND…, or --container NAME --engine URL")
    try:
        policy = (ToolPolicy.from_json(args.policy) if args.policy
                  else ToolPolicy.from_options(args.tools, args.deny_tools, args.rate_limit))
        guards = build_guards(args.state_dir, policy)
        limits = SessionLimits(idle_timeout=args.idle_timeout, max_sessions=args.max_sessions,
                               call_timeout=args.call_timeout, tool_timeouts=_tool_timeouts(parser, args.tool_timeout),
                               input_timeout=args.input_timeout)
        connections = ConnectionLimits(concurrency=args.max_connections, header_timeout=args.header_timeout)
        anyio.run(lambda: serve(factory, server_name=args.name or args.container or args.remote or "stdio", port=args.port,
                                policy=policy, audit_path=args.audit_log, guards=guards, limits=limits,
                                connections=connections, credentials=args.credentials,
                                allowed_uids=args.allow_uid))
    except MCPCTLError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)  # noqa: T201
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    return 0


def _remote_factory(parser: argparse.ArgumentParser, args: argparse.Namespace,
                    secret_env: dict[str, str]) -> BackendFactory:
    from toolhive_py.proxy.remote import OAUTH_STATE_KEY, RemoteBackendFactory
    from toolhive_py.remote.policy import parse_header, parse_remote_url

    try:
        url = parse_remote_url(args.remote).url
        headers = tuple(parse_header(value) for value in args.remote_header)
    except MCPCTLError as exc:
        parser.error(exc.message)
    transport = "sse" if args.upstream == "sse" else "streamable-http"
    oauth = None
    state = secret_env.pop(OAUTH_STATE_KEY, None)
    if args.oauth:
        from toolhive_py.auth.client import build_oauth
        from toolhive_py.auth.flow import redirect_port, redirect_uri
        from toolhive_py.auth.storage import MemoryTokenStorage, OAuthState

        storage = MemoryTokenStorage(OAuthState.from_json(state) if state else None)
        name = args.name or url
        # No one to answer a new authorization here: stored tokens are used and refreshed, anything more
        # fails with `mcpctl auth login NAME` as the fix.
        oauth = build_oauth(url, storage, redirect=redirect_uri(redirect_port(name)), authorize=None, workload=name)
    return RemoteBackendFactory(url, transport, headers, secret_env, args.ca_bundle, oauth=oauth,
                                workload=args.name or "")


def _tool_timeouts(parser: argparse.ArgumentParser, given: Sequence[str]) -> dict[str, float]:
    timeouts: dict[str, float] = {}
    for item in given:
        name, _, seconds = item.rpartition("=")
        try:
            timeouts[name] = float(seconds)
        except ValueError:
            parser.error(f"--tool-timeout {item!r}: give TOOL=SECONDS, e.g. build=600")
        if not name:
            parser.error(f"--tool-timeout {item!r}: give TOOL=SECONDS, e.g. build=600")
    return timeouts


def _read_secrets() -> dict[str, str]:
    """The frame the CLI writes on our stdin (never argv, env or a file), in ``runtime.launcher``'s format."""
    from toolhive_py.runtime.launcher import MAX_FRAME, parse_first_frame

    line = sys.stdin.buffer.readline(MAX_FRAME + 1)
    sys.stdin.close()
    try:
        return parse_first_frame(line.rstrip(b"\n"))
    except ValueError as exc:
        raise SystemExit(f"error: --secrets-stdin: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
