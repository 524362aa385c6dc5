"""The MCP protocol revisions the proxy knows, written out rather than imported from ``mcp_types`` so that the
proxy process (and the CLI) starts without loading the SDK; a unit test pins them to the SDK's values."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_NEGOTIATED_VERSION", "HANDSHAKE_PROTOCOL_VERSIONS", "MODERN_PROTOCOL_VERSIONS", "is_at_least"]

# Revisions with an initialize handshake (the session era), oldest first.
HANDSHAKE_PROTOCOL_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
# Stateless revisions: every request carries its version, client info and capabilities.
MODERN_PROTOCOL_VERSIONS: Final = ("2026-07-28",)
# What a session-era client that names no version speaks (the spec's fallback for a missing header).
DEFAULT_NEGOTIATED_VERSION: Final = "2025-03-26"


def is_at_least(version: str, minimum: str) -> bool:
    """Revisions are dates (YYYY-MM-DD), so they order as strings."""
    return version >= minimum
