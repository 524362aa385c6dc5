"""The local MCP proxy: one process per workload, serving Streamable HTTP and SSE on 127.0.0.1.

Clients talk to the proxy, never to the container: it multiplexes many client sessions onto one
stdio server, enforces the workload's tool policy and writes the audit log.
"""

from __future__ import annotations

__all__ = ["HOST"]

# The only address a proxy ever listens on. Defined here, not in server.py, so the CLI side (supervisor)
# knows it without importing the server stack (the mcp SDK and uvicorn: ~0.6 s).
HOST = "127.0.0.1"
