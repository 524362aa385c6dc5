"""What a scan reports: servers found, the secrets and risks in each, and what could not be read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["LEVELS", "Level", "Reason", "ScanError", "ScanReport", "SecretFinding", "ServerFinding", "level_at_least"]

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


@dataclass(frozen=True)
class SecretFinding:
    provider: str
    location: str  # env:NAME, arg:3, header:Authorization, url-query:key, file:PATH:NAME
    redacted: str
    fingerprint: str


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
