"""A small MCP server on the mcp 2.x SDK, used by the end-to-end tests.

Its tools let tests look inside the container they run in: who it runs as and what its environment
holds (to check secret injection). stdio by default; ``--transport streamable-http --port N`` for HTTP.
"""

from __future__ import annotations

import argparse
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("mcpctl-test-server", version="1.0.0")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def get_env(name: str) -> str:
    """Return an environment variable's value, or an empty string."""
    return os.environ.get(name, "")


@server.tool()
def whoami() -> str:
    """Return 'uid:gid' of the server process."""
    return f"{os.getuid()}:{os.getgid()}"


@server.resource("test://greeting")
def greeting() -> str:
    return "hello from the test server"


@server.prompt()
def review(code: str) -> str:
    return f"Please review:\n{code}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="0.0.0.0", port=args.port)  # noqa: S104 - inside a container


if __name__ == "__main__":
    main()
