"""Egress allowlists: a small HTTP/CONNECT filter that is a server's only way out of its internal network."""

from __future__ import annotations

__all__: list[str] = []
