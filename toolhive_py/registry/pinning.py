"""Package sources pinned by hash: resolving a pin (``mcpctl registry pin``) and checking one (local builds).

A ``uvx://`` source is pinned as the locked set it installs, for one Python X.Y on linux x86_64: every
distribution with the sha256 of its wheel, as ``pip download`` fetched it from the configured index and
as PyPI's JSON API publishes it (a mirror that serves other bytes is caught at pin time). An ``npx://``
source is pinned as the ``packages`` of the package-lock.json npm resolves, each with its ``integrity``,
without ``resolved`` URLs so that the configured registry or mirror serves them.

Policy: a build installs exactly the pinned set or nothing. pip runs in hash-checking mode
(``--require-hashes --no-deps``), npm with ``npm ci``; a mismatch is a :class:`VerificationError` (exit 3)
that names the file and both hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from toolhive_py.errors import EngineError, NotFoundError, UsageError, VerificationError
from toolhive_py.packages import PackageSource, parse_package
from toolhive_py.registry.models import NpmLocked, PackageLock, PinnedRequirement, RegistryDocument, ServerEntry

__all__ = ["LOCK_PLATFORMS", "PYPI_JSON", "PYPI_JSON_ENV", "check_wheels", "lock_python_mismatch", "npm_integrity_error",
           "floating_tags", "npm_lockfile", "npm_manifest", "pin_in_file", "pip_hash_error", "requirements_text", "resolve_lock", "resolve_npm_lock",
           "resolve_pypi_lock", "wheel_name_version"]

# PyPI's JSON API (releases[VERSION][].digests.sha256); a mirror that serves the same API (devpi, Artifactory,
# Nexus) can stand in through the environment variable.
PYPI_JSON: Final = "https://pypi.org/pypi"
PYPI_JSON_ENV: Final = "MCPCTL_PYPI_JSON_URL"
# What the base images run on; the same flags the build's own `pip download` passes.
# glibc 2.36 in bookworm, so manylinux_2_34 wheels (semgrep's) run there too
LOCK_PLATFORMS: Final = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64", "any")
_NPM_KEEP: Final = frozenset(NpmLocked.model_fields)
_RESOLVE_TIMEOUT: Final = 300
_WHEEL: Final = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.+\.whl$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(normalized project name, version) from a wheel's file name (PEP 427)."""
    match = _WHEEL.match(filename)
    if match is None:
        raise ValueError(f"{filename} is not a wheel file name")
    return _normalize(match.group("name")), match.group("version")


def requirements_text(lock: PackageLock) -> str:
    """A hash-pinned requirements file: ``pip install --require-hashes --no-deps -r`` installs exactly this set."""
    lines = []
    for requirement in lock.requirements:
        hashes = " ".join(f"--hash=sha256:{digest}" for digest in requirement.sha256)
        lines.append(f"{requirement.name}=={requirement.version} {hashes}")
    return "\n".join(lines) + "\n"


def lock_python_mismatch(lock: PackageLock, python_version: str) -> str | None:
    """Why a base image with ``python_version`` cannot install the lock, or None when it can."""
    if lock.python is None or lock.python == python_version:
        return None
    return f"the pinned wheels are for Python {lock.python}, the base image has Python {python_version}"


def check_wheels(package: PackageSource, lock: PackageLock, wheels: Path) -> None:
    """Every downloaded file is one the lock names, with a pinned sha256; raises naming the file and both hashes."""
    pinned = {_normalize(r.name): r for r in lock.requirements}
    seen: set[str] = set()
    for path in sorted(wheels.iterdir()):
        name, version = wheel_name_version(path.name)
        requirement = pinned.get(name)
        if requirement is None or requirement.version != version:
            raise VerificationError(f"{package}: {path.name} is not in the entry's pinned requirements.",
                                    hint="Re-pin the entry (`mcpctl registry pin NAME`) and re-sign the registry.",
                                    code="package-hash-mismatch", file=path.name)
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual not in requirement.sha256:
            raise VerificationError(
                f"{package}: {path.name} does not match its pinned hash: expected sha256:{requirement.sha256[0]}, "
                f"got sha256:{actual}.",
                hint="The index or mirror served different bytes than the signed registry pins. Do not run it; "
                     "check the mirror, or re-pin the entry if the registry is wrong.",
                code="package-hash-mismatch", file=path.name, expected=requirement.sha256[0], actual=actual)
        seen.add(name)
    missing = sorted(set(pinned) - seen)
    if missing:
        raise VerificationError(f"{package}: pinned requirements were not downloaded: {', '.join(missing)}.",
                                code="package-hash-mismatch")


def pip_hash_error(package: PackageSource, lock: PackageLock, stderr: str) -> VerificationError | None:
    """pip's hash-checking refusal, turned into one that names the file and both hashes."""
    if "DO NOT MATCH THE HASHES" not in stderr:
        return None
    match = re.search(r"^\s*(?P<req>\S+) from (?P<url>\S+)[^\n]*\n\s*Expected sha256 (?P<expected>[0-9a-f]{64})"
                      r"(?:\s*or to [0-9a-f]{64})*\s*\n\s*Got\s+(?P<actual>[0-9a-f]{64})", stderr, re.MULTILINE)
    if match is None:
        return VerificationError(f"{package}: a downloaded file does not match its pinned hash.",
                                 hint=stderr.strip().splitlines()[-1], code="package-hash-mismatch")
    filename = match.group("url").rsplit("/", 1)[-1].split("#", 1)[0]
    return VerificationError(
        f"{package}: {filename} does not match its pinned hash: expected sha256:{match.group('expected')}, "
        f"got sha256:{match.group('actual')}.",
        hint="The index or mirror served different bytes than the signed registry pins. Do not run it; "
             "check the mirror, or re-pin the entry if the registry is wrong.",
        code="package-hash-mismatch", file=filename, expected=match.group("expected"), actual=match.group("actual"))


def npm_manifest(package: PackageSource) -> dict[str, Any]:
    return {"name": "mcpctl-build", "version": "0.0.0", "private": True,
            "dependencies": {package.name: package.version}}


def npm_lockfile(package: PackageSource, lock: PackageLock) -> dict[str, Any]:
    """The package-lock.json (v3) that ``npm ci`` installs from, rebuilt from the signed records."""
    packages: dict[str, Any] = {"": {"name": "mcpctl-build", "version": "0.0.0",
                                     "dependencies": {package.name: package.version}}}
    for path, record in lock.npm.items():
        packages[path] = record.model_dump(exclude_defaults=True)
    return {"name": "mcpctl-build", "version": "0.0.0", "lockfileVersion": 3, "requires": True,
            "packages": packages}


def npm_integrity_error(package: PackageSource, lock: PackageLock, stderr: str) -> VerificationError | None:
    """npm's EINTEGRITY refusal, naming the locked package and both hashes."""
    if "EINTEGRITY" not in stderr:
        return None
    match = re.search(r"wanted (?P<expected>sha\d+-\S+) but got (?P<actual>sha\d+-\S+?)\.?(?:\s|$)", stderr)
    expected = match.group("expected") if match else "?"
    actual = match.group("actual") if match else "?"
    named = next((f"{path.removeprefix('node_modules/')}@{record.version}" for path, record in lock.npm.items()
                  if record.integrity == expected), "a locked package")
    return VerificationError(
        f"{package}: {named} does not match its pinned integrity: expected {expected}, got {actual}.",
        hint="The npm registry or mirror served different bytes than the signed registry pins. Do not run it; "
             "check the mirror, or re-pin the entry if the registry is wrong.",
        code="package-hash-mismatch", file=named, expected=expected, actual=actual)


# ----- resolving pins (maintainers: `mcpctl registry pin`) -----------------------------------------------------


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd,  # noqa: S603 - our tools
                                timeout=_RESOLVE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"Could not resolve {what}: no answer in {_RESOLVE_TIMEOUT} s.",
                          hint="Check the index or registry (and its proxy), then try again.",
                          code="pin-resolve-failed") from exc
    if result.returncode != 0:
        raise EngineError(f"Could not resolve {what}.", hint=(result.stderr.strip().splitlines() or ["failed"])[-1],
                          code="pin-resolve-failed")
    return result.stdout


def _published_sha256(name: str, version: str) -> set[str]:
    """The sha256 of every file PyPI publishes for name==version (its JSON API)."""
    import httpx

    url = f"{os.environ.get(PYPI_JSON_ENV, PYPI_JSON).rstrip('/')}/{name}/json"
    try:
        response = httpx.get(url, timeout=30, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise EngineError(f"Could not read {url}: {exc}.", hint="Pinning checks each file against PyPI's JSON API.",
                          code="pin-resolve-failed") from exc
    return {file["digests"]["sha256"] for file in response.json().get("releases", {}).get(version, [])}


def resolve_pypi_lock(package: PackageSource, python_version: str, constraints: tuple[str, ...] = (),
                      extra: tuple[str, ...] = ()) -> PackageLock:
    """Download the package and its dependencies for ``python_version`` and pin each wheel by its sha256.

    pip decides environment markers for the interpreter it runs on, not for ``python_version``: ``extra``
    requirements add what a marker leaves out here but the base image needs (``async-timeout`` below 3.11.3).
    ``constraints`` (pip constraint lines, e.g. ``mcp<2``) hold back a dependency that a server released before
    it declares without an upper bound: resolving today otherwise picks a release the server cannot run with."""
    with tempfile.TemporaryDirectory(prefix="mcpctl-pin-") as tmp:
        into = Path(tmp) / "wheels"
        (Path(tmp) / "constraints.txt").write_text("".join(f"{line}\n" for line in constraints))
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest",
                   str(into), "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
                   *(flag for platform in LOCK_PLATFORMS for flag in ("--platform", platform)),
                   "-c", str(Path(tmp) / "constraints.txt"), f"{package.name}=={package.version}", *extra]
        _run(command, f"{package.name}=={package.version} and its dependencies")
        requirements = []
        for path in sorted(into.glob("*.whl")):
            name, version = wheel_name_version(path.name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in _published_sha256(name, version):
                raise VerificationError(f"{path.name} (sha256:{digest}) is not a file PyPI publishes for "
                                        f"{name}=={version}.", hint="The configured index serves other bytes.",
                                        code="package-hash-mismatch", file=path.name, actual=digest)
            requirements.append(PinnedRequirement(name=name, version=version, sha256=[digest]))
    return PackageLock(python=python_version, requirements=requirements)


def resolve_npm_lock(package: PackageSource) -> PackageLock:
    """Let npm resolve a lockfile for the package (production dependencies) and keep its records' integrity."""
    import shutil

    npm = shutil.which("npm")
    if npm is None:
        raise EngineError("Pinning an npx:// source needs npm on this machine.", hint="Install Node.js and npm.",
                          code="build-no-npm")
    with tempfile.TemporaryDirectory(prefix="mcpctl-pin-") as tmp:
        root = Path(tmp)
        (root / "package.json").write_text(json.dumps(npm_manifest(package)))
        _run([npm, "install", "--package-lock-only", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
             f"{package.name}@{package.version}", cwd=root)
        records = json.loads((root / "package-lock.json").read_text())["packages"]
    locked: dict[str, NpmLocked] = {}
    for path, record in sorted(records.items()):
        if not path or record.get("dev") or record.get("link"):
            continue
        locked[path] = NpmLocked.model_validate({k: v for k, v in record.items() if k in _NPM_KEEP})
    return PackageLock(npm=locked)


def resolve_lock(package: PackageSource, python_version: str = "3.11", constraints: tuple[str, ...] = (),
                 extra: tuple[str, ...] = ()) -> PackageLock:
    if package.ecosystem == "pypi":
        return resolve_pypi_lock(package, python_version, constraints, extra)
    if constraints or extra:
        raise UsageError("--constraint and --with apply to uvx:// sources only.",
                         hint="For npx:// the package's own semver ranges decide; pin another version instead.")
    return resolve_npm_lock(package)


def pin_in_file(path: Path, name: str, *, package: str | None = None, python: str = "3.11",
                constraints: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> ServerEntry:
    """Resolve the pins of server ``name`` in the registry file at ``path`` and write them into it (unsigned:
    the maintainer re-signs). ``package`` sets or changes the entry's package source first."""
    from toolhive_py.config import atomic_write

    document = json.loads(path.read_text(encoding="utf-8"))
    servers = document.get("servers", {})
    if name not in servers:
        raise NotFoundError(f"{path} has no server {name!r}.", hint="`jq '.servers | keys' FILE` lists them.",
                            code="server-not-found")
    source = package or servers[name].get("package")
    if not source:
        raise UsageError(f"{name} has no package source to pin.",
                         hint="Give one: --package uvx://NAME==VERSION or --package npx://NAME@VERSION.")
    lock = resolve_lock(parse_package(source), python, constraints, extra)
    entry: dict[str, Any] = {}
    for key, value in servers[name].items():
        if key != "package_lock":
            entry[key] = value
        if key == "package":
            entry["package"] = source
            entry["package_lock"] = lock.model_dump(mode="json", exclude_defaults=True)
    if "package_lock" not in entry:
        entry["package"] = source
        entry["package_lock"] = lock.model_dump(mode="json", exclude_defaults=True)
    validated = ServerEntry.model_validate(entry)
    servers[name] = entry
    atomic_write(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(), mode=0o644)
    return validated


def floating_tags(document: RegistryDocument) -> list[str]:
    """Entries whose image names a tag that moves (``:latest``, or no tag at all): `registry sign` refuses them,
    because what such an entry runs changes without a new signed registry."""
    found = []
    for name, entry in document.servers.items():
        if entry.image is None or "@sha256:" in entry.image:
            continue
        last = entry.image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if tag is None or tag == "latest":
            found.append(f"{name} ({entry.image})")
    return found
