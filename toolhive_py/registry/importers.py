"""Convert other registries' formats into an mcpctl registry document (unsigned; the user signs it).

Supported: ToolHive's classic registry file (``servers: {name: {image, transport, env_vars, permissions…}}``)
and the official MCP registry's ``server.json`` (``packages[]`` with npm/pypi/oci sources).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolhive_py.errors import RegistryFormatError, UsageError, VerificationError
from toolhive_py.registry.minisign import read_bounded
from toolhive_py.registry.models import EnvVar, RegistryDocument, ServerEntry
from toolhive_py.registry.store import MAX_REGISTRY_BYTES

__all__ = ["FORMATS", "import_document", "import_mcp_server_json", "import_toolhive"]

FORMATS = ("toolhive", "mcp-registry")
_DEFAULT_LIFETIME = timedelta(days=180)


def _lower(value: Any, allowed: tuple[str, ...], default: str) -> str:
    text = str(value or "").lower()
    return text if text in allowed else default


def _entry(name: str, fields: dict[str, Any], source: str) -> ServerEntry:
    try:
        return ServerEntry.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise RegistryFormatError(f"{source}: server {name!r}: {problems}", code="import-invalid") from exc


def import_toolhive(raw: dict[str, Any], *, source: str) -> dict[str, ServerEntry]:
    servers = raw.get("servers")
    if not isinstance(servers, dict):
        raise RegistryFormatError(f"{source}: no 'servers' object: not a ToolHive registry file.")
    out: dict[str, ServerEntry] = {}
    for name, spec in servers.items():
        if not isinstance(spec, dict) or not spec.get("image"):
            continue
        permissions = spec.get("permissions") or {}
        network = (permissions.get("network") or {}).get("outbound") or {}
        fields = {
            "description": spec.get("description", ""),
            "image": spec["image"],
            "transport": _lower(spec.get("transport"), ("stdio", "streamable-http", "sse"), "stdio"),
            "target_port": spec.get("target_port"),
            "args": list(spec.get("args") or []),
            "env_vars": [
                EnvVar(name=v["name"], description=v.get("description", ""), required=bool(v.get("required")),
                       secret=bool(v.get("secret")), default=v.get("default") or None)
                for v in spec.get("env_vars") or []
            ],
            "permissions": {
                "read": list(permissions.get("read") or []),
                "write": list(permissions.get("write") or []),
                "network": {"outbound": {
                    "allow_host": list(network.get("allow_host") or []),
                    "allow_port": [int(p) for p in network.get("allow_port") or []],
                    "insecure_allow_all": bool(network.get("insecure_allow_all")),
                }},
            },
            "tools": list(spec.get("tools") or []),
            "tier": _lower(spec.get("tier"), ("official", "community"), "community"),
            "status": _lower(spec.get("status"), ("active", "deprecated"), "active"),
            "tags": list(spec.get("tags") or []),
            "repository_url": spec.get("repository_url"),
        }
        if fields["transport"] != "stdio" and fields["target_port"] is None:
            fields["target_port"] = 8080
        out[_safe_name(name)] = _entry(name, fields, source)
    return out


def _safe_name(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "server"


def import_mcp_server_json(raw: dict[str, Any], *, source: str) -> dict[str, ServerEntry]:
    """One server.json describes one server; its first usable package becomes the entry's source."""
    full_name = str(raw.get("name") or "")
    if not full_name or not isinstance(raw.get("packages"), list):
        raise RegistryFormatError(f"{source}: needs 'name' and 'packages': not an MCP registry server.json.")
    for package in raw["packages"]:
        kind = package.get("registryType") or package.get("registry_type")
        identifier, version = package.get("identifier"), package.get("version")
        if not identifier:
            continue
        if kind == "npm" and version:
            origin = {"package": f"npx://{identifier}@{version}"}
        elif kind == "pypi" and version:
            origin = {"package": f"uvx://{identifier}=={version}"}
        elif kind == "oci":
            has_tag = ":" in identifier.rsplit("/", 1)[-1] or "@" in identifier
            origin = {"image": identifier if has_tag or not version else f"{identifier}:{version}"}
        else:
            continue
        transport = (package.get("transport") or {}).get("type", "stdio")
        fields = {
            "description": raw.get("description", ""),
            **origin,
            "transport": _lower(transport, ("stdio", "streamable-http", "sse"), "stdio"),
            "target_port": None if transport == "stdio" else 8080,
            "env_vars": [
                EnvVar(name=v["name"], description=v.get("description", ""), required=bool(v.get("isRequired")),
                       secret=bool(v.get("isSecret")), default=v.get("default") or None)
                for v in package.get("environmentVariables") or []
            ],
            "repository_url": (raw.get("repository") or {}).get("url"),
        }
        name = _safe_name(full_name.rsplit("/", 1)[-1])
        return {name: _entry(name, fields, source)}
    raise RegistryFormatError(f"{source}: no npm, pypi or oci package with an identifier and version to import.")


def import_document(path: Path, from_format: str, *, version: int = 1) -> RegistryDocument:
    if from_format not in FORMATS:
        raise UsageError(f"Unknown import format {from_format!r}.", hint=f"Use one of: {', '.join(FORMATS)}.")
    try:
        raw = json.loads(read_bounded(path, MAX_REGISTRY_BYTES, "file to import"))
    except FileNotFoundError as exc:
        raise UsageError(f"No file at {path}.") from exc
    except VerificationError as exc:  # unreadable, not a regular file, or over the registry size cap
        raise RegistryFormatError(exc.message, hint=exc.hint, code=exc.code) from exc
    except json.JSONDecodeError as exc:
        raise RegistryFormatError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}.") from exc
    except UnicodeDecodeError as exc:
        raise RegistryFormatError(f"{path}: not UTF-8 text (byte {exc.start}).") from exc
    if not isinstance(raw, dict):
        raise RegistryFormatError(f"{path}: the top level must be a JSON object.")
    importer = import_toolhive if from_format == "toolhive" else import_mcp_server_json
    servers = importer(raw, source=str(path))
    expires = datetime.now(UTC).replace(microsecond=0) + _DEFAULT_LIFETIME
    return RegistryDocument(version=version, expires=expires, servers=dict(sorted(servers.items())))
