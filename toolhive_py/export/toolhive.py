"""ToolHive operator resources for an exported workload: an ``MCPServer`` (toolhive.stacklok.dev/v1beta1, the
CRD's storage version in ToolHive v0.44.0) and the ConfigMap holding its permission profile.

Policy: ToolHive's operator runs the server with its own proxy runner and its own restricted security context;
mcpctl's values go where the CRD has a field for them (image, transport, ports, args, env, secrets, volumes,
resources, permission profile) and the rest into ``podTemplateSpec``'s ``mcp`` container (uid, read-only root,
capabilities, seccomp, the /tmp emptyDir), which the operator merges over its defaults. The operator writes no
NetworkPolicy, so the same egress policy as the plain Kubernetes export selects the server's pod.
"""

from __future__ import annotations

import json
from typing import Any, Final

from toolhive_py.export.kubernetes import egress_rules, external_secret, secret_name
from toolhive_py.export.model import ExportedWorkload, NetworkAccess

__all__ = ["API_VERSION", "CRD_SOURCE", "build_toolhive", "permission_profile"]

API_VERSION: Final = "toolhive.stacklok.dev/v1beta1"
CRD_SOURCE: Final = ("stacklok/toolhive deploy/charts/operator-crds/files/crds/toolhive.stacklok.dev_mcpservers.yaml "
                     "@ e25de16cf9720b13cf0b400c861a2f6840e2763c (chart 0.44.0)")
_MCP_CONTAINER: Final = "mcp"  # the operator's name for the server's container (mcpserver_controller.go)


def permission_profile(workload: ExportedWorkload) -> dict[str, Any]:
    """The workload's permissions in ToolHive's permission-profile JSON (the shape `run` reads too)."""
    outbound: dict[str, Any] = {"insecure_allow_all": workload.network is NetworkAccess.ALL,
                                "allow_host": list(workload.allow_hosts), "allow_port": list(workload.allow_ports)}
    return {"read": [v.target for v in workload.volumes if v.read_only],
            "write": [v.target for v in workload.volumes if not v.read_only],
            "network": {"outbound": outbound}}


def _pod_template(workload: ExportedWorkload) -> dict[str, Any]:
    security = {"runAsNonRoot": True, "runAsUser": workload.uid, "runAsGroup": workload.gid,
                "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "privileged": False,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    size = workload.tmpfs_size.upper().replace("M", "Mi").replace("G", "Gi").replace("K", "Ki")
    return {"spec": {
        "automountServiceAccountToken": False,
        "shareProcessNamespace": workload.init,
        "securityContext": {"runAsNonRoot": True, "runAsUser": workload.uid, "runAsGroup": workload.gid,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": _MCP_CONTAINER, "securityContext": security,
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],  # noqa: S108 - emptyDir
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": size}}],
    }}


def build_toolhive(workload: ExportedWorkload) -> list[dict[str, Any]]:
    """The ExternalSecret (Vault), the permission profile's ConfigMap, the MCPServer and its egress policy."""
    profile_name = f"{workload.name}-permissions"
    annotations = {"io.mcpctl/server": workload.server, "io.mcpctl/registry": workload.registry or "",
                   "io.mcpctl/vetted": "true" if workload.vetted else "false", "io.mcpctl/image": workload.image.tag,
                   "io.mcpctl/pids-limit": str(workload.pids_limit), "io.mcpctl/nofile": str(workload.nofile)}
    if workload.needs_egress_gateway:
        annotations["io.mcpctl/egress-allow-hosts"] = ",".join(workload.allow_hosts)
    spec: dict[str, Any] = {
        "image": workload.image.reference,
        "transport": workload.transport,
        "proxyPort": 8080,
        "permissionProfile": {"type": "configmap", "name": profile_name, "key": "permissions.json"},
        "resources": {"limits": {"cpu": workload.cpus, "memory": workload.memory},
                      "requests": {"cpu": "100m", "memory": workload.memory}},
        "podTemplateSpec": _pod_template(workload),
    }
    if workload.transport != "stdio" and workload.target_port:
        spec["mcpPort"] = workload.target_port
    if workload.args:
        spec["args"] = list(workload.args)
    if workload.env:
        spec["env"] = [{"name": key, "value": value} for key, value in sorted(workload.env.items())]
    if workload.secrets:
        spec["secrets"] = [{"name": secret_name(workload), "key": ref.secret, "targetEnvName": ref.env}
                           for ref in workload.secrets]
    if workload.volumes:
        spec["volumes"] = [{"name": v.name, "hostPath": v.source, "mountPath": v.target, "readOnly": v.read_only}
                           for v in workload.volumes]
    labels = {"app.kubernetes.io/name": workload.name, "app.kubernetes.io/managed-by": "mcpctl"}
    # The operator labels the server's own pods app=NAME, toolhive=true (pkg/container/kubernetes/client.go);
    # its proxy runner's pods are app=mcpserver, so this policy restricts the server and leaves the runner be.
    egress = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": f"{workload.name}-egress", "labels": labels,
                           **({"annotations": {"io.mcpctl/egress-allow-hosts": ",".join(workload.allow_hosts)}}
                              if workload.needs_egress_gateway else {})},
              "spec": {"podSelector": {"matchLabels": {"app": workload.name, "toolhive": "true"}},
                       "policyTypes": ["Egress"], "egress": egress_rules(workload)}}
    secrets = [external_secret(workload)] if workload.secrets and workload.vault is not None else []
    return [
        *secrets,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": profile_name, "labels": labels},
         "data": {"permissions.json": json.dumps(permission_profile(workload), indent=2) + "\n"}},
        {"apiVersion": API_VERSION, "kind": "MCPServer",
         "metadata": {"name": workload.name, "labels": labels, "annotations": annotations}, "spec": spec},
        egress,
    ]
