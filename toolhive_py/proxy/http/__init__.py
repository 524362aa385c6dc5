"""The proxy's HTTP front: ``app`` assembles it; ``sessions`` (session-era Streamable HTTP), ``stateless``
(2026-07-28), ``sse`` (2024-11-05) serve the transports; ``wire`` holds what they share."""

from __future__ import annotations

__all__: list[str] = []
