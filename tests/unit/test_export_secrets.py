"""No secret value in any exported file or output, and the `export` command's surface: an entry exported with its
secret set in the env backend, and a workload whose container holds an env-injected secret (its inspect data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli
from toolhive_py.errors import ExitCode
from toolhive_py.export import ExportFormat
from toolhive_py.export.api import render_files, request_from_container
from toolhive_py.export.model import build_export_model
from toolhive_py.registry.models import Permissions
from toolhive_py.runtime.spec import RunRequest, build_container_spec

SECRET = "ghp_" + "Zq8v2KxT9mLwR4nB7cYd3HsJ6pFa1GeU0oXi"  # shaped like a GitHub token, made up


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_an_entry_with_its_secret_set_exports_no_value(tmp_path: Path, fmt: ExportFormat) -> None:
    env = {"MCPCTL_SECRET_GITHUB_PERSONAL_ACCESS_TOKEN": SECRET}
    out = tmp_path / "out"
    result = run_cli("export", "--entry", "github", "--format", fmt.value, "--secret-backend", "env", "-o", str(out),
                     env=env)
    assert result.exit_code == 0, result.stderr
    printed = run_cli("export", "--entry", "github", "--format", fmt.value, "--secret-backend", "env", "--json",
                      env=env)
    assert printed.exit_code == 0, printed.stderr
    files = sorted(out.iterdir())
    assert files
    for text in [result.stdout, result.stderr, printed.stdout, printed.stderr, *(f.read_text() for f in files)]:
        assert SECRET not in text
    assert "GITHUB_PERSONAL_ACCESS_TOKEN" in files[0].read_text()


def test_json_envelope_lists_files_notes_and_secret_names() -> None:
    result = run_cli("export", "--entry", "github", "gofetch", "--format", "kubernetes", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert [f["filename"] for f in data["files"]] == ["github.kubernetes.yaml", "gofetch.kubernetes.yaml"]
    github = data["workloads"][0]
    assert github["secrets"] == [{"env": "GITHUB_PERSONAL_ACCESS_TOKEN", "secret": "GITHUB_PERSONAL_ACCESS_TOKEN"}]
    assert github["egress_gateway_hosts"] == [".github.com", ".githubusercontent.com"]
    assert any("egress gateway" in note for note in data["notes"])


def test_printed_export_is_applyable_yaml_and_notes_go_to_stderr() -> None:
    result = run_cli("export", "--entry", "github", "--format", "kubernetes")
    assert result.exit_code == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc]
    assert kinds[0] == "Deployment"
    assert "NetworkPolicy" in kinds
    assert ".github.com" in result.stderr
    assert "kubectl create secret generic github-secrets" in result.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (("export", "github", "--volume", "/tmp:/data"), "--volume only apply with --entry"),
    (("export", "--entry", "github", "--format", "helm"), "Invalid --format 'helm'"),
])
def test_usage_errors_name_the_fix(args: tuple[str, ...], fragment: str) -> None:
    result = run_cli(*args)
    assert result.exit_code == ExitCode.USAGE
    assert fragment in result.stderr


def test_an_unknown_entry_is_not_found() -> None:
    assert run_cli("export", "--entry", "no-such-server").exit_code == ExitCode.NOT_FOUND


def _inspect_of(spec_kwargs: dict[str, object], *, stored_env: list[str]) -> dict[str, object]:
    """The parts of `docker inspect` that a created workload's container shows, for the spec it was made from."""
    return {
        "Image": "sha256:" + "ab" * 32,
        "Config": {"Labels": spec_kwargs["labels"], "Env": stored_env, "Cmd": spec_kwargs["command"],
                   "Entrypoint": None, "User": spec_kwargs["user"]},
        "HostConfig": {"Memory": spec_kwargs["mem_limit"], "NanoCpus": spec_kwargs["nano_cpus"],
                       "Binds": ["/srv/data:/data:ro"], "PortBindings": {}},
    }


def test_a_workload_holding_an_env_secret_exports_without_it() -> None:
    request = RunRequest(
        name="gh", image="ghcr.io/github/github-mcp-server:v0.30.3", server="github", registry="default", vetted=True,
        secret_env_names=("GITHUB_PERSONAL_ACCESS_TOKEN",), uid=2_000_000_123, launcher="", allow_env_secrets=True,
        secret_sources={"GITHUB_PERSONAL_ACCESS_TOKEN": "github-pat"}, secret_backend="keyring", env={"LOG": "info"},
        permissions=Permissions.model_validate({"network": {"outbound": {"allow_host": [".github.com"],
                                                                         "allow_port": [443]}}}))
    created = build_container_spec(request)
    # An --allow-env-secrets workload: the engine stores the value with the rest of the environment.
    attrs = _inspect_of(dict(created.kwargs), stored_env=[f"GITHUB_PERSONAL_ACCESS_TOKEN={SECRET}", "LOG=info",
                                                          "HOME=/tmp", "PATH=/usr/bin"])
    rebuilt = request_from_container(attrs, {"Config": {"Env": ["PATH=/usr/bin"], "Entrypoint": ["/server"]}})
    assert SECRET not in repr(rebuilt)
    assert rebuilt.env == {"LOG": "info"}
    model = build_export_model(build_container_spec(rebuilt))
    assert (model.uid, model.gid) == (2_000_000_123, 2_000_000_123)
    assert [(ref.env, ref.secret) for ref in model.secrets] == [("GITHUB_PERSONAL_ACCESS_TOKEN", "github-pat")]
    assert model.image.local_id == attrs["Image"]
    assert not model.image.pinned
    assert [(v.source, v.target, v.read_only) for v in model.volumes] == [("/srv/data", "/data", True)]
    assert model.allow_hosts == (".github.com",)
    for fmt in ExportFormat:
        for exported in render_files([model], fmt, source="test"):
            assert SECRET not in exported.content
            assert "GITHUB_PERSONAL_ACCESS_TOKEN" in exported.content
    kubernetes = render_files([model], ExportFormat.KUBERNETES, source="test")[0].content
    assert "key: github-pat" in kubernetes


def test_some_names_failing_is_a_partial_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("export", "--entry", "github", "no-such-server", "-o", str(out), "--json")
    assert result.exit_code == ExitCode.PARTIAL
    envelope = result.json()
    assert envelope["status"] == "partial"
    assert [f["filename"] for f in envelope["data"]["files"]] == ["github.kubernetes.yaml"]
    assert [e["name"] for e in envelope["errors"]] == ["no-such-server"]
    assert sorted(p.name for p in out.iterdir()) == ["github.kubernetes.yaml"]


def test_an_http_server_without_network_is_refused_as_run_refuses_it() -> None:
    """gitlab's entry allowlists hosts, and `run` needs a network for its proxy to reach an HTTP server: the
    export says the same, with the same fix, rather than inventing a network the entry does not grant."""
    result = run_cli("export", "--entry", "gitlab")
    assert result.exit_code == ExitCode.USAGE
    assert "--permission-profile network" in result.stderr


def test_repository_of_an_image_reference() -> None:
    from toolhive_py.export.api import _repository

    assert _repository("ghcr.io/github/github-mcp-server:v0.30.3") == "ghcr.io/github/github-mcp-server"
    assert _repository("registry:5000/repo") == "registry:5000/repo"
    assert _repository("registry:5000/repo:1@sha256:" + "a" * 64) == "registry:5000/repo"


def test_an_image_built_from_a_package_says_it_must_be_pushed() -> None:
    result = run_cli("export", "--entry", "fetch", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()["data"]
    assert any("built locally from uvx://mcp-server-fetch==" in note for note in data["notes"])
    deployment = next(d for d in yaml.safe_load_all(data["files"][0]["content"]) if d and d["kind"] == "Deployment")
    assert deployment["metadata"]["annotations"]["io.mcpctl/package"].startswith("uvx://mcp-server-fetch==")
