"""What MCP servers tell the model, checked: tool pinning (fingerprints and the per-workload pins store),
description screening and data-loss prevention.

Policy: decisions are pure functions (``fingerprints``, ``screening``, the comparison in ``pins``); file I/O
lives at the edges (``pins`` owns ``<workload state>/pins.json``). Nothing here imports the mcp SDK, so the
CLI can use it without the proxy's start-up cost.
"""

from __future__ import annotations

__all__: list[str] = []
