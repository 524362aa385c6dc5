"""Containers that are MCP servers: mcpctl's own (by label) and others (image or labels say MCP)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["RunningContainer", "find_containers"]

_MCP_IMAGE = re.compile(r"(?i)(^|[/_.-])mcp([/_.:-]|$)|mcp-server|server-mcp|toolhive|dockyard")


@dataclass(frozen=True)
class RunningContainer:
    name: str
    image: str
    managed: bool
    env: dict[str, str]
    args: list[str]
    engine: str


def find_containers(client: Any, engine: str) -> list[RunningContainer]:
    """Running containers on one engine (a docker SDK client) that are MCP servers."""
    found = []
    for container in client.containers.list():
        labels = container.labels or {}
        config = container.attrs.get("Config") or {}
        image = str(config.get("Image") or "")
        managed = labels.get("io.mcpctl.managed") == "true"
        labelled = any("mcp" in key.lower() or "toolhive" in key.lower() for key in labels)
        if not (managed or labelled or _MCP_IMAGE.search(image)):
            continue
        env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
        found.append(RunningContainer(container.name, image, managed, env, list(config.get("Cmd") or []), engine))
    return found
