"""The neutral description of a workload that every export format renders, built from ``run``'s container spec.

Policy: nothing here decides hardening. ``build_export_model`` reads the engine kwargs that
``runtime.spec.build_container_spec`` produced for ``run`` (user, read-only root, tmpfs, capabilities,
no-new-privileges, seccomp, init, limits, ulimits, network, mounts) and the workload's labels (provenance,
secret names), so a new hardening flag in the spec shows up here or fails the parity test
(``tests/unit/test_export_parity.py``). Secret *values* never reach this module: the spec carries names only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from toolhive_py.runtime import labels
from toolhive_py.runtime.spec import ContainerSpec

__all__ = [
    "HARDENING_KEYS",
    "ExportFormat",
    "ExportedWorkload",
    "ImagePin",
    "NetworkAccess",
    "SecretRef",
    "VaultLocation",
    "VolumeRef",
    "build_export_model",
]


class ExportFormat(StrEnum):
    KUBERNETES = "kubernetes"
    TOOLHIVE = "toolhive"
    COMPOSE = "compose"


# Every engine kwarg of ``hardened_settings`` plus the per-workload ones that carry hardening, each with the
# property of docs/security.md it stands for. The parity test fails when the spec grows a key missing here.
HARDENING_KEYS: Final[Mapping[str, str]] = {
    "user": "non-root numeric uid:gid, one per workload",
    "read_only": "read-only root filesystem",
    "tmpfs": "a small noexec,nosuid,nodev tmpfs at /tmp",
    "cap_drop": "every capability dropped",
    "security_opt": "no-new-privileges (and the default seccomp profile, never unconfined)",
    "init": "an init as PID 1",
    "pids_limit": "pids limit",
    "mem_limit": "memory limit",
    "nano_cpus": "CPU limit",
    "ulimits": "explicit nofile ulimit (nproc set to a ceiling that bounds nothing)",
    "network_mode": "network none unless granted; an allowlist otherwise",
    "volumes": "no host mounts unless granted, read-only unless :rw",
    "image": "image pinned by digest or local image ID when known",
}


class NetworkAccess(StrEnum):
    NONE = "none"
    ALLOWLIST = "allowlist"
    ALL = "all"


@dataclass(frozen=True)
class SecretRef:
    """An env var filled from a secret, by name: ``secret`` is its name in mcpctl's backend."""

    env: str
    secret: str


@dataclass(frozen=True)
class VaultLocation:
    """Where the Vault backend keeps secrets (``{mount}/data/{prefix}/{name}``, key ``value``)."""

    mount: str = "secret"
    prefix: str = "mcpctl"

    def key(self, secret: str) -> str:
        return f"{self.prefix}/{secret}" if self.prefix else secret


@dataclass(frozen=True)
class VolumeRef:
    name: str  # a DNS-1123 label derived from the container path, unique within the workload
    source: str  # the host path `run` mounts
    target: str
    read_only: bool


@dataclass(frozen=True)
class ImagePin:
    """The reference a cluster pulls, and how firmly it is pinned."""

    reference: str  # what to put in ``image:``: ``repo@sha256:…`` when pinned by digest, else the tag
    tag: str  # the registry entry's image (tag), for provenance
    digest: str = ""  # sha256:… of the registry manifest when known
    local_id: str = ""  # the engine's image ID (a local build): not pullable, so push it and pin its digest
    package: str = ""  # the npx:// or uvx:// source a local build makes this image from

    @property
    def pinned(self) -> bool:
        return bool(self.digest)


@dataclass(frozen=True)
class ExportedWorkload:
    """One workload as every format needs it; ``hardening`` keeps the spec's own values for the parity test."""

    name: str
    server: str
    registry: str
    vetted: bool
    transport: str
    image: ImagePin
    uid: int
    gid: int
    read_only_root: bool
    tmpfs: Mapping[str, str]  # path -> mount options, as the spec gives them
    tmpfs_size: str  # e.g. "64Mi" for Kubernetes, "64m" for compose
    cap_drop: tuple[str, ...]
    no_new_privileges: bool
    seccomp_default: bool
    init: bool
    pids_limit: int
    memory_bytes: int
    nano_cpus: int
    nofile: int
    network: NetworkAccess
    allow_hosts: tuple[str, ...]
    allow_ports: tuple[int, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    secrets: tuple[SecretRef, ...]
    secret_backend: str
    vault: VaultLocation | None
    volumes: tuple[VolumeRef, ...]
    target_port: int | None
    policy_json: str
    hardening: Mapping[str, Any]

    @property
    def cpus(self) -> str:
        """The CPU limit in Kubernetes quantity form: whole cores as "1", else millicores."""
        millis = self.nano_cpus // 1_000_000
        return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"

    @property
    def memory(self) -> str:
        """The memory limit as a Kubernetes quantity (Mi when whole)."""
        mib, rest = divmod(self.memory_bytes, 1024**2)
        return f"{mib}Mi" if rest == 0 else str(self.memory_bytes)

    @property
    def needs_egress_gateway(self) -> bool:
        """NetworkPolicy matches IPs, not names: an allowlist of host names needs a gateway that filters by name."""
        return self.network is NetworkAccess.ALLOWLIST and bool(self.allow_hosts)


def _ids(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


def _tmpfs_size(options: str) -> str:
    size = next((o.removeprefix("size=") for o in options.split(",") if o.startswith("size=")), "64m")
    return size


def _volume_name(target: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() else "-" for c in target.lower()).strip("-")[:50] or "data"
    name, n = f"vol-{base}", 2
    while name in taken:
        name, n = f"vol-{base}-{n}", n + 1
    taken.add(name)
    return name


def _image(kwargs_image: str, tag: str, digest: str) -> ImagePin:
    if "@sha256:" in kwargs_image:
        return ImagePin(kwargs_image, tag, digest=kwargs_image.split("@", 1)[1])
    if kwargs_image.startswith("sha256:"):
        return ImagePin(f"{tag}@{digest}" if digest else tag, tag, digest=digest, local_id=kwargs_image)
    return ImagePin(f"{tag.split('@')[0]}@{digest}" if digest else kwargs_image, tag, digest=digest)


def build_export_model(spec: ContainerSpec, *, digest: str = "", vault: VaultLocation | None = None,
                       package: str = "") -> ExportedWorkload:
    """The neutral model of ``spec``, the container configuration ``run`` would create.

    ``digest`` is the image's registry digest when known (a vetted entry's pin, or the image's RepoDigests);
    ``vault`` says where secrets live when the workload's backend is Vault; ``package`` is the package source
    the image is built from locally (a cluster cannot pull such an image until someone pushes it).
    """
    kwargs = spec.kwargs
    found: Mapping[str, str] = kwargs.get("labels") or {}
    uid, gid = _ids(str(kwargs["user"]))
    ulimits = {u["Name"]: int(u["Hard"]) for u in kwargs.get("ulimits", [])}
    tmpfs: Mapping[str, str] = dict(kwargs.get("tmpfs") or {})
    security = tuple(kwargs.get("security_opt") or ())
    permissions = json.loads(found.get(labels.PERMISSION_PROFILE) or "{}")
    outbound = (permissions.get("network") or {}).get("outbound") or {}
    mode = str(kwargs.get("network_mode", "none"))
    network = (NetworkAccess.ALL if mode in ("bridge", "host") else
               NetworkAccess.NONE if mode == "none" else NetworkAccess.ALLOWLIST)
    sources = dict(pair.partition("=")[::2] for pair in found.get(labels.SECRETS, "").split(",") if pair)
    by_env = {env: secret for secret, env in sources.items()}
    taken: set[str] = set()
    volumes = tuple(
        VolumeRef(_volume_name(bind["bind"], taken), source, bind["bind"], bind.get("mode", "ro") != "rw")
        for source, bind in sorted((kwargs.get("volumes") or {}).items(), key=lambda item: item[1]["bind"]))
    backend = found.get(labels.SECRET_BACKEND, "")
    return ExportedWorkload(
        name=found.get(labels.NAME) or str(kwargs["name"]).removeprefix("mcpctl-"),
        server=found.get(labels.SERVER, ""),
        registry=found.get(labels.REGISTRY, ""),
        vetted=found.get(labels.VETTED) == "true",
        transport=found.get(labels.TRANSPORT, "stdio"),
        image=replace(_image(str(kwargs["image"]), found.get(labels.IMAGE) or str(kwargs["image"]), digest),
                      package=package),
        uid=uid,
        gid=gid,
        read_only_root=bool(kwargs.get("read_only")),
        tmpfs=tmpfs,
        tmpfs_size=_tmpfs_size(tmpfs.get("/tmp", "")),  # noqa: S108 - the container's own tmpfs
        cap_drop=tuple(kwargs.get("cap_drop") or ()),
        no_new_privileges="no-new-privileges" in security or "no-new-privileges:true" in security,
        seccomp_default=not any(o.startswith("seccomp") for o in security),
        init=bool(kwargs.get("init")),
        pids_limit=int(kwargs["pids_limit"]),
        memory_bytes=int(kwargs["mem_limit"]),
        nano_cpus=int(kwargs["nano_cpus"]),
        nofile=ulimits.get("nofile", 0),
        network=network,
        allow_hosts=tuple(outbound.get("allow_host") or ()) if network is NetworkAccess.ALLOWLIST else (),
        allow_ports=tuple(int(p) for p in outbound.get("allow_port") or ()),
        args=tuple(kwargs.get("command") or ()),
        env=dict(kwargs.get("environment") or {}),
        secrets=tuple(SecretRef(env, by_env.get(env, env)) for env in spec.secret_env_names),
        secret_backend=backend,
        vault=vault if backend == "vault" else None,
        volumes=volumes,
        target_port=next((int(port.split("/")[0]) for port in kwargs.get("ports") or {}), None),
        policy_json=found.get(labels.POLICY, ""),
        hardening={key: kwargs.get(key) for key in HARDENING_KEYS},
    )
