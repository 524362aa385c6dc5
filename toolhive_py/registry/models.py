"""The registry document's schema (pydantic), the one trust boundary for registry.json.

Shape: ``{schema_version, version, expires, servers: {name: ServerEntry}}``, close to ToolHive's classic
registry so its files import cleanly. Validation errors name the file, the server and the field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolhive_py.errors import RegistryFormatError

__all__ = [
    "EnvVar",
    "NetworkPermissions",
    "OutboundPermissions",
    "Permissions",
    "RegistryDocument",
    "ServerEntry",
    "parse_registry",
]

SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PACKAGE = re.compile(r"^(npx://(@[\w.-]+/)?[\w.-]+@[\w.+-]+|uvx://[\w.-]+==[\w.+-]+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvVar(_Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = ""
    required: bool = False
    secret: bool = False
    default: str | None = None


class OutboundPermissions(_Model):
    allow_host: list[str] = []
    allow_port: list[int] = []
    insecure_allow_all: bool = False


class NetworkPermissions(_Model):
    outbound: OutboundPermissions = OutboundPermissions()


class Permissions(_Model):
    read: list[str] = []
    write: list[str] = []
    network: NetworkPermissions = NetworkPermissions()

    @property
    def grants_egress(self) -> bool:
        outbound = self.network.outbound
        return outbound.insecure_allow_all or bool(outbound.allow_host)


class ServerEntry(_Model):
    description: str
    image: str | None = None
    digest: str | None = None
    package: str | None = None
    transport: Literal["stdio", "streamable-http", "sse"] = "stdio"
    target_port: int | None = Field(default=None, ge=1, le=65535)
    args: list[str] = []
    env_vars: list[EnvVar] = []
    permissions: Permissions = Permissions()
    tools: list[str] = []
    tier: Literal["official", "community"] = "community"
    status: Literal["active", "deprecated"] = "active"
    tags: list[str] = []
    repository_url: str | None = None

    @field_validator("digest")
    @classmethod
    def _digest_format(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.match(value):
            raise ValueError("must be 'sha256:' followed by 64 lower-case hex digits")
        return value

    @field_validator("package")
    @classmethod
    def _package_format(cls, value: str | None) -> str | None:
        if value is not None and not _PACKAGE.match(value):
            raise ValueError("must be npx://NAME@VERSION or uvx://NAME==VERSION")
        return value

    @model_validator(mode="after")
    def _source_and_port(self) -> ServerEntry:
        if (self.image is None) == (self.package is None):
            raise ValueError("exactly one of 'image' and 'package' must be set")
        if self.transport != "stdio" and self.target_port is None:
            raise ValueError(f"'target_port' is required for transport {self.transport!r}")
        return self

    @property
    def source(self) -> str:
        """The image reference or package source, as shown to users."""
        return self.image or self.package or ""

    @property
    def secret_env_vars(self) -> list[EnvVar]:
        return [var for var in self.env_vars if var.secret]


class RegistryDocument(_Model):
    schema_version: Literal[1] = 1
    version: int = Field(ge=0)
    expires: datetime
    servers: dict[str, ServerEntry]

    @field_validator("servers")
    @classmethod
    def _names(cls, servers: dict[str, ServerEntry]) -> dict[str, ServerEntry]:
        for name in servers:
            if not SERVER_NAME.match(name):
                raise ValueError(f"server name {name!r} must match {SERVER_NAME.pattern}")
        return servers

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone, e.g. 2027-01-01T00:00:00Z")
        return value


def _describe(error: dict[str, object]) -> str:
    loc = [str(part) for part in error.get("loc", ())]  # type: ignore[attr-defined]  # pydantic ErrorDetails
    message = str(error.get("msg", "invalid"))
    if len(loc) >= 2 and loc[0] == "servers":
        field = ".".join(loc[2:]) or "entry"
        return f"server {loc[1]!r}: {field}: {message}"
    return f"{'.'.join(loc) or 'document'}: {message}"


def parse_registry(data: bytes, *, source: str) -> RegistryDocument:
    """Parse registry bytes; any problem is a RegistryFormatError naming ``source``, server and field."""
    try:
        return RegistryDocument.model_validate_json(data)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            _raise_json_error(data, source, exc)
        problems = [_describe(dict(err)) for err in exc.errors()]
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise RegistryFormatError(
            f"{source}: {shown}", hint="docs/registry.md describes every field.", code="registry-schema"
        ) from exc


def _raise_json_error(data: bytes, source: str, cause: Exception) -> None:
    """Re-parse with the json module, whose errors carry a line and column."""
    try:
        json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise RegistryFormatError(f"{source}: not valid JSON{where}: {exc}", code="registry-json") from exc
    raise RegistryFormatError(f"{source}: not valid JSON: {cause}", code="registry-json") from cause
