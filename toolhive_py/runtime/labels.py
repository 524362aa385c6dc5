"""Every ``io.mcpctl.*`` label key, defined once; workloads are found and rebuilt from these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "CREATED",
    "IMAGE",
    "MANAGED",
    "NAME",
    "PERMISSION_PROFILE",
    "POLICY",
    "PROXY_PORT",
    "REGISTRY",
    "SECRET_ENV",
    "SERVER",
    "TRANSPORT",
    "VETTED",
    "is_managed",
    "managed_filter",
]

_PREFIX: Final = "io.mcpctl."
MANAGED: Final = _PREFIX + "managed"
NAME: Final = _PREFIX + "name"
SERVER: Final = _PREFIX + "server"
REGISTRY: Final = _PREFIX + "registry"
VETTED: Final = _PREFIX + "vetted"
TRANSPORT: Final = _PREFIX + "transport"
IMAGE: Final = _PREFIX + "image"
PERMISSION_PROFILE: Final = _PREFIX + "permission-profile"
# Names of the env vars that carry secrets (never their values), so restarts know what to resolve.
SECRET_ENV: Final = _PREFIX + "secret-env"
CREATED: Final = _PREFIX + "created"
# The loopback port of the workload's proxy; chosen once at creation so a name keeps its URL.
PROXY_PORT: Final = _PREFIX + "proxy-port"
# The proxy's tool policy (allow/deny/rate limit) as JSON, so restarts keep it.
POLICY: Final = _PREFIX + "policy"


def is_managed(labels: Mapping[str, str] | None) -> bool:
    return bool(labels) and labels.get(MANAGED) == "true"  # type: ignore[union-attr]  # checked by bool()


def managed_filter(name: str | None = None) -> dict[str, str | list[str] | bool]:
    """A docker API label filter for mcpctl's containers, optionally one workload."""
    labels = [f"{MANAGED}=true"]
    if name is not None:
        labels.append(f"{NAME}={name}")
    return {"label": labels}
