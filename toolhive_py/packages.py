"""The package-source grammar, defined once: ``uvx://NAME==VERSION`` (PyPI) and ``npx://NAME@VERSION`` (npm),
each pinned to an exact version. The registry validates entries with it, `run` recognises a source with it,
local builds and `scan` take it apart with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from toolhive_py.errors import UsageError

__all__ = ["SCHEMES", "PackageSource", "is_package_source", "parse_package"]

SCHEMES: Final = ("npx://", "uvx://")
_NPX: Final = re.compile(r"^npx://(?P<name>(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*)@(?P<version>\d[A-Za-z0-9.+-]*)$")
_UVX: Final = re.compile(r"^uvx://(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")


@dataclass(frozen=True)
class PackageSource:
    ecosystem: Literal["pypi", "npm"]
    name: str
    version: str

    def __str__(self) -> str:
        return f"uvx://{self.name}=={self.version}" if self.ecosystem == "pypi" else f"npx://{self.name}@{self.version}"


def is_package_source(reference: str) -> bool:
    """Whether ``reference`` is meant as a package source (it may still be malformed: see :func:`parse_package`)."""
    return reference.startswith(SCHEMES)


def parse_package(source: str) -> PackageSource:
    match = _UVX.match(source)
    if match:
        return PackageSource("pypi", match.group("name"), match.group("version"))
    match = _NPX.match(source)
    if match:
        return PackageSource("npm", match.group("name"), match.group("version"))
    raise UsageError(f"Invalid package source {source!r}.",
                     hint="Use uvx://NAME==VERSION or npx://NAME@VERSION (an exact version).")
