"""The registry document's schema (pydantic), the one trust boundary for registry.json.

Shape: ``{schema_version, version, expires, servers: {name: ServerEntry}}``, close to ToolHive's classic
registry so its files import cleanly. Validation errors name the file, the server and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolhive_py.errors import RegistryFormatError, UsageError
from toolhive_py.packages import parse_package

__all__ = [
    "EnvVar",
    "NetworkPermissions",
    "NpmLocked",
    "PackageLock",
    "PinnedRequirement",
    "OutboundPermissions",
    "Permissions",
    "ParsedRegistry",
    "RegistryDocument",
    "Remote",
    "RemoteHeader",
    "ServerEntry",
    "parse_registry",
    "parse_registry_lazily",
]

SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOOL_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_INTEGRITY = re.compile(r"^sha(?:256|384|512)-[A-Za-z0-9+/]+={0,2}$")


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone, e.g. 2027-01-01T00:00:00Z")
    return value


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


class PinnedRequirement(_Model):
    """One distribution a uvx:// source installs, with the sha256 of every file accepted for it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(pattern=r"^[A-Za-z0-9.+!-]+$")
    sha256: list[str] = Field(min_length=1)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: list[str]) -> list[str]:
        if not all(_SHA256_HEX.match(item) for item in value):
            raise ValueError("each must be 64 lower-case hex digits")
        return value


class NpmLocked(_Model):
    """One package-lock.json ``packages`` record (``resolved`` left out, so the configured registry serves it)."""

    version: str
    integrity: str = Field(pattern=_INTEGRITY.pattern)
    name: str | None = None  # an alias's real name
    dependencies: dict[str, str] = {}
    optionalDependencies: dict[str, str] = {}  # noqa: N815 - npm's own key
    peerDependencies: dict[str, str] = {}  # noqa: N815 - npm's own key
    peerDependenciesMeta: dict[str, dict[str, bool]] = {}  # noqa: N815 - npm's own key
    bin: dict[str, str] | str | None = None
    optional: bool = False
    os: list[str] = []
    cpu: list[str] = []
    libc: list[str] = []
    hasInstallScript: bool = False  # noqa: N815 - npm's own key


class PackageLock(_Model):
    """What an entry's package source installs, pinned by hash: a uvx:// source's locked requirements (for one
    Python X.Y) or an npx:// source's lockfile. A local build installs exactly this or refuses."""

    python: str | None = Field(default=None, pattern=r"^3\.\d+$")
    requirements: list[PinnedRequirement] = []
    npm: dict[str, NpmLocked] = {}

    @model_validator(mode="after")
    def _one_kind(self) -> PackageLock:
        if bool(self.requirements) == bool(self.npm):
            raise ValueError("exactly one of 'requirements' (uvx://) and 'npm' (npx://) must be set")
        if self.requirements and self.python is None:
            raise ValueError("'python' (the X.Y the requirements were resolved for) is required with 'requirements'")
        if self.npm and not all(path.startswith("node_modules/") for path in self.npm):
            raise ValueError("'npm' keys are package-lock.json paths, node_modules/…")
        return self


class RemoteHeader(_Model):
    """A header the remote expects, as the official registry's server.json spells it. ``value`` may hold
    ``{NAME}`` placeholders, each filled from the secret NAME at request time; a secret header with no value is
    sent whole from the secret ``default_secret`` names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    description: str = ""
    value: str | None = None
    is_required: bool = Field(default=False, alias="isRequired")
    is_secret: bool = Field(default=False, alias="isSecret")


class Remote(_Model):
    """One hosted endpoint of a server (server.json ``remotes[]``)."""

    type: Literal["streamable-http", "sse"]
    url: str = Field(pattern=r"^https://")
    headers: list[RemoteHeader] = []


class ServerEntry(_Model):
    description: str
    image: str | None = None
    digest: str | None = None
    package: str | None = None
    # The hashes of everything the package source installs (docs/registry.md, "Pinned packages").
    package_lock: PackageLock | None = None
    transport: Literal["stdio", "streamable-http", "sse"] = "stdio"
    target_port: int | None = Field(default=None, ge=1, le=65535)
    args: list[str] = []
    env_vars: list[EnvVar] = []
    permissions: Permissions = Permissions()
    tools: list[str] = []
    # Per-tool sha256 fingerprints (integrity.fingerprints.tool_fingerprint) of the definitions vetted for this
    # entry: signed with the document, they seed the workload's pins, so a changed tool is withheld from the
    # first run instead of trusted on first use.
    tool_pins: dict[str, str] = {}
    tier: Literal["official", "community"] = "community"
    status: Literal["active", "deprecated"] = "active"
    tags: list[str] = []
    repository_url: str | None = None
    # Hosted endpoints: an entry with remotes and no image or package is run as a proxy with no container.
    remotes: list[Remote] = []

    @field_validator("digest")
    @classmethod
    def _digest_format(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.match(value):
            raise ValueError("must be 'sha256:' followed by 64 lower-case hex digits")
        return value

    @field_validator("tool_pins")
    @classmethod
    def _tool_pins_format(cls, value: dict[str, str]) -> dict[str, str]:
        for name, fingerprint in value.items():
            if not name:
                raise ValueError("tool names must not be empty")
            if not _TOOL_FINGERPRINT.match(fingerprint):
                raise ValueError(f"tool {name!r}: must be 64 lower-case hex digits (a sha256)")
        return value

    @field_validator("package")
    @classmethod
    def _package_format(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_package(value)
            except UsageError:
                raise ValueError("must be npx://NAME@VERSION or uvx://NAME==VERSION (an exact version)") from None
        return value

    @model_validator(mode="after")
    def _source_and_port(self) -> ServerEntry:
        if self.image is None and self.package is None:
            if self.remotes:
                return self
            raise ValueError("at least one of 'image', 'package' and 'remotes' must be set")
        if self.package_lock is not None:
            self._check_lock(self.package_lock)
        if self.transport != "stdio" and self.target_port is None:
            raise ValueError(f"'target_port' is required for transport {self.transport!r}")
        return self

    def _check_lock(self, lock: PackageLock) -> None:
        if self.package is None:
            raise ValueError("'package_lock' needs a 'package'")
        package = parse_package(self.package)
        if package.ecosystem == "pypi":
            wanted = re.sub(r"[-_.]+", "-", package.name).lower()
            root = [r for r in lock.requirements if re.sub(r"[-_.]+", "-", r.name).lower() == wanted]
            if not root or root[0].version != package.version:
                raise ValueError(f"'package_lock.requirements' must pin {package.name}=={package.version}")
        else:
            record = lock.npm.get(f"node_modules/{package.name}")
            if record is None or record.version != package.version:
                raise ValueError(f"'package_lock.npm' must lock node_modules/{package.name} at {package.version}")

    @property
    def source(self) -> str:
        """The image reference or package source, as shown to users."""
        return self.image or self.package or (self.remotes[0].url if self.remotes else "")

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

    _aware = field_validator("expires")(classmethod(lambda cls, value: _require_timezone(value)))


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


class _Envelope(_Model):
    schema_version: Literal[1] = 1
    version: int = Field(ge=0)
    expires: datetime

    _aware = field_validator("expires")(classmethod(lambda cls, value: _require_timezone(value)))


@dataclass
class ParsedRegistry:
    """A registry whose envelope is validated and whose entries are validated when first used.

    Validating 10,000 entries up front costs ~330 ms; a lookup needs one. ``validate_all`` checks every
    entry, and ``registry verify`` / ``registry sign`` call it.
    """

    source: str
    version: int
    expires: datetime
    raw_servers: dict[str, dict[str, Any]]
    _entries: dict[str, ServerEntry] = field(default_factory=dict, repr=False)

    @property
    def server_names(self) -> list[str]:
        return list(self.raw_servers)

    def entry(self, name: str) -> ServerEntry:
        cached = self._entries.get(name)
        if cached is None:
            try:
                cached = ServerEntry.model_validate(self.raw_servers[name])
            except ValidationError as exc:
                problems = [_describe({**err, "loc": ("servers", name, *err["loc"])}) for err in exc.errors()]
                raise RegistryFormatError(
                    f"{self.source}: {'; '.join(problems[:5])}",
                    hint="docs/registry.md describes every field.",
                    code="registry-schema",
                ) from exc
            self._entries[name] = cached
        return cached

    def validate_all(self) -> None:
        for name in self.raw_servers:
            self.entry(name)

    def matches(self, name: str, needle: str) -> bool:
        """Search on the raw entry, so a search never validates entries that do not match."""
        raw = self.raw_servers[name]
        words = [name, str(raw.get("description", "")), *map(str, raw.get("tags", [])), *map(str, raw.get("tools", []))]
        return needle in " ".join(words).lower()


def parse_registry_lazily(data: bytes, *, source: str) -> ParsedRegistry:
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _raise_json_error(data, source, exc)
    if not isinstance(raw, dict):
        raise RegistryFormatError(f"{source}: the top level must be a JSON object.", code="registry-schema")
    servers = raw.pop("servers", None)
    problems = []
    try:
        envelope = _Envelope.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(dict(err)) for err in exc.errors()]
    if not isinstance(servers, dict) or not all(isinstance(v, dict) for v in servers.values()):
        problems.append("servers: must be an object mapping names to entries")
    else:
        problems += [f"servers: server name {n!r} must match {SERVER_NAME.pattern}" for n in servers
                     if not SERVER_NAME.match(n)]
    if problems:
        raise RegistryFormatError(f"{source}: {'; '.join(problems[:5])}", code="registry-schema")
    return ParsedRegistry(source, envelope.version, envelope.expires, servers)
