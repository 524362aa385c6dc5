"""The hardened spec is a pure function: these pin its defaults and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from toolhive_py.errors import UsageError
from toolhive_py.registry.models import Permissions
from toolhive_py.runtime.engine import candidate_sockets
from toolhive_py.runtime.spec import (
    RunRequest,
    build_container_spec,
    hardened_settings,
    host_nproc_ceiling,
    nproc_ceiling,
    parse_memory,
    parse_permission_profile,
    parse_volume,
    resolve_user,
    user_needs_accounts,
)


def _spec(**overrides: object) -> dict[str, object]:
    request = RunRequest(**{"name": "demo", "image": "example/demo:1", **overrides})  # type: ignore[arg-type]
    return dict(build_container_spec(request).kwargs)


def test_defaults_are_hardened() -> None:
    spec = _spec()
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges"]
    assert spec["network_mode"] == "none"
    assert spec["user"] == "65534:65534"
    assert spec["pids_limit"] == 256
    assert spec["mem_limit"] == 512 * 1024**2
    assert spec["nano_cpus"] == 1_000_000_000
    assert spec["volumes"] == {}
    assert spec["stdin_open"] is True
    assert "noexec" in spec["tmpfs"]["/tmp"]  # type: ignore[index]
    assert {u["Name"] for u in spec["ulimits"]} == {"nofile", "nproc"}  # type: ignore[attr-defined]
    assert spec["init"] is True, "an init as PID 1 forwards SIGTERM, so stop and restart are prompt"


def test_processes_are_bounded_by_the_pids_cgroup_never_by_a_per_uid_nproc() -> None:
    limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in _spec()["ulimits"]}  # type: ignore[attr-defined]
    assert limits["nofile"] == (4096, 4096)
    assert limits["nproc"] == (host_nproc_ceiling(), host_nproc_ceiling())
    assert host_nproc_ceiling() >= 4096, "an nproc at the host's ceiling, far above any workload set's processes"
    assert _spec()["pids_limit"] == 256


def test_the_nproc_ulimit_is_the_hosts_pid_ceiling_or_the_users_own_lower_hard_limit() -> None:
    assert nproc_ceiling(32768, 96363) == 32768
    assert nproc_ceiling(4194304, 127000) == 127000, "a rootless engine cannot raise past the user's hard limit"
    assert nproc_ceiling(4194304, -1) == 4194304


def test_every_container_mcpctl_starts_shares_one_hardened_set() -> None:
    sidecar = hardened_settings(memory=64 * 1024**2, pids_limit=64, nofile=1024)
    workload = _spec()
    for key in ("user", "read_only", "tmpfs", "cap_drop", "security_opt", "init"):
        assert sidecar[key] == workload[key], key
    assert sidecar["pids_limit"] == 64
    assert {u["Name"]: u["Soft"] for u in sidecar["ulimits"]} == {"nofile": 1024, "nproc": host_nproc_ceiling()}


def test_non_root_image_user_is_kept_and_root_is_replaced() -> None:
    assert _spec(image_user="1000:1000")["user"] == "1000:1000"
    assert _spec(image_user="root")["user"] == "65534:65534"
    assert _spec(image_user="0")["user"] == "65534:65534"


def test_secret_values_are_not_in_the_spec_only_names() -> None:
    spec = build_container_spec(RunRequest(name="d", image="i:1", secret_env_names=("TOKEN",), env={"A": "1"}))
    assert spec.kwargs["environment"] == {"A": "1"}
    assert spec.to_display()["secret_environment"] == ["TOKEN"]
    assert spec.kwargs["labels"]["io.mcpctl.secret-env"] == "TOKEN"


def test_network_is_granted_only_by_the_profile() -> None:
    allow_all = Permissions.model_validate({"network": {"outbound": {"insecure_allow_all": True}}})
    assert _spec(permissions=allow_all)["network_mode"] == "bridge"
    allowlist = Permissions.model_validate({"network": {"outbound": {"allow_host": ["api.github.com"],
                                                                      "allow_port": [443]}}})
    spec = build_container_spec(RunRequest(name="gh", image="i:1", permissions=allowlist))
    assert spec.kwargs["network_mode"] == "mcpctl-gh-egress", "an allowlist means the internal network"
    assert spec.egress is not None
    assert spec.egress.allow_host == ["api.github.com"]
    assert _spec()["network_mode"] == "none"
    with pytest.raises(UsageError) as info:
        build_container_spec(RunRequest(name="gh", image="i:1", permissions=allowlist, transport="streamable-http",
                                        target_port=8080))
    assert info.value.code == "http-needs-network"


def test_volumes_are_read_only_unless_rw(tmp_path: Path) -> None:
    assert parse_volume(f"{tmp_path}:/data").read_only is True
    assert parse_volume(f"{tmp_path}:/data:rw").read_only is False
    with pytest.raises(UsageError):
        parse_volume("relative:/data")
    with pytest.raises(UsageError):
        parse_volume(f"{tmp_path}/missing:/data")


def test_permission_profiles(tmp_path: Path) -> None:
    default = Permissions(read=["/projects"])
    assert parse_permission_profile("default", default) == default
    assert parse_permission_profile("none", default) == Permissions()
    assert parse_permission_profile("network", default).network.outbound.insecure_allow_all is True
    profile = tmp_path / "p.json"
    profile.write_text('{"read": ["/a"], "network": {"outbound": {"insecure_allow_all": false}}}')
    assert parse_permission_profile(str(profile), default).read == ["/a"]
    profile.write_text('{"network": {"outbound": {"allow_port": ["x"]}}}')
    with pytest.raises(UsageError, match="allow_port"):
        parse_permission_profile(str(profile), default)


def test_invalid_names_and_limits() -> None:
    with pytest.raises(UsageError):
        _spec(name="Bad Name")
    with pytest.raises(UsageError):
        _spec(cpus=0)
    with pytest.raises(UsageError):
        parse_memory("lots")
    assert parse_memory("1g") == 1024**3


def test_socket_precedence_flag_setting_env_then_auto() -> None:
    env = {"MCPCTL_RUNTIME_SOCKET": "/env.sock", "DOCKER_HOST": "tcp://127.0.0.1:2375", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert candidate_sockets(flag="/f.sock", setting="/s.sock", environ=env)[0].source == "--runtime-socket"
    assert candidate_sockets(flag=None, setting="/s.sock", environ=env)[0].url == "unix:///s.sock"
    assert candidate_sockets(flag=None, setting=None, environ=env)[0].source == "MCPCTL_RUNTIME_SOCKET"
    only_docker_host = candidate_sockets(flag=None, setting=None, environ={"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert only_docker_host[0].url == "tcp://127.0.0.1:2375"
    auto = candidate_sockets(flag=None, setting=None, environ={"XDG_RUNTIME_DIR": "/run/user/7"})
    assert [c.source for c in auto] == ["rootless Podman", "rootful Podman", "Docker"]
    assert auto[0].url == "unix:///run/user/7/podman/podman.sock"


def test_dry_run_prints_the_hardened_spec_without_an_engine() -> None:
    result = run_cli("run", "example/demo:1", "--unvetted", "--dry-run", "--json",
                     "--runtime-socket", "unix:///nonexistent.sock")
    assert result.exit_code == 0, result.stderr
    spec = result.json()["data"]
    assert spec["cap_drop"] == ["ALL"]
    assert spec["network_mode"] == "none"


_PASSWD = """root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
toor:x:0:0:a second root:/root:/bin/sh
app:x:1000:1001::/home/app:/bin/sh
rootgroup:x:1200:0::/:/bin/sh
broken:x:abc:1000::/:/bin/sh
"""
_GROUP = "root:x:0:\nstaff:x:50:\napps:x:1001:app\n"


@pytest.mark.parametrize("user", ["", "0", "00", "0000", "0:0", "00:1000", "root", "root:root", "toor", "toor:staff",
                                  "ghost", "ghost:staff", "app:ghosts", "broken", " 0", "+0", "-1", "0x0", "1e3",
                                  "2147483648", "4294967296", "99999999999", "٠", "app:", ":1000"])
def test_root_and_whatever_does_not_resolve_runs_as_nobody(user: str) -> None:
    assert resolve_user(user, _PASSWD, _GROUP) == "65534:65534"


@pytest.mark.parametrize(("user", "expected"), [
    ("1000:1000", "1000:1000"),
    ("app", "1000:1001"),            # a name: its uid and primary group from the image's passwd
    ("1000", "1000:1001"),           # a uid: the primary group of its passwd line
    ("4242", "4242:65534"),          # a uid with no passwd line: nobody's group, never the engine's default 0
    ("app:staff", "1000:50"),
    ("app:50", "1000:50"),
    ("1000:0", "1000:65534"),        # never the root group either
    ("rootgroup", "1200:65534"),
    ("2147483647:7", "2147483647:7"),
])
def test_a_non_root_user_resolves_to_numbers(user: str, expected: str) -> None:
    assert resolve_user(user, _PASSWD, _GROUP) == expected


def test_the_spec_never_hands_the_engine_a_name_or_root() -> None:
    assert _spec(image_user="00")["user"] == "65534:65534"
    assert _spec(image_user="0:0")["user"] == "65534:65534"
    assert _spec(image_user="app")["user"] == "65534:65534", "an unresolved name is unsafe"
    assert _spec(image_user="1000:1001")["user"] == "1000:1001"


def test_accounts_are_read_only_when_a_name_or_a_missing_group_needs_them() -> None:
    assert not user_needs_accounts("")
    assert not user_needs_accounts("1000:1000")
    assert user_needs_accounts("1000")
    assert user_needs_accounts("app")
    assert user_needs_accounts("1000:staff")
