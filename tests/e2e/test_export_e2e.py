"""`mcpctl export` of a workload running on Docker and Podman, its secret set in the real keyring: the files
validate, carry the workload's own uid and the same hardening as an export of its entry, and hold no secret."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import docker
import kubernetes_validate
import yaml

from tests.e2e.conftest import Engine
from tests.e2e.test_run import mcpctl, private_registry, workload_name  # noqa: F401 - fixtures
from tests.helpers import run_cli

# The capabilities an engine grants by default; Podman's inspect spells a dropped ALL as these.
DEFAULT_CAPABILITIES = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
                        "NET_BIND_SERVICE", "SYS_CHROOT"}


def _docs(directory: Path) -> list[dict[str, Any]]:
    return [doc for path in sorted(directory.iterdir()) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _server(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_a_running_workload_exports_hardened_with_no_secret_value(
    engine: Engine, engine_client: docker.DockerClient, workload_name: str,  # noqa: F811 - the fixture
    private_registry: None, isolated_home: Path, secret_service: None, tmp_path: Path,  # noqa: F811
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    assert run_cli("secret", "set", "TEST_TOKEN", input=secret + "\n").exit_code == 0
    started = mcpctl(engine, "run", "t/testsrv", "--name", workload_name, "--json")
    assert started.exit_code == 0, started.stderr
    outputs = []
    for fmt in ("kubernetes", "toolhive", "compose"):
        result = mcpctl(engine, "export", workload_name, "--format", fmt, "-o", str(tmp_path / fmt))
        assert result.exit_code == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    entry = run_cli("export", "--entry", "t/testsrv", "-o", str(tmp_path / "entry"))
    assert entry.exit_code == 0, entry.stderr

    for path in tmp_path.rglob("*.yaml"):
        assert secret not in path.read_text(), path
    assert all(secret not in text for text in outputs)

    docs = _docs(tmp_path / "kubernetes")
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37", strict=True)
    uid = int(engine_client.containers.get(f"mcpctl-{workload_name}").labels["io.mcpctl.uid"])
    server = _server(docs, workload_name)
    assert server["securityContext"]["runAsUser"] == uid
    assert {"name": "TEST_TOKEN", "valueFrom": {"secretKeyRef": {"name": f"{workload_name}-secrets",
                                                                  "key": "TEST_TOKEN"}}} in server["env"]
    annotations = next(d for d in docs if d["kind"] == "Deployment")["metadata"]["annotations"]
    assert annotations["io.mcpctl/local-image-id"].startswith("sha256:")
    # The running workload and its entry export the same hardening; only the uid differs (the entry's is the one
    # its name gets on an empty engine).
    from_entry = _server(_docs(tmp_path / "entry"), "testsrv")["securityContext"]
    from_workload = dict(server["securityContext"])
    for context in (from_entry, from_workload):
        context.pop("runAsUser")
        context.pop("runAsGroup")
    assert from_workload == from_entry

    # The compose service says what `docker inspect` says of the running container.
    attrs = engine_client.containers.get(f"mcpctl-{workload_name}").attrs
    host, config = attrs["HostConfig"], attrs["Config"]
    (compose,) = _docs(tmp_path / "compose")
    service = compose["services"][workload_name]
    assert service["user"] == config["User"] == f"{uid}:{uid}"
    assert service["read_only"] is host["ReadonlyRootfs"] is True
    assert service["cap_drop"] == ["ALL"]
    dropped = {c.removeprefix("CAP_") for c in host["CapDrop"]}
    assert dropped == {"ALL"} or DEFAULT_CAPABILITIES <= dropped  # Podman lists what ALL dropped
    assert [o.split(":")[0] for o in service["security_opt"]] == [o.split(":")[0] for o in host["SecurityOpt"]]
    assert service["init"] is host["Init"] is True
    assert service["pids_limit"] == host["PidsLimit"]
    assert service["mem_limit"] == host["Memory"]
    assert service["cpus"] * 1e9 == host["NanoCpus"]
    (tmpfs,) = service["tmpfs"]
    path, _, options = tmpfs.partition(":")
    assert set(options.split(",")) <= set(host["Tmpfs"][path].split(","))  # Podman adds rprivate,tmpcopyup
    nofile = next(u for u in host["Ulimits"] if u["Name"] in ("nofile", "RLIMIT_NOFILE"))  # Podman: RLIMIT_*
    assert service["ulimits"]["nofile"] == {"soft": nofile["Soft"], "hard": nofile["Hard"]}
    assert service["network_mode"] == host["NetworkMode"] == "none"
