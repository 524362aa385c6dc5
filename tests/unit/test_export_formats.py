"""Exports of three representative entries validate against the real schemas and match their golden files:
github (stdio, a secret, an egress allowlist), gofetch (streamable-http, full egress) and filesystem (a read-only
volume, no network). Kubernetes objects against the Kubernetes 1.37 OpenAPI schemas (kubernetes-validate, strict),
the MCPServer against ToolHive's vendored CRD, the compose file against the compose-spec schema.

Regenerate the golden files with ``EXPORT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_export_formats.py``.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from toolhive_py import __version__
from toolhive_py.config import Paths
from toolhive_py.export import ExportFormat, ExportResult, export_entries
from toolhive_py.runtime.launch import parse_run_options

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "export"
SCHEMAS = FIXTURES / "schemas"
KUBERNETES_VERSION = "1.37"
# Not part of Kubernetes itself: the External Secrets Operator's and ToolHive's resources.
CUSTOM_KINDS = {"ExternalSecret", "MCPServer"}
CASES: dict[str, tuple[str, list[str]]] = {
    "github": ("github", []),
    "gofetch": ("gofetch", []),
    "filesystem": ("filesystem", ["/usr/share:/projects"]),
}


def export_case(case: str, fmt: ExportFormat, *, secret_backend: str | None = None) -> ExportResult:
    server, volumes = CASES[case]
    options = parse_run_options(name=None, secrets=[], env=[], env_file=None, volumes=volumes,
                                permission_profile="default", pull="never", memory="512m", cpus=1.0, args=(),
                                port=None, tools=None, deny_tools=None, rate_limit=None)
    return export_entries(Paths.from_env(), [server], options, fmt=fmt, secret_backend=secret_backend)


def documents(result: ExportResult) -> list[dict[str, Any]]:
    return [doc for f in result.files for doc in yaml.safe_load_all(f.content) if doc]


@cache
def mcpserver_schema() -> dict[str, Any]:
    crd = yaml.safe_load((SCHEMAS / "toolhive.stacklok.dev_mcpservers.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["storage"])
    assert version["name"] == "v1beta1"
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


@cache
def compose_schema() -> dict[str, Any]:
    """The compose spec says draft-07 (its ``$schema`` URL lacks the ``#`` jsonschema knows it by)."""
    schema: dict[str, Any] = json.loads((SCHEMAS / "compose-spec.json").read_text())
    return schema


def _normalised(text: str) -> str:
    return text.replace(f"mcpctl {__version__} ", "mcpctl VERSION ").replace(
        f"mcpctl-proxy:{__version__}", "mcpctl-proxy:VERSION")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", [ExportFormat.KUBERNETES, ExportFormat.TOOLHIVE])
def test_kubernetes_objects_validate_against_the_release_schemas(case: str, fmt: ExportFormat) -> None:
    checked = 0
    for doc in documents(export_case(case, fmt)):
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("case", sorted(CASES))
def test_mcpserver_validates_against_toolhives_crd(case: str) -> None:
    servers = [doc for doc in documents(export_case(case, ExportFormat.TOOLHIVE)) if doc["kind"] == "MCPServer"]
    assert len(servers) == 1
    assert servers[0]["apiVersion"] == "toolhive.stacklok.dev/v1beta1"
    jsonschema.validate(servers[0], mcpserver_schema())


@pytest.mark.parametrize("case", sorted(CASES))
def test_compose_file_validates_against_the_compose_spec(case: str) -> None:
    (compose,) = documents(export_case(case, ExportFormat.COMPOSE))
    jsonschema.Draft7Validator(compose_schema()).validate(compose)


def test_the_validators_catch_a_broken_export() -> None:
    """The three schemas are strict enough to fail a wrong field, so the tests above can fail."""
    deployment = next(d for d in documents(export_case("github", ExportFormat.KUBERNETES)) if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystm"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    server = next(d for d in documents(export_case("github", ExportFormat.TOOLHIVE)) if d["kind"] == "MCPServer")
    server["spec"]["transport"] = "websocket"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(server, mcpserver_schema())
    (compose,) = documents(export_case("github", ExportFormat.COMPOSE))
    compose["services"]["github"]["cap_drop"] = "ALL"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(compose_schema()).validate(compose)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_matches_its_golden_file(case: str, fmt: ExportFormat) -> None:
    (exported,) = export_case(case, fmt).files
    golden = FIXTURES / f"{case}.{fmt.value}.yaml"
    if os.environ.get("EXPORT_UPDATE_GOLDEN"):
        golden.write_text(_normalised(exported.content), encoding="utf-8")
    assert _normalised(exported.content) == golden.read_text(encoding="utf-8")


def test_vault_secrets_become_an_external_secret_at_the_vault_path() -> None:
    docs = documents(export_case("github", ExportFormat.KUBERNETES, secret_backend="vault"))
    (external,) = [d for d in docs if d["kind"] == "ExternalSecret"]
    assert external["apiVersion"] == "external-secrets.io/v1"
    assert external["spec"]["target"]["name"] == "github-secrets"
    assert external["spec"]["data"] == [{"secretKey": "GITHUB_PERSONAL_ACCESS_TOKEN",
                                         "remoteRef": {"key": "mcpctl/GITHUB_PERSONAL_ACCESS_TOKEN",
                                                       "property": "value"}}]
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_no_secret_object_is_generated_with_values() -> None:
    for fmt in (ExportFormat.KUBERNETES, ExportFormat.TOOLHIVE):
        result = export_case("github", fmt)
        assert not [d for d in documents(result) if d["kind"] == "Secret"]
        assert any("kubectl create secret generic github-secrets" in note for note in result.notes)


def test_an_allowlist_is_dns_plus_the_egress_gateway_and_is_reported() -> None:
    result = export_case("github", ExportFormat.KUBERNETES)
    (policy,) = [d for d in documents(result) if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "github-egress"]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    dns, gateway = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert gateway["to"][0]["podSelector"]["matchLabels"] == {"io.mcpctl/egress-gateway": "true"}
    assert gateway["ports"] == [{"protocol": "TCP", "port": 443}]
    assert policy["metadata"]["annotations"]["io.mcpctl/egress-allow-hosts"] == ".github.com,.githubusercontent.com"
    assert any(".github.com, .githubusercontent.com" in note and "egress gateway" in note for note in result.notes)
    assert "# github: egress to .github.com" in result.files[0].content


def test_no_network_denies_all_egress_even_dns() -> None:
    docs = documents(export_case("filesystem", ExportFormat.KUBERNETES))
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "filesystem-egress"]
    assert policy["spec"]["egress"] == []
    (compose,) = documents(export_case("filesystem", ExportFormat.COMPOSE))
    assert compose["services"]["filesystem"]["network_mode"] == "none"


def test_a_stdio_server_is_fronted_by_mcpctls_proxy_in_its_own_pod() -> None:
    docs = documents(export_case("github", ExportFormat.KUBERNETES))
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    proxy = deployments["github-proxy"]["spec"]["template"]["spec"]
    assert proxy["containers"][0]["image"] == f"mcpctl-proxy:{__version__}"
    assert proxy["containers"][0]["args"][-3:] == ["-c", "server", "deployment/github"]
    server = deployments["github"]["spec"]["template"]["spec"]
    assert server["automountServiceAccountToken"] is False  # only the proxy's pod holds an API token
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "proxy"


def test_an_http_server_is_reached_directly_on_its_port() -> None:
    docs = documents(export_case("gofetch", ExportFormat.KUBERNETES))
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == ["gofetch"]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "server"
