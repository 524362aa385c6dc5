"""Security parity, checked: every hardening property of `run` (docs/security.md, "Container hardening") maps
to the field that carries it in each export format, with the spec's own value. A new key in the spec's hardened
settings, a new bullet in the docs, or a renderer that drops a field fails here."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolhive_py.export import ExportFormat, ExportResult
from toolhive_py.export.model import HARDENING_KEYS, ExportedWorkload, NetworkAccess
from toolhive_py.runtime.spec import hardened_settings

from .test_export_formats import CASES, export_case

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
Docs = list[dict[str, Any]]
Check = Callable[[Docs, ExportedWorkload], bool]

# Each bullet of docs/security.md's container hardening list names these terms; each term is a spec key.
DOC_TERMS = {"user": "user", "ReadonlyRootfs": "read_only", "/tmp": "tmpfs", "CapDrop": "cap_drop",
             "no-new-privileges": "security_opt", "seccomp": "security_opt", "an init": "init",
             "PidsLimit": "pids_limit", "memory": "mem_limit", "CPU": "nano_cpus", "nofile": "ulimits",
             "NetworkMode": "network_mode", "host mounts": "volumes"}


def _one(docs: Docs, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def _pod(docs: Docs, w: ExportedWorkload) -> dict[str, Any]:
    spec: dict[str, Any] = _one(docs, "Deployment", w.name)["spec"]["template"]["spec"]
    return spec


def _container(docs: Docs, w: ExportedWorkload) -> dict[str, Any]:
    return next(c for c in _pod(docs, w)["containers"] if c["name"] == "server")


def _th_spec(docs: Docs, w: ExportedWorkload) -> dict[str, Any]:
    spec: dict[str, Any] = _one(docs, "MCPServer", w.name)["spec"]
    return spec


def _th_container(docs: Docs, w: ExportedWorkload) -> dict[str, Any]:
    return next(c for c in _th_spec(docs, w)["podTemplateSpec"]["spec"]["containers"] if c["name"] == "mcp")


def _service(docs: Docs, w: ExportedWorkload) -> dict[str, Any]:
    service: dict[str, Any] = docs[0]["services"][w.name]
    return service


def _egress_ok(docs: Docs, w: ExportedWorkload) -> bool:
    policy = _one(docs, "NetworkPolicy", f"{w.name}-egress")["spec"]
    rules = policy["egress"]
    if policy["policyTypes"] != ["Egress"]:
        return False
    if w.network is NetworkAccess.NONE:
        return bool(rules == [])
    if w.network is NetworkAccess.ALL:
        return bool(rules == [{}])
    gateway = rules[1]
    return (
        {p["port"] for p in rules[0]["ports"]} == {53}
        and gateway["to"][0]["podSelector"]["matchLabels"] == {"io.mcpctl/egress-gateway": "true"}
        and [p["port"] for p in gateway.get("ports", [])] == list(w.allow_ports)
        and _one(docs, "NetworkPolicy", f"{w.name}-egress")["metadata"]["annotations"][
            "io.mcpctl/egress-allow-hosts"] == ",".join(w.allow_hosts))


def _security(ctx: dict[str, Any], w: ExportedWorkload) -> dict[str, bool]:
    return {"user": ctx["runAsNonRoot"] is True and ctx["runAsUser"] == w.uid != 0 and ctx["runAsGroup"] == w.gid != 0,
            "read_only": ctx["readOnlyRootFilesystem"] is True,
            "cap_drop": ctx["capabilities"]["drop"] == ["ALL"] == list(w.cap_drop),
            "security_opt": ctx["allowPrivilegeEscalation"] is False
            and ctx["seccompProfile"] == {"type": "RuntimeDefault"} and w.no_new_privileges and w.seccomp_default}


def _tmp_emptydir(pod: dict[str, Any], container: dict[str, Any]) -> bool:
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return bool(volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"})


def _mounts_k8s(container: dict[str, Any], w: ExportedWorkload) -> bool:
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"] if m["mountPath"] != "/tmp"}
    return mounts == {v.target: v.read_only for v in w.volumes}


def _pinned(reference: str, w: ExportedWorkload) -> bool:
    return reference == w.image.reference and (not w.image.digest or reference.endswith("@" + w.image.digest))


def _annotation(doc: dict[str, Any], key: str) -> str:
    value: str = doc["metadata"]["annotations"]["io.mcpctl/" + key]
    return value


KUBERNETES: dict[str, Check] = {
    "user": lambda d, w: _security(_container(d, w)["securityContext"], w)["user"]
    and _pod(d, w)["securityContext"]["runAsNonRoot"] is True,
    "read_only": lambda d, w: _security(_container(d, w)["securityContext"], w)["read_only"],
    "tmpfs": lambda d, w: _tmp_emptydir(_pod(d, w), _container(d, w)),
    "cap_drop": lambda d, w: _security(_container(d, w)["securityContext"], w)["cap_drop"],
    "security_opt": lambda d, w: _security(_container(d, w)["securityContext"], w)["security_opt"],
    "init": lambda d, w: _pod(d, w)["shareProcessNamespace"] is w.init is True,
    # No pod field exists: the kubelet's --pod-max-pids bounds pids per node. Carried as an annotation.
    "pids_limit": lambda d, w: _annotation(_one(d, "Deployment", w.name), "pids-limit") == str(w.pids_limit),
    "mem_limit": lambda d, w: _container(d, w)["resources"]["limits"]["memory"] == w.memory,
    "nano_cpus": lambda d, w: _container(d, w)["resources"]["limits"]["cpu"] == w.cpus,
    # No container field exists: the container runtime's default RLIMIT_NOFILE applies. Carried as an annotation.
    "ulimits": lambda d, w: _annotation(_one(d, "Deployment", w.name), "nofile") == str(w.nofile),
    "network_mode": _egress_ok,
    "volumes": lambda d, w: _mounts_k8s(_container(d, w), w),
    "image": lambda d, w: _pinned(_container(d, w)["image"], w),
}

TOOLHIVE: dict[str, Check] = {
    "user": lambda d, w: _security(_th_container(d, w)["securityContext"], w)["user"],
    "read_only": lambda d, w: _security(_th_container(d, w)["securityContext"], w)["read_only"],
    "tmpfs": lambda d, w: _tmp_emptydir(_th_spec(d, w)["podTemplateSpec"]["spec"], _th_container(d, w)),
    "cap_drop": lambda d, w: _security(_th_container(d, w)["securityContext"], w)["cap_drop"],
    "security_opt": lambda d, w: _security(_th_container(d, w)["securityContext"], w)["security_opt"],
    "init": lambda d, w: _th_spec(d, w)["podTemplateSpec"]["spec"]["shareProcessNamespace"] is True,
    "pids_limit": lambda d, w: _annotation(_one(d, "MCPServer"), "pids-limit") == str(w.pids_limit),
    "mem_limit": lambda d, w: _th_spec(d, w)["resources"]["limits"]["memory"] == w.memory,
    "nano_cpus": lambda d, w: _th_spec(d, w)["resources"]["limits"]["cpu"] == w.cpus,
    "ulimits": lambda d, w: _annotation(_one(d, "MCPServer"), "nofile") == str(w.nofile),
    "network_mode": lambda d, w: _egress_ok(d, w) and _th_spec(d, w)["permissionProfile"]["type"] == "configmap"
    and yaml.safe_load(_one(d, "ConfigMap")["data"]["permissions.json"])["network"]["outbound"]["allow_host"]
    == list(w.allow_hosts),
    "volumes": lambda d, w: [(v["mountPath"], v["readOnly"]) for v in _th_spec(d, w).get("volumes", [])]
    == [(v.target, v.read_only) for v in w.volumes],
    "image": lambda d, w: _pinned(_th_spec(d, w)["image"], w),
}

COMPOSE: dict[str, Check] = {
    "user": lambda d, w: _service(d, w)["user"] == f"{w.uid}:{w.gid}" and w.uid != 0 and w.gid != 0,
    "read_only": lambda d, w: _service(d, w)["read_only"] is True,
    "tmpfs": lambda d, w: _service(d, w)["tmpfs"] == ["/tmp:rw,noexec,nosuid,nodev,size=64m"],
    "cap_drop": lambda d, w: _service(d, w)["cap_drop"] == ["ALL"],
    "security_opt": lambda d, w: _service(d, w)["security_opt"] == ["no-new-privileges:true"] and w.seccomp_default,
    "init": lambda d, w: _service(d, w)["init"] is True,
    "pids_limit": lambda d, w: _service(d, w)["pids_limit"] == w.pids_limit,
    "mem_limit": lambda d, w: _service(d, w)["mem_limit"] == w.memory_bytes,
    "nano_cpus": lambda d, w: _service(d, w)["cpus"] == w.nano_cpus / 1e9,
    "ulimits": lambda d, w: _service(d, w)["ulimits"]["nofile"] == {"soft": w.nofile, "hard": w.nofile},
    "network_mode": lambda d, w: (
        _service(d, w).get("network_mode") == "none" if w.network is NetworkAccess.NONE else
        "network_mode" not in _service(d, w) and "networks" not in _service(d, w) if w.network is NetworkAccess.ALL
        else d[0]["networks"][_service(d, w)["networks"][0]] == {"internal": True}
        and _service(d, w)["x-mcpctl-egress"]["allow_host"] == list(w.allow_hosts)),
    "volumes": lambda d, w: [(v["source"], v["target"], v["read_only"]) for v in _service(d, w).get("volumes", [])]
    == [(v.source, v.target, v.read_only) for v in w.volumes],
    "image": lambda d, w: _pinned(_service(d, w)["image"], w),
}

PARITY = {ExportFormat.KUBERNETES: KUBERNETES, ExportFormat.TOOLHIVE: TOOLHIVE, ExportFormat.COMPOSE: COMPOSE}


def _docs(result: ExportResult) -> Docs:
    return [doc for f in result.files for doc in yaml.safe_load_all(f.content) if doc]


def test_every_hardened_setting_of_the_spec_has_a_property() -> None:
    assert set(hardened_settings(memory=1, nproc=1)) - {"nproc"} <= set(HARDENING_KEYS)


def test_every_hardening_bullet_of_the_docs_names_a_property() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Container hardening", 1)[1].split("\n## ", 1)[0]
    bullets = [b for b in re.split(r"\n- ", section.split("\n\n", 1)[1].split("\n\n", 1)[0]) if b.strip()]
    assert len(bullets) >= 5
    for bullet in bullets:
        keys = {key for term, key in DOC_TERMS.items() if term in bullet}
        assert keys, f"no export property for docs/security.md bullet: {bullet[:60]}"
        assert keys <= set(HARDENING_KEYS)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_each_format_maps_every_property(fmt: ExportFormat) -> None:
    assert set(PARITY[fmt]) == set(HARDENING_KEYS)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_each_property_is_carried_with_the_specs_value(case: str, fmt: ExportFormat) -> None:
    result = export_case(case, fmt)
    (workload,) = result.workloads
    assert workload.read_only_root
    assert workload.init
    assert workload.no_new_privileges
    assert workload.uid >= 1
    docs = _docs(result)
    missing = [key for key, check in PARITY[fmt].items() if not check(docs, workload)]
    assert missing == []


def test_a_dropped_field_fails_parity() -> None:
    """The checks can fail: remove one hardening field from a rendered Deployment and parity notices."""
    result = export_case("github", ExportFormat.KUBERNETES)
    docs = _docs(result)
    _container(docs, result.workloads[0])["securityContext"]["capabilities"]["drop"] = []
    assert not KUBERNETES["cap_drop"](docs, result.workloads[0])
