"""mcpctl: run vetted MCP servers in hardened containers behind a local proxy.

The package is split by concern: ``registry`` (signed server catalog), ``runtime`` (container engines),
``secrets`` (keyring, Vault, env), ``proxy`` (local MCP front), ``clients`` (AI client configs) and
``scan`` (shadow-AI inventory). ``cli`` is a thin Typer shell over them.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
