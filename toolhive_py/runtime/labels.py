"""Every ``io.mcpctl.*`` label key and every engine object name mcpctl gives, defined once; workloads are found
and rebuilt from these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "BUILD_FINGERPRINT",
    "BUILD_PACKAGE",
    "CREATED",
    "EGRESS_FOR",
    "IMAGE",
    "MANAGED",
    "NAME",
    "OWNER",
    "PERMISSION_PROFILE",
    "POLICY",
    "PROXY_PORT",
    "REGISTRY",
    "SECRETS",
    "SECRET_BACKEND",
    "SECRET_ENV",
    "SECRET_INJECTION",
    "SERVER",
    "TRANSPORT",
    "UID",
    "VETTED",
    "container_name",
    "egress_filter",
    "egress_filter_name",
    "egress_network_name",
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
# Which secret in which backend becomes which env var (``SECRET=ENV,…``, names only) and the backend: what a
# proxy started again (after a crash, by `start`) resolves to hold the values for the next container start.
SECRETS: Final = _PREFIX + "secrets"
SECRET_BACKEND: Final = _PREFIX + "secret-backend"
# How secret values reach the server: ``stdin`` (the launcher's first frame, sent by the proxy; no copy in the
# engine) or ``env`` (the container's stored environment, only with ``--allow-env-secrets``).
SECRET_INJECTION: Final = _PREFIX + "secret-injection"
# The workload's own uid (and gid, the same number), allocated by ``runtime.uids``.
UID: Final = _PREFIX + "uid"
CREATED: Final = _PREFIX + "created"
# The loopback port of the workload's proxy; chosen once at creation so a name keeps its URL.
PROXY_PORT: Final = _PREFIX + "proxy-port"
# The proxy's tool policy (allow/deny/rate limit) as JSON, so restarts keep it.
POLICY: Final = _PREFIX + "policy"
# The uid of the user who created the workload: engines are shared by every user of a machine, and each sees
# only their own workloads unless they ask.
OWNER: Final = _PREFIX + "owner"
# On a workload's egress network and filter sidecar: the workload they belong to. Never on a workload itself, so
# these are not listed as workloads, and follow their workload's stop/start/rm.
EGRESS_FOR: Final = _PREFIX + "egress-for"
# On images built from a package source: the source, and a hash of every build input (an unchanged one is reused).
BUILD_PACKAGE: Final = _PREFIX + "build.package"
BUILD_FINGERPRINT: Final = _PREFIX + "build.fingerprint"


def container_name(workload: str) -> str:
    return f"mcpctl-{workload}"


def egress_network_name(workload: str) -> str:
    """The internal network of a workload whose egress is an allowlist: no route out but its filter."""
    return f"mcpctl-{workload}-egress"


def egress_filter_name(workload: str) -> str:
    return f"mcpctl-{workload}-egress-filter"


def egress_filter(workload: str) -> dict[str, str | list[str] | bool]:
    """A docker API label filter for a workload's egress network and filter sidecar."""
    return {"label": [f"{EGRESS_FOR}={workload}"]}


def is_managed(labels: Mapping[str, str] | None) -> bool:
    return bool(labels) and labels.get(MANAGED) == "true"  # type: ignore[union-attr]  # checked by bool()


def managed_filter(name: str | None = None) -> dict[str, str | list[str] | bool]:
    """A docker API label filter for mcpctl's containers, optionally one workload."""
    labels = [f"{MANAGED}=true"]
    if name is not None:
        labels.append(f"{NAME}={name}")
    return {"label": labels}
