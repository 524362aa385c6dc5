"""The hardened container spec: one pure function from (what to run, options) to engine kwargs.

Hardening is the default, not an option: a numeric non-root user (never uid 0, see ``resolve_user``), read-only
root filesystem, a small noexec tmpfs at /tmp, every capability dropped, no-new-privileges, the engine's default
seccomp profile, an init as PID 1, pids/memory/CPU limits, an explicit nofile ulimit, no host mounts unless granted
(read-only unless ``:rw``), and network ``none`` unless the permission profile grants egress. Processes are bounded
by the cgroup pids limit, per container, never by a per-uid nproc ulimit. ``hardened_settings`` is that set for
every container mcpctl starts: workloads, egress filters and build probes.
Each workload runs as a uid:gid of its own (``runtime.uids``, label ``io.mcpctl.uid``) with HOME on the /tmp tmpfs.
Secret *names* are part of the spec, never their values: with a launcher interpreter in the image the entrypoint
becomes ``runtime.launcher``'s, which takes the values from the proxy on stdin; only with ``allow_env_secrets``
do they go into the container's stored environment, added by the caller at create time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from toolhive_py.errors import UsageError
from toolhive_py.registry.models import OutboundPermissions, Permissions
from toolhive_py.runtime import labels
from toolhive_py.runtime.labels import container_name
from toolhive_py.runtime.launcher import build_launcher_entrypoint
from toolhive_py.runtime.limits import DEFAULT_CPUS, DEFAULT_MEMORY
from toolhive_py.runtime.uids import UID_BASE, UID_COUNT

__all__ = [
    "DEFAULT_CPUS",
    "DEFAULT_MEMORY",
    "NOBODY",
    "NOFILE",
    "PIDS_LIMIT",
    "ContainerSpec",
    "Mount",
    "RunRequest",
    "SecretInjection",
    "build_container_spec",
    "container_name",
    "hardened_settings",
    "host_nproc_ceiling",
    "nproc_ceiling",
    "parse_memory",
    "parse_permission_profile",
    "parse_volume",
    "resolve_user",
    "user_needs_accounts",
]

NOBODY_ID: Final = 65534
NOBODY: Final = f"{NOBODY_ID}:{NOBODY_ID}"
# Docker refuses ids above 2**31 - 1 ("uids and gids must be in range"), and a larger number an engine parsed into
# a 32-bit id would wrap (2**32 is root): only ids in range are taken as they are.
_MAX_ID: Final = 2**31 - 1
_NUMERIC: Final = re.compile(r"^[0-9]{1,10}$")
PIDS_LIMIT: Final = 256
NOFILE: Final = 4096
_DEFAULT_PID_MAX: Final = 32768  # the kernel's own default for /proc/sys/kernel/pid_max
TMPFS: Final = {"/tmp": "rw,noexec,nosuid,nodev,size=64m"}  # noqa: S108 - a private tmpfs inside the container
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_MEMORY: Final = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)
# An allocated uid has no home in the image: HOME (and so every cache under it) is on the writable tmpfs.
_WORKLOAD_HOME: Final = "/tmp"  # noqa: S108 - the container's private tmpfs


class SecretInjection(StrEnum):
    """How a workload's secret values reach its server (label ``io.mcpctl.secret-injection``)."""

    NONE = "none"  # it has no secrets
    STDIN = "stdin"  # the launcher's first frame on stdin, sent by the proxy: no copy in the engine
    ENV = "env"  # the container's stored environment (``--allow-env-secrets``): `inspect` shows them


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class RunRequest:
    """What to run and how; everything ``build_container_spec`` needs, nothing it has to look up."""

    name: str
    image: str
    # The image's USER, best already resolved to ``uid:gid`` against the image's own accounts
    # (``images.ensure_image`` does); a name left unresolved runs as nobody.
    image_user: str = ""
    # The ID ``image`` resolved to when it was checked (digest pin, local build): the container is created from
    # exactly that image, so a tag moved or rebuilt in between cannot swap it. Empty in a dry run.
    image_id: str = ""
    transport: str = "stdio"
    target_port: int | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env_names: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    permissions: Permissions = Permissions()
    memory: str = DEFAULT_MEMORY
    cpus: float = DEFAULT_CPUS
    vetted: bool = False
    server: str | None = None
    registry: str | None = None
    proxy_port: int | None = None
    policy_json: str | None = None
    owner: str = ""  # the creating user's uid (label io.mcpctl.owner)
    # The workload's own uid (and gid), from ``runtime.uids.allocate_uid``; None (a dry run): the image's user.
    uid: int | None = None
    # The image's python3 or POSIX sh that runs the secrets launcher; "" when it has neither, None when not looked
    # at (a dry run). With the image's ENTRYPOINT and CMD, the launcher's command is what the image would run.
    launcher: str | None = None
    image_entrypoint: tuple[str, ...] = ()
    image_cmd: tuple[str, ...] = ()
    allow_env_secrets: bool = False
    secret_sources: Mapping[str, str] = field(default_factory=dict)  # env var -> secret name in the backend
    secret_backend: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    """Keyword arguments for the docker SDK's ``containers.create``, minus secret values."""

    kwargs: Mapping[str, Any]
    secret_env_names: tuple[str, ...]
    # Set when only some hosts may be reached: the workload's internal network needs its egress filter.
    egress: OutboundPermissions | None = None
    secret_injection: SecretInjection = SecretInjection.NONE

    def to_display(self) -> dict[str, Any]:
        """The spec as `--dry-run` shows it: secrets appear by name only."""
        shown = {k: v for k, v in self.kwargs.items() if k != "ulimits"}
        shown["ulimits"] = {u["Name"]: {"soft": u["Soft"], "hard": u["Hard"]} for u in self.kwargs.get("ulimits", [])}
        shown["secret_environment"] = list(self.secret_env_names)
        shown["secret_injection"] = self.secret_injection.value
        return shown


def nproc_ceiling(pid_max: int, hard_limit: int) -> int:
    """An nproc ulimit that bounds nothing: the host's pid ceiling, which no uid can reach, or the hard nproc limit
    this user already has (``-1``: unlimited) when that is lower, since a rootless engine cannot raise past it."""
    return pid_max if hard_limit < 0 else min(pid_max, hard_limit)


@cache
def host_nproc_ceiling() -> int:
    """``nproc_ceiling`` for this host (/proc/sys/kernel/pid_max) and this process's own hard RLIMIT_NPROC."""
    import resource

    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text().strip())
    except (OSError, ValueError):
        pid_max = _DEFAULT_PID_MAX
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    return nproc_ceiling(pid_max, -1 if hard == resource.RLIM_INFINITY else hard)


def hardened_settings(*, memory: int, pids_limit: int = PIDS_LIMIT, user: str = NOBODY, nofile: int = NOFILE,
                      nproc: int | None = None) -> dict[str, Any]:
    """The engine kwargs every container mcpctl starts shares (workload, egress filter, build probe), defined once.

    Processes are bounded by ``pids_limit``, the container's own cgroup. RLIMIT_NPROC is no bound here: without a
    user namespace it counts every process of that uid on the host, across containers (64 for the egress filter's
    uid 65534 killed it once ~10 workloads ran). Podman as root still sets an nproc ulimit of its own (4194304),
    above what an engine without CAP_SYS_RESOURCE may set, and then no container starts; so one is given, at
    ``host_nproc_ceiling``, which bounds nothing. An init as PID 1 (Docker's docker-init, Podman's catatonit) forwards
    SIGTERM to a server that, as PID 1, would ignore it: stop and restart take a fraction of a second, not the 10 s
    kill timeout.
    """
    from docker.types import Ulimit  # the SDK's own type keeps create() happy on Docker and Podman

    nproc = host_nproc_ceiling() if nproc is None else nproc
    return {
        "user": user,
        "read_only": True,
        "tmpfs": dict(TMPFS),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "pids_limit": pids_limit,
        "mem_limit": memory,
        "ulimits": [Ulimit(name="nofile", soft=nofile, hard=nofile), Ulimit(name="nproc", soft=nproc, hard=nproc)],
    }


def parse_memory(value: str) -> int:
    match = _MEMORY.match(value.strip())
    if not match:
        raise UsageError(f"Invalid memory limit {value!r}.", hint="Use a size such as 256m or 1g.")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def parse_volume(value: str) -> Mount:
    """``HOST:CONTAINER[:ro|:rw]``; read-only unless ``:rw``. The host path must exist."""
    parts = value.split(":")
    mode = "ro"
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        mode = parts.pop()
    if len(parts) != 2 or not parts[0] or not parts[1].startswith("/"):
        raise UsageError(f"Invalid volume {value!r}.", hint="Use HOST_PATH:/container/path[:ro|:rw].")
    host = Path(parts[0]).expanduser().resolve()
    if not host.exists():
        raise UsageError(f"Volume source {host} does not exist.", hint="Create it or fix the path.")
    return Mount(str(host), parts[1], read_only=mode == "ro")


def parse_permission_profile(value: str, default: Permissions) -> Permissions:
    """``none``, ``network`` (any egress), or a ToolHive-style permission-profile JSON file."""
    if value == "none":
        return Permissions()
    if value == "network":
        return Permissions.model_validate({"network": {"outbound": {"insecure_allow_all": True}}})
    if value == "default":
        return default
    path = Path(value).expanduser()
    try:
        return Permissions.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"Cannot read permission profile {path}: {exc.strerror}.",
                         hint="Use none, network, or a JSON file.", code="invalid-profile") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"Invalid permission profile {path}: {problems}",
                         hint='Expected {"read": [], "write": [], "network": {"outbound": {"allow_host": [], '
                              '"allow_port": [], "insecure_allow_all": false}}}.', code="invalid-profile") from exc


def _network_mode(permissions: Permissions, workload: str) -> str:
    """``bridge`` for full egress, the workload's internal egress network for an allowlist, else ``none``."""
    outbound = permissions.network.outbound
    if outbound.insecure_allow_all:
        return "bridge"
    if outbound.allow_host:
        return labels.egress_network_name(workload)
    return "none"


def _numeric(value: str) -> int | None:
    number = int(value) if _NUMERIC.match(value) else None
    return number if number is not None and number <= _MAX_ID else None


def _lookup(table: str, name: str, fields: int) -> list[str] | None:
    """The first ``name:...`` line of an /etc/passwd or /etc/group text, as libc's getpwnam/getgrnam finds it."""
    for line in table.splitlines():
        parts = line.split(":")
        if len(parts) >= fields and parts[0] == name:
            return parts
    return None


def _primary_gid(passwd: str, uid: int) -> int | None:
    for line in passwd.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and _numeric(parts[2]) == uid:
            return _numeric(parts[3])
    return None


def user_needs_accounts(image_user: str) -> bool:
    """True when resolving ``image_user`` needs the image's /etc/passwd or /etc/group (a name, or no group)."""
    user, _, group = image_user.partition(":")
    return bool(user) and (_numeric(user) is None or not group or _numeric(group) is None)


def resolve_user(image_user: str, passwd: str = "", group: str = "") -> str:
    """The numeric ``uid:gid`` a workload runs as, from the image's USER and its /etc/passwd and /etc/group texts.

    The engine resolves USER inside the image, so ``00``, ``0000``, ``0:0`` and any name that is uid 0 in the
    image's own passwd all mean root. Resolved here, numerically, and handed to the engine as numbers, nothing is
    left for the image to decide. Never uid 0 nor gid 0: root, an empty USER, and anything that does not resolve
    (an unknown name or group, a malformed or out-of-range id) run as nobody, 65534:65534. With no group given, the
    gid is the user's primary group from passwd, as the engine would pick it (nobody's when none is found or it is 0).

        >>> resolve_user("0000"), resolve_user("app", "app:x:1000:1000::/home/app:/bin/sh")
        ('65534:65534', '1000:1000')
    """
    user_part, has_group, group_part = image_user.partition(":")
    uid = _numeric(user_part)
    primary: int | None = None
    if uid is None:
        entry = _lookup(passwd, user_part, 4) if user_part else None
        if entry is None:
            return NOBODY
        uid, primary = _numeric(entry[2]), _numeric(entry[3])
    else:
        primary = _primary_gid(passwd, uid)
    if uid is None or uid == 0:
        return NOBODY
    if has_group:
        gid = _numeric(group_part)
        if gid is None:
            entry = _lookup(group, group_part, 3) if group_part else None
            if entry is None:
                return NOBODY
            gid = _numeric(entry[2])
            if gid is None:
                return NOBODY
    else:
        gid = primary if primary is not None else NOBODY_ID
    return f"{uid}:{gid or NOBODY_ID}"


def build_container_spec(request: RunRequest, *, now: datetime | None = None) -> ContainerSpec:
    if not _NAME.match(request.name):
        raise UsageError(f"Invalid workload name {request.name!r}.",
                         hint="Use lower-case letters, digits, '.', '_' and '-' (at most 63).")
    if request.cpus <= 0:
        raise UsageError("--cpus must be greater than 0.")
    overlap = set(request.env) & set(request.secret_env_names)
    if overlap:
        raise UsageError(f"{', '.join(sorted(overlap))} is given both as a plain value and as a secret.")
    network_mode = _network_mode(request.permissions, request.name)
    if request.transport != "stdio" and network_mode != "bridge":
        raise UsageError(
            f"A {request.transport} server needs a network for the proxy to reach it.",
            hint="Run it with --permission-profile network.", code="http-needs-network",
        )
    outbound = request.permissions.network.outbound
    egress = outbound if outbound.allow_host and not outbound.insecure_allow_all else None
    injection = _secret_injection(request)
    workload_labels = {
        labels.MANAGED: "true",
        labels.NAME: request.name,
        labels.SERVER: request.server or request.image,
        labels.REGISTRY: request.registry or "",
        labels.VETTED: "true" if request.vetted else "false",
        labels.TRANSPORT: request.transport,
        labels.IMAGE: request.image,
        labels.SECRET_ENV: ",".join(request.secret_env_names),
        labels.PERMISSION_PROFILE: json.dumps(request.permissions.model_dump(mode="json"), separators=(",", ":")),
        labels.CREATED: (now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
    }
    if request.proxy_port is not None:
        workload_labels[labels.PROXY_PORT] = str(request.proxy_port)
    if request.policy_json:
        workload_labels[labels.POLICY] = request.policy_json
    if request.owner:
        workload_labels[labels.OWNER] = request.owner
    if request.secret_env_names:
        workload_labels[labels.SECRET_INJECTION] = injection.value
        workload_labels[labels.SECRETS] = ",".join(
            f"{request.secret_sources.get(env, env)}={env}" for env in request.secret_env_names)
        workload_labels[labels.SECRET_BACKEND] = request.secret_backend
    environment = dict(request.env)
    user = resolve_user(request.image_user)
    if request.uid is not None:
        if not UID_BASE <= request.uid < UID_BASE + UID_COUNT:
            raise RuntimeError(f"workload uid {request.uid} is outside mcpctl's range")  # a caller bug
        user = f"{request.uid}:{request.uid}"
        workload_labels[labels.UID] = str(request.uid)
        environment.setdefault("HOME", _WORKLOAD_HOME)
    kwargs: dict[str, Any] = {
        "image": request.image_id or request.image,
        "name": container_name(request.name),
        "command": list(request.args) or None,
        "environment": environment,
        "labels": workload_labels,
        **hardened_settings(memory=parse_memory(request.memory), user=user),
        "nano_cpus": int(request.cpus * 1e9),
        "network_mode": network_mode,
        "volumes": {m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in request.mounts},
        # Also for an HTTP server with a launcher: its proxy attaches once to send the frame.
        "stdin_open": request.transport == "stdio" or injection is SecretInjection.STDIN,
        "tty": False,
        "detach": True,
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 5},
    }
    if request.transport != "stdio" and request.target_port:
        kwargs["ports"] = {f"{request.target_port}/tcp": ("127.0.0.1", None)}
    if injection is SecretInjection.STDIN and request.launcher:
        # The engine drops the image's CMD once the entrypoint is set: the server's argv is spelled out whole.
        server_argv = [*request.image_entrypoint, *(request.args or request.image_cmd)]
        if not server_argv:
            raise UsageError(f"{request.image} has neither an ENTRYPOINT nor a CMD to run.",
                             hint="Give the server's command as arguments after the image.", code="no-command")
        kwargs["entrypoint"] = build_launcher_entrypoint(request.launcher)
        kwargs["command"] = server_argv
    return ContainerSpec(kwargs, tuple(request.secret_env_names), egress, injection)


def _secret_injection(request: RunRequest) -> SecretInjection:
    """stdin when the image can run the launcher (or was not looked at), env only when allowed, else refused."""
    if not request.secret_env_names:
        return SecretInjection.NONE
    if request.launcher is None or request.launcher:
        return SecretInjection.STDIN
    if request.allow_env_secrets:
        return SecretInjection.ENV
    raise UsageError(
        f"{request.image} has no python3 and no POSIX sh to run mcpctl's secrets launcher, so "
        f"{', '.join(request.secret_env_names)} could only be passed in the container's stored environment, "
        "where `inspect` and the engine's files on disk show it.",
        hint="Pass --allow-env-secrets to accept that, or use an image with a shell.", code="no-launcher")

