"""`mcpctl scan`: every MCP server configured or running on a machine, its secrets and its risks."""
