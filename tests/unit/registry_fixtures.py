"""Builders for signed registry documents used by the registry tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolhive_py.registry import minisign

__all__ = ["server", "write_signed"]


def server(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": "A private test server",
        "image": "registry.example/acme/widget:1.0.0",
        "transport": "stdio",
        "tools": ["make_widget"],
        "tags": ["widgets"],
    }
    entry.update(overrides)
    return entry


def write_signed(
    path: Path,
    servers: dict[str, Any],
    secret: minisign.SecretKey | None,
    *,
    version: int = 1,
    expires: str = "2099-01-01T00:00:00Z",
) -> Path:
    document = {"schema_version": 1, "version": version, "expires": expires, "servers": servers}
    path.write_text(json.dumps(document, indent=2))
    if secret is not None:
        signature = minisign.sign(path.read_bytes(), secret)
        path.with_name(path.name + ".minisig").write_text(signature.to_file_text())
    return path
