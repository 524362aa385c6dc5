"""What a scan reports: servers found, the secrets and risks in each, and what could not be read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, get_args

__all__ = ["LEVELS", "Level", "LocationKind", "Reason", "ScanError", "ScanReport", "SecretFinding", "SecretLocation",
           "ServerFinding", "level_at_least"]

Level = Literal["critical", "high", "medium", "low", "info"]
LEVELS: tuple[Level, ...] = ("critical", "high", "medium", "low", "info")
SCHEMA_VERSION = 1


def level_at_least(level: str, threshold: str) -> bool:
    return LEVELS.index(level) <= LEVELS.index(threshold)


@dataclass(frozen=True)
class Reason:
    code: str  # stable rule id: plaintext-secret, unvetted, unpinned, insecure-remote, …
    level: Level
    message: str


LocationKind = Literal["env", "arg", "header", "field", "url-query", "url-userinfo", "file"]
_KINDS: Final[frozenset[str]] = frozenset(get_args(LocationKind))


@dataclass(frozen=True)
class SecretLocation:
    """Where a secret sits in a server's entry. Its string form is the report's ``location`` (a documented
    schema, so it never changes): ``env:NAME``, ``arg:3``, ``header:NAME``, ``field:KEY``, ``url-query:KEY``,
    ``url-userinfo`` and ``file:PATH:NAME`` (a variable in a side env file; PATH may hold colons, NAME not).

    >>> SecretLocation.parse("file:/home/ana/.env:API_KEY")
    SecretLocation(kind='file', name='API_KEY', index=None, path='/home/ana/.env')
    """

    kind: LocationKind
    name: str = ""  # the env var, header, field or query key; a side file's variable
    index: int | None = None  # the argument's position (kind "arg")
    path: str | None = None  # the side file (kind "file")

    @classmethod
    def parse(cls, text: str) -> SecretLocation:
        """The location a report string names; ValueError for a string no scan writes."""
        kind, sep, rest = text.partition(":")
        if kind not in _KINDS or (kind == "url-userinfo") == bool(sep):
            raise ValueError(f"not a secret location: {text!r}")
        if kind == "arg":
            if not rest.isdigit():
                raise ValueError(f"not a secret location: {text!r}")
            return cls("arg", index=int(rest))
        if kind == "file":
            path, colon, name = rest.rpartition(":")
            if not (colon and path and name):
                raise ValueError(f"not a secret location: {text!r}")
            return cls("file", name=name, path=path)
        if kind != "url-userinfo" and not rest:
            raise ValueError(f"not a secret location: {text!r}")
        return cls(kind, name=rest)  # type: ignore[arg-type]  # kind is checked against LocationKind above

    def __str__(self) -> str:
        if self.kind == "url-userinfo":
            return self.kind
        if self.kind == "arg":
            return f"arg:{self.index}"
        if self.kind == "file":
            return f"file:{self.path}:{self.name}"
        return f"{self.kind}:{self.name}"

    @property
    def env_name(self) -> str | None:
        """The environment variable the secret was the value of (an entry's env, or a side env file)."""
        return self.name if self.kind in ("env", "file") else None

    @property
    def key(self) -> str:
        """A short name for the secret's place, for naming it in the backend: ``API_KEY``, ``arg3``, …"""
        if self.kind == "arg":
            return f"arg{self.index}"
        return self.name or self.kind


@dataclass(frozen=True)
class SecretFinding:
    provider: str
    location: str  # SecretLocation's string form: env:NAME, arg:3, header:Authorization, file:PATH:NAME, …
    redacted: str
    fingerprint: str

    @property
    def where(self) -> SecretLocation:
        return SecretLocation.parse(self.location)


@dataclass
class ServerFinding:
    source: Literal["config", "process", "container"]
    name: str
    client: str | None = None
    scope: str | None = None
    config_path: str | None = None
    line: int | None = None  # where the entry is declared in config_path
    transport: str = "stdio"
    kind: str = "command"  # npm, pypi, image, url, command
    package: str | None = None
    version: str | None = None
    pinned: bool = False
    target: str = ""  # command (program only), image, or URL without its query string
    status: Literal["managed", "vetted", "unvetted"] = "unvetted"
    registry_match: str | None = None
    pid: int | None = None
    container: str | None = None
    secrets: list[SecretFinding] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    level: Level = "info"
    # The engine's id of a container finding: matches the processes running inside it. Not reported
    # (the report names containers by name; the schema has no field for it).
    container_id: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        where = self.config_path or (f"pid:{self.pid}" if self.pid else f"container:{self.container}")
        return f"{self.source}:{where}#{self.name}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["container_id"]
        data["id"] = self.id
        return data


@dataclass(frozen=True)
class ScanError:
    path: str
    message: str


@dataclass
class ScanReport:
    generated_at: str
    host: str
    home: str
    findings: list[ServerFinding]
    errors: list[ScanError]

    @property
    def complete(self) -> bool:
        """Whether the scan looked everywhere it meant to: any error (an unreadable directory or file, a
        truncated file, an engine that did not answer) means there may be servers it did not see, so a
        report without findings is not a clean bill of health."""
        return not self.errors

    def summary(self) -> dict[str, Any]:
        levels = {level: sum(1 for f in self.findings if f.level == level) for level in LEVELS}
        return {"servers": len(self.findings), "by_level": levels,
                "secrets": sum(len(f.secrets) for f in self.findings),
                "unvetted": sum(1 for f in self.findings if f.status == "unvetted"),
                "errors": len(self.errors), "complete": self.complete}

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "generated_at": self.generated_at, "host": self.host,
                "home": self.home, "summary": self.summary(), "findings": [f.to_dict() for f in self.findings],
                "errors": [asdict(e) for e in self.errors]}
