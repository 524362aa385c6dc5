"""A compose file for exported workloads on one shared host, hardened as ``run`` hardens them.

Policy: every service gets ``run``'s settings under compose's own keys (user, read_only, tmpfs, cap_drop,
no-new-privileges, init, pids/memory/CPU limits, the nofile ulimit); network ``none`` stays ``none``, full egress
gets the default network, and an allowlist gets an internal network with no route out: the hosts (listed under
``x-mcpctl-egress``) need an egress proxy attached to it, as mcpctl's own egress filter is for `run`. Secret values
are interpolated from the environment of ``docker compose up`` (``${NAME:?}``), never written into the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolhive_py.export.model import ExportedWorkload, NetworkAccess

__all__ = ["build_compose", "compose_service"]


def _network(workload: ExportedWorkload) -> str:
    return f"{workload.name}-internal"


def compose_service(workload: ExportedWorkload) -> dict[str, Any]:
    """One service: the same container `run` creates, in compose's words."""
    service: dict[str, Any] = {
        "image": workload.image.reference,
        "user": f"{workload.uid}:{workload.gid}",
        "read_only": workload.read_only_root,
        "tmpfs": [f"{path}:{options}" for path, options in sorted(workload.tmpfs.items())],
        "cap_drop": list(workload.cap_drop),
        "security_opt": ["no-new-privileges:true"] if workload.no_new_privileges else [],
        "init": workload.init,
        "pids_limit": workload.pids_limit,
        "mem_limit": workload.memory_bytes,
        "cpus": workload.nano_cpus / 1e9,
        "ulimits": {"nofile": {"soft": workload.nofile, "hard": workload.nofile}},
        "restart": "on-failure:5",
        "labels": {"io.mcpctl.server": workload.server, "io.mcpctl.registry": workload.registry,
                   "io.mcpctl.vetted": "true" if workload.vetted else "false", "io.mcpctl.image": workload.image.tag},
    }
    if workload.args:
        service["command"] = list(workload.args)
    environment = dict(sorted(workload.env.items()))
    # Interpolated by compose from the shell that runs it; the file holds the variable's name only.
    environment.update({ref.env: f"${{{ref.env}:?export {ref.env} from your secret store}}"
                        for ref in workload.secrets})
    if environment:
        service["environment"] = environment
    if workload.network is NetworkAccess.NONE:
        service["network_mode"] = "none"
    elif workload.network is NetworkAccess.ALLOWLIST:
        service["networks"] = [_network(workload)]
        service["x-mcpctl-egress"] = {"allow_host": list(workload.allow_hosts),
                                      "allow_port": list(workload.allow_ports),
                                      "note": "the internal network has no route out: attach an egress proxy "
                                              "that allows these hosts to it"}
    if workload.transport == "stdio":
        service["stdin_open"] = True
    elif workload.target_port:
        service["ports"] = [{"target": workload.target_port, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    if workload.volumes:
        service["volumes"] = [{"type": "bind", "source": v.source, "target": v.target, "read_only": v.read_only}
                              for v in workload.volumes]
    return service


def build_compose(workloads: Sequence[ExportedWorkload]) -> dict[str, Any]:
    """One compose project holding every workload, each with its own internal network when it has one."""
    document: dict[str, Any] = {"name": "mcpctl", "services": {w.name: compose_service(w) for w in workloads}}
    networks = {_network(w): {"internal": True} for w in workloads if w.network is NetworkAccess.ALLOWLIST}
    if networks:
        document["networks"] = networks
    return document
