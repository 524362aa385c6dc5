"""Names of the images scripts/build-test-images makes; tests refer to them only through these."""

from __future__ import annotations

from typing import Final

__all__ = ["BASE_IMAGE", "MCP_SERVER_IMAGE", "NODE_IMAGE"]

BASE_IMAGE: Final = "mcpctl-test/debian:bookworm"
MCP_SERVER_IMAGE: Final = "mcpctl-test/mcp-server:latest"
NODE_IMAGE: Final = "mcpctl-test/node:bookworm"
