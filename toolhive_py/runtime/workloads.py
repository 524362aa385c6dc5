"""Workload lifecycle on an engine: create/start/stop/restart/remove/list/logs, all by labels.

The engine's labels are the state: ``list`` and ``status`` read them, so a lost state file loses
nothing. Secret values reach ``create`` only for a workload allowed plain env secrets; otherwise the
workload's proxy sends them to its launcher. They are never returned, stored or logged; reports carry
secret env *names* only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from toolhive_py.errors import ConflictError, EngineError, NotFoundError
from toolhive_py.runtime import egress, labels
from toolhive_py.runtime.engine import Engine, engine_errors
from toolhive_py.runtime.spec import ContainerSpec, SecretInjection

__all__ = ["Workload", "create_workload", "get_workload", "is_mine", "is_missing_init", "last_lines", "list_workloads", "remove_workload", "workload_logs",
           "restart_workload", "start_workload", "stop_workload", "used_uids"]


@dataclass(frozen=True)
class Workload:
    name: str
    container_id: str
    status: str
    image: str
    server: str
    registry: str
    vetted: bool
    transport: str
    created: str
    ports: dict[str, str]
    secret_env: tuple[str, ...]
    restart_count: int
    proxy_port: int | None = None
    policy_json: str = ""
    target_port: int | None = None
    owner: str = ""  # uid of the user who created it; "" for workloads made before owners were labelled
    uid: int | None = None  # its own uid:gid (label io.mcpctl.uid); None for workloads made before
    secret_sources: tuple[tuple[str, str], ...] = ()  # (secret name, env var) of each secret, names only
    secret_backend: str = ""
    # STDIN: its proxy must hold the values; ENV (workloads made before, or --allow-env-secrets), NONE: nothing to hand
    secret_injection: SecretInjection = SecretInjection.NONE

    @property
    def url(self) -> str | None:
        """Where clients connect: the workload's proxy, never the container."""
        return f"http://127.0.0.1:{self.proxy_port}/mcp" if self.proxy_port else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "image": self.image, "server": self.server,
                "registry": self.registry or None, "vetted": self.vetted, "transport": self.transport,
                "created": self.created, "ports": self.ports, "secret_env": list(self.secret_env),
                "restart_count": self.restart_count, "owner": self.owner or None, "url": self.url, "proxy_port": self.proxy_port, "container_id": self.container_id[:12]}


def is_mine(workload: Workload, uid: int | None = None) -> bool:
    """Whether this user created ``workload`` (engines are shared by every user of a machine). Workloads made
    before owners were labelled count as everyone's."""
    return workload.owner in ("", str(os.getuid() if uid is None else uid))


def _from_container(container: Any) -> Workload:
    attrs: dict[str, Any] = container.attrs
    found = container.labels or {}
    ports = {}
    for port, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if bindings:
            ports[port] = f"{bindings[0].get('HostIp', '')}:{bindings[0].get('HostPort', '')}"
    return Workload(
        name=found.get(labels.NAME, ""),
        container_id=str(container.id),
        status=str(container.status),
        image=found.get(labels.IMAGE, ""),
        server=found.get(labels.SERVER, ""),
        registry=found.get(labels.REGISTRY, ""),
        vetted=found.get(labels.VETTED) == "true",
        transport=found.get(labels.TRANSPORT, ""),
        created=found.get(labels.CREATED, ""),
        ports=ports,
        secret_env=tuple(n for n in found.get(labels.SECRET_ENV, "").split(",") if n),
        restart_count=int(attrs.get("RestartCount") or 0),
        proxy_port=int(found[labels.PROXY_PORT]) if found.get(labels.PROXY_PORT, "").isdigit() else None,
        policy_json=found.get(labels.POLICY, ""),
        owner=found.get(labels.OWNER, ""),
        uid=int(found[labels.UID]) if found.get(labels.UID, "").isdigit() else None,
        secret_sources=tuple((secret, env) for secret, _, env in
                             (pair.partition("=") for pair in found.get(labels.SECRETS, "").split(",")) if env),
        secret_backend=found.get(labels.SECRET_BACKEND, ""),
        secret_injection=_injection(found),
        target_port=next((int(p.split("/")[0]) for p in ((attrs.get("HostConfig") or {}).get("PortBindings") or {})),
                         None),
    )


def _injection(found: Mapping[str, str]) -> SecretInjection:
    try:
        return SecretInjection(found.get(labels.SECRET_INJECTION, ""))
    except ValueError:
        return SecretInjection.ENV if found.get(labels.SECRET_ENV) else SecretInjection.NONE


def _container(engine: Engine, name: str) -> Any:
    with engine_errors(f"Looking up workload {name}"):
        matches = engine.client.containers.list(all=True, filters=labels.managed_filter(name))
    if not matches:
        raise NotFoundError(f"No workload named {name!r}.", hint="`mcpctl list --all` shows workloads.",
                            code="unknown-workload")
    return matches[0]


def list_workloads(engine: Engine, *, include_stopped: bool = False) -> list[Workload]:
    with engine_errors("Listing workloads"):
        containers = engine.client.containers.list(all=include_stopped, filters=labels.managed_filter())
        return sorted((_from_container(c) for c in containers), key=lambda w: w.name)


def get_workload(engine: Engine, name: str) -> Workload:
    container = _container(engine, name)
    with engine_errors(f"Inspecting workload {name}"):
        container.reload()
        return _from_container(container)


def used_uids(engine: Engine) -> set[int]:
    """The uids every mcpctl workload on this engine holds, of any user, running or not."""
    with engine_errors("Listing the uids of workloads"):
        containers = engine.client.containers.list(all=True, filters=labels.managed_filter())
    return {int(value) for c in containers if (value := (c.labels or {}).get(labels.UID, "")).isdigit()}


def create_workload(engine: Engine, spec: ContainerSpec, secret_values: Mapping[str, str], *,
                    egress_image: str | None = None) -> Workload:
    """Create and start the container; ``secret_values`` go into its environment only when the spec injects
    secrets as env (``--allow-env-secrets``); otherwise they are the proxy's to send.

    With an egress allowlist, the internal network and its filter sidecar (``egress_image``) come first.
    """
    name = spec.kwargs["labels"][labels.NAME]
    with engine_errors("Checking the workload name"):
        taken = engine.client.containers.list(all=True, filters=labels.managed_filter(name))
    if taken:
        raise ConflictError(f"A workload named {name!r} exists already.",
                            hint=f"Pick another --name, or remove it: `mcpctl rm {name}`.", code="name-in-use")
    missing = set(spec.secret_env_names) - set(secret_values)
    if missing:
        raise RuntimeError(f"secret values missing for {sorted(missing)}")  # a caller bug, never user input
    kwargs = dict(spec.kwargs)
    proxy_env: dict[str, str] = {}
    if spec.egress is not None:
        if egress_image is None:
            raise RuntimeError("an egress allowlist needs the filter image")  # a caller bug, never user input
        proxy_env = egress.setup(engine, name, spec.egress, egress_image)
    plain = secret_values if spec.secret_injection is SecretInjection.ENV else {}
    kwargs["environment"] = {**kwargs["environment"], **proxy_env, **plain}
    try:
        with engine_errors(f"Starting workload {name}"):
            container = engine.client.containers.run(**kwargs)
            container.reload()
            return _from_container(container)
    except EngineError as error:
        if spec.egress is not None:
            egress.remove(engine, name)
        if is_missing_init(error.message):
            raise EngineError(error.message, hint=_INIT_HINT, code="engine-no-init") from error
        raise
    except BaseException:
        if spec.egress is not None:
            egress.remove(engine, name)
        raise


_INIT_HINT: Final = ("Every mcpctl container runs an init as PID 1; this engine has none. Podman: install "
                     "catatonit (`apt install catatonit`), or set init_path in containers.conf to another init "
                     "(tini).")


def is_missing_init(message: str) -> bool:
    """Whether the engine refused a container because it has no init binary (Podman without catatonit)."""
    return "container-init binary not found" in message or "catatonit" in message


def stop_workload(engine: Engine, name: str, *, timeout: int = 10) -> Workload:
    container = _container(engine, name)
    with engine_errors(f"Stopping {name}"):
        container.stop(timeout=timeout)
        container.reload()
    egress.stop(engine, name)
    return _from_container(container)


def start_workload(engine: Engine, name: str) -> Workload:
    container = _container(engine, name)
    egress.start(engine, name)
    with engine_errors(f"Starting {name}"):
        container.start()
        container.reload()
        return _from_container(container)


def restart_workload(engine: Engine, name: str) -> Workload:
    container = _container(engine, name)
    with engine_errors(f"Restarting {name}"):
        container.restart(timeout=10)
        container.reload()
        return _from_container(container)


def remove_workload(engine: Engine, name: str) -> None:
    container = _container(engine, name)
    with engine_errors(f"Removing {name}"):
        container.remove(force=True)
    egress.remove(engine, name)


def last_lines(data: bytes, count: int) -> bytes:
    """The last ``count`` lines of a log (a final line without a newline counts)."""
    if count <= 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])


def workload_logs(engine: Engine, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
    """The server's log: all of it, or its last ``tail`` lines, then (``follow``) what it writes next."""
    container = _container(engine, name)
    # A stdio server's stdout *is* the protocol stream: tool results, which may carry secret values. Only its
    # stderr is a log. The engine counts `tail` over both streams, hidden stdout lines included, so the last
    # lines are picked here from what is shown.
    stdout = (container.labels or {}).get(labels.TRANSPORT, "stdio") != "stdio"
    with engine_errors(f"Reading logs of {name}"):
        if tail is None and follow:
            yield from container.logs(stdout=stdout, stderr=True, stream=True, follow=True)
            return
        since = int(time.time())
        shown = container.logs(stdout=stdout, stderr=True)
        yield shown if tail is None else last_lines(shown, tail)
        if follow:
            yield from container.logs(stdout=stdout, stderr=True, stream=True, follow=True, since=since)
