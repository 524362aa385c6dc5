"""Containers that are MCP servers: mcpctl's own (by label) and others (by a known MCP label or image name)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from toolhive_py.runtime import labels as mcpctl_labels

__all__ = ["MCP_LABELS", "RunningContainer", "find_containers", "is_mcp_container"]

_MCP_IMAGE = re.compile(r"(?i)(^|[/_.-])mcp([/_.:-]|$)|mcp-server|server-mcp|toolhive|dockyard")
# Label keys that mark a container as an MCP server, each set by a tool that runs them. Matched exactly:
# a substring test on "mcp" would also catch every `io.mcpctl.*` label, including test-only ones.
MCP_LABELS: Final = (
    "io.modelcontextprotocol.server.name",  # the official MCP registry's OCI ownership label
    "toolhive",  # ToolHive's marker on the containers it runs (pkg/labels LabelToolHive)
    "toolhive-name",
)


@dataclass(frozen=True)
class RunningContainer:
    id: str
    name: str
    image: str
    managed: bool
    env: dict[str, str]
    args: list[str]


def is_mcp_container(labels: Mapping[str, str], image: str) -> bool:
    """mcpctl's own, labelled by another MCP tool, or an image whose name says MCP."""
    return (mcpctl_labels.is_managed(labels) or any(key in labels for key in MCP_LABELS)
            or bool(_MCP_IMAGE.search(image)))


def find_containers(client: Any) -> list[RunningContainer]:
    """Running containers on one engine (a docker SDK client) that are MCP servers."""
    found = []
    for container in client.containers.list():
        labels = container.labels or {}
        config = container.attrs.get("Config") or {}
        image = str(config.get("Image") or "")
        if not is_mcp_container(labels, image):
            continue
        env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
        found.append(RunningContainer(str(container.id), container.name, image, mcpctl_labels.is_managed(labels), env,
                                      list(config.get("Cmd") or [])))
    return found
