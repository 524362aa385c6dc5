"""AI clients and their MCP config files: one catalog of facts (shared with `mcpctl scan`), lenient
readers, format-preserving edits and safe writes."""

from __future__ import annotations

__all__: list[str] = []
