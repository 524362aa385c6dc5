"""`mcpctl scan`: every MCP server configured or running on a machine, its secrets and its risks."""

from __future__ import annotations

__all__: list[str] = []
