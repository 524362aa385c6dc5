"""Plain Kubernetes manifests for an exported workload: pure functions from ``ExportedWorkload`` to objects.

Policy: the server pod gets ``run``'s hardening as pod and container security contexts, resource limits and a
memory-backed emptyDir at /tmp; its NetworkPolicy denies all egress but DNS and the allowlist (which, as host
names, can only go through an egress gateway: NetworkPolicy matches IPs); secrets are ``secretKeyRef``s to a
Secret that is never generated with values (or an ExternalSecret naming the Vault path). A stdio server gets
mcpctl's proxy in front, in a pod of its own: NetworkPolicy is per pod, and the proxy needs the API server
(it reaches the server's stdio with ``kubectl attach``, as ToolHive's proxy runner does) where the server
gets no route at all.
"""

from __future__ import annotations

from typing import Any, Final

from toolhive_py import __version__
from toolhive_py.export.model import ExportedWorkload, NetworkAccess

__all__ = [
    "EGRESS_GATEWAY_LABEL",
    "PROXY_IMAGE",
    "PROXY_PORT",
    "PROXY_UID",
    "build_kubernetes",
    "egress_rules",
    "external_secret",
    "secret_name",
    "server_container",
    "server_labels",
]

PROXY_IMAGE: Final = f"mcpctl-proxy:{__version__}"  # built from mcpctl itself: docs/scale-out.md
PROXY_PORT: Final = 8080
PROXY_UID: Final = 65532  # the proxy's own non-zero uid, distinct from any workload's (runtime.uids)
# Pods carrying this label are the cluster's egress gateway (a filtering proxy, an Istio egress gateway, …):
# the only place an allowlisted host name can be enforced.
EGRESS_GATEWAY_LABEL: Final = "io.mcpctl/egress-gateway"
_ANNOTATION: Final = "io.mcpctl/"
_DNS: Final = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                       "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def secret_name(workload: ExportedWorkload) -> str:
    """The Secret the workload's ``secretKeyRef``s name; mcpctl never writes its values."""
    return f"{workload.name}-secrets"


def server_labels(workload: ExportedWorkload, component: str = "server") -> dict[str, str]:
    return {"app.kubernetes.io/name": workload.name, "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": "mcpctl"}


def _annotations(workload: ExportedWorkload) -> dict[str, str]:
    """Provenance and the limits a pod spec cannot carry (the kubelet and the container runtime set those)."""
    found = {
        _ANNOTATION + "server": workload.server,
        _ANNOTATION + "registry": workload.registry or "",
        _ANNOTATION + "vetted": "true" if workload.vetted else "false",
        _ANNOTATION + "image": workload.image.tag,
        _ANNOTATION + "image-pinned": "digest" if workload.image.pinned else "no",
        _ANNOTATION + "pids-limit": str(workload.pids_limit),  # kubelet --pod-max-pids is node-wide
        _ANNOTATION + "nofile": str(workload.nofile),  # the container runtime's default ulimit applies
    }
    if workload.image.local_id:
        found[_ANNOTATION + "local-image-id"] = workload.image.local_id
    if workload.image.package:
        found[_ANNOTATION + "package"] = workload.image.package
    if workload.needs_egress_gateway:
        found[_ANNOTATION + "egress-allow-hosts"] = ",".join(workload.allow_hosts)
        found[_ANNOTATION + "egress-allow-ports"] = ",".join(str(p) for p in workload.allow_ports)
    return found


def _security_context(uid: int, gid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def _pod_security(uid: int, gid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "seccompProfile": {"type": "RuntimeDefault"}}


def _tmp_volume(workload: ExportedWorkload, name: str = "tmp") -> dict[str, Any]:
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": workload.tmpfs_size.upper().rstrip("B")
                                       .replace("M", "Mi").replace("G", "Gi").replace("K", "Ki")}}


def _env(workload: ExportedWorkload) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(workload.env.items())]
    env += [{"name": ref.env, "valueFrom": {"secretKeyRef": {"name": secret_name(workload), "key": ref.secret}}}
            for ref in workload.secrets]
    return env


def server_container(workload: ExportedWorkload) -> dict[str, Any]:
    """The server's container, hardened as ``run`` hardens it."""
    container: dict[str, Any] = {
        "name": "server",
        "image": workload.image.reference,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": _security_context(workload.uid, workload.gid),
        "resources": {"limits": {"cpu": workload.cpus, "memory": workload.memory},
                      "requests": {"cpu": "100m", "memory": workload.memory}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
                         *({"name": v.name, "mountPath": v.target, "readOnly": v.read_only}
                           for v in workload.volumes)],
    }
    if workload.args:
        container["args"] = list(workload.args)
    if env := _env(workload):
        container["env"] = env
    if workload.transport == "stdio":
        container["stdin"] = True  # `run`'s stdin_open: the proxy attaches to it
    elif workload.target_port:
        container["ports"] = [{"name": "mcp", "containerPort": workload.target_port, "protocol": "TCP"}]
    return container


def _deployment(name: str, labels: dict[str, str], annotations: dict[str, str], pod: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "strategy": {"type": "Recreate"},  # one server process at a time, as `run` has
                     "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod}}}


def _server_deployment(workload: ExportedWorkload) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # The pause container as PID 1 reaps zombies and the server gets signal defaults: `run`'s init.
        "shareProcessNamespace": workload.init,
        "securityContext": _pod_security(workload.uid, workload.gid),
        "containers": [server_container(workload)],
        "volumes": [_tmp_volume(workload),
                    *({"name": v.name, "persistentVolumeClaim": {"claimName": f"{workload.name}-{v.name}",
                                                                 "readOnly": v.read_only}}
                      for v in workload.volumes)],
    }
    return _deployment(workload.name, server_labels(workload), _annotations(workload), pod)


def _proxy_objects(workload: ExportedWorkload) -> list[dict[str, Any]]:
    """The front of a stdio server: mcpctl's proxy with ``kubectl attach`` to the server's stdin and stdout."""
    name = f"{workload.name}-proxy"
    labels = server_labels(workload, "proxy")
    args = ["--port", str(PROXY_PORT), "--name", workload.name, "--upstream", "stdio",
            "--state-dir", "/tmp/state", "--audit-log", "/dev/stdout"]  # noqa: S108 - the pod's own emptyDir
    if workload.policy_json:
        args += ["--policy", workload.policy_json]
    args += ["--stdio", "--", "kubectl", "attach", "--quiet", "-i", "-c", "server", f"deployment/{workload.name}"]
    token = {"name": "api-token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}
    container = {
        "name": "mcpctl-proxy", "image": PROXY_IMAGE, "imagePullPolicy": "IfNotPresent", "args": args,
        "ports": [{"name": "mcp", "containerPort": PROXY_PORT, "protocol": "TCP"}],
        "securityContext": _security_context(PROXY_UID, PROXY_UID),
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": PROXY_PORT}},
        "livenessProbe": {"httpGet": {"path": "/health/live", "port": PROXY_PORT}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
                         {"name": "api-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "readOnly": True}],
    }
    pod = {"serviceAccountName": name, "automountServiceAccountToken": False, "enableServiceLinks": False,
           "securityContext": _pod_security(PROXY_UID, PROXY_UID), "containers": [container],
           "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}, token]}
    meta = {"name": name, "labels": labels}
    role_rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create", "get"]},
                  {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": ["get", "list"]}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": role_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name}]},
        _deployment(name, labels, {_ANNOTATION + "server": workload.server}, pod),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": name, "labels": labels},
         "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"],
                  # The API server's address differs per cluster: its port, and DNS, are what the proxy needs.
                  "egress": [_DNS, {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}]}},
    ]


def egress_rules(workload: ExportedWorkload) -> list[dict[str, Any]]:
    """DNS and the egress gateway for an allowlist, everything for full egress, nothing for none."""
    if workload.network is NetworkAccess.ALL:
        return [{}]
    if workload.network is NetworkAccess.NONE:
        return []
    ports = [{"protocol": "TCP", "port": port} for port in workload.allow_ports] or None
    gateway: dict[str, Any] = {"to": [{"namespaceSelector": {}, "podSelector": {
        "matchLabels": {EGRESS_GATEWAY_LABEL: "true"}}}]}
    if ports:
        gateway["ports"] = ports
    return [_DNS, gateway]


def _network_policy(workload: ExportedWorkload) -> dict[str, Any]:
    labels = server_labels(workload)
    meta: dict[str, Any] = {"name": f"{workload.name}-egress", "labels": labels}
    if workload.needs_egress_gateway:
        meta["annotations"] = {_ANNOTATION + "egress-allow-hosts": ",".join(workload.allow_hosts)}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
            "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"],
                     "egress": egress_rules(workload)}}


def _service(workload: ExportedWorkload) -> dict[str, Any]:
    stdio = workload.transport == "stdio"
    port = PROXY_PORT if stdio else (workload.target_port or PROXY_PORT)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": workload.name, "labels": server_labels(workload)},
            "spec": {"type": "ClusterIP", "selector": server_labels(workload, "proxy" if stdio else "server"),
                     "ports": [{"name": "mcp", "port": port, "targetPort": "mcp", "protocol": "TCP"}]}}


def external_secret(workload: ExportedWorkload) -> dict[str, Any]:
    """An External Secrets Operator resource that fills the workload's Secret from mcpctl's Vault paths."""
    assert workload.vault is not None  # noqa: S101 - only called for Vault workloads
    return {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": secret_name(workload), "labels": server_labels(workload)},
            "spec": {"refreshInterval": "1h",
                     "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
                     "target": {"name": secret_name(workload), "creationPolicy": "Owner"},
                     "data": [{"secretKey": ref.secret,
                               "remoteRef": {"key": workload.vault.key(ref.secret), "property": "value"}}
                              for ref in workload.secrets]}}


def build_kubernetes(workload: ExportedWorkload) -> list[dict[str, Any]]:
    """Every object to ``kubectl apply`` for ``workload``, in apply order."""
    objects: list[dict[str, Any]] = []
    if workload.secrets and workload.vault is not None:
        objects.append(external_secret(workload))
    objects.append(_server_deployment(workload))
    if workload.transport == "stdio":
        objects += _proxy_objects(workload)
    objects += [_service(workload), _network_policy(workload)]
    return objects

