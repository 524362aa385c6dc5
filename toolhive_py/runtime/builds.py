"""Local images from package sources (``uvx://name==version``, ``npx://name@version``), for servers
published only as packages and for machines that cannot pull images.

Packages are resolved on the host (``pip download``, ``npm install``), where the index and any proxy or corporate
CA are already configured, and copied into the build: the image build itself runs without network.
A source with a ``package_lock`` (a registry entry pinned by hash, :mod:`toolhive_py.registry.pinning`) installs
exactly the pinned set: pip in hash-checking mode with ``--no-deps``, ``npm ci`` from the signed lockfile. Anything
else is refused before an image is built.
The extra CA bundle (setting ``build.ca_bundle``) is added to the image's system trust store and exported through
the usual variables, so the server's own HTTPS calls trust it as well as the public roots.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolhive_py.errors import ConfigError, EngineError, NotFoundError
from toolhive_py.packages import PackageSource, parse_package
from toolhive_py.registry import pinning
from toolhive_py.runtime import labels
from toolhive_py.runtime.engine import engine_errors
from toolhive_py.runtime.images import PullPolicy, ensure_image, load_hint
from toolhive_py.runtime.spec import NOBODY, hardened_settings

if TYPE_CHECKING:
    from toolhive_py.registry.models import PackageLock
    from toolhive_py.runtime.engine import Engine

__all__ = ["DEFAULT_NODE_IMAGE", "DEFAULT_PYTHON_IMAGE", "BuildConfig", "base_setting",
           "build_package_image", "cached_package_image", "require_base_image", "tag_for"]

DEFAULT_PYTHON_IMAGE = "python:3.11-slim-bookworm"
DEFAULT_NODE_IMAGE = "node:22-bookworm-slim"
_CA_PATH = "/usr/local/share/ca-certificates/mcpctl-extra.crt"
_SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's, which update-ca-certificates regenerates
# The base image's Python version is asked in a throw-away container, hardened like every other one.
_PROBE_MEMORY = 256 * 1024 * 1024
_PROBE_PIDS = 32


@dataclass(frozen=True)
class BuildConfig:
    python_image: str
    ca_bundle: Path | None
    cache_dir: Path
    node_image: str = DEFAULT_NODE_IMAGE


def tag_for(package: PackageSource) -> str:
    safe = re.sub(r"[^a-z0-9._-]", "-", package.name.lower().lstrip("@"))
    return f"mcpctl-build/{safe}:{package.version.lower().replace('+', '-')}"


def _python_version(engine: Engine, image: str) -> str:
    with engine_errors(f"Asking {image} for its Python version"):
        probe = ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        output: bytes = engine.client.containers.run(image, probe, remove=True, network_mode="none",
                                                     **hardened_settings(memory=_PROBE_MEMORY, pids_limit=_PROBE_PIDS))
    return output.decode().strip()


def _fetch_hint(package: PackageSource) -> str:
    """What to do when a build cannot reach its index: point the host's own tool at a mirror (docs/runtime.md)."""
    if package.ecosystem == "npm":
        where = "`npm config set registry https://MIRROR/` (and `npm config set cafile PEM` for its CA)"
    else:
        where = "`pip config set global.index-url https://MIRROR/simple/` (and `pip config set global.cert PEM`)"
    return (f"Builds fetch on this machine with its own settings: point them at a mirror with {where}. "
            "A mirror's CA for the server's own HTTPS calls: `mcpctl config set build.ca_bundle PEM`. "
            "docs/runtime.md, \"Air-gapped machines\", lists what else works offline.")


def _download(package: PackageSource, python_version: str, into: Path, lock: PackageLock | None = None) -> None:
    into.mkdir(parents=True, exist_ok=True)
    if lock is not None:
        (into.parent / "requirements.txt").write_text(pinning.requirements_text(lock))
        wanted = ["--no-deps", "--require-hashes", "-r", str(into.parent / "requirements.txt")]
    else:
        wanted = [f"{package.name}=={package.version}"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest", str(into),
               "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
               *(flag for platform in pinning.LOCK_PLATFORMS for flag in ("--platform", platform)), *wanted]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own pip
    if result.returncode != 0:
        if lock is not None and (refusal := pinning.pip_hash_error(package, lock, result.stderr)) is not None:
            raise refusal
        raise EngineError(f"Could not fetch {package.name}=={package.version} and its dependencies from the "
                          f"package index: {(result.stderr.strip().splitlines() or ['pip failed'])[-1]}",
                          hint=_fetch_hint(package), code="build-fetch-failed")


def _npm_install(package: PackageSource, into: Path, lock: PackageLock | None = None) -> str:
    """Install the package and its production dependencies on the host; returns its entry script path.

    With a lock, ``npm ci`` installs the signed lockfile and nothing else (npm checks each tarball's integrity)."""
    into.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise EngineError("npx:// builds need npm on this machine.", hint="Install Node.js and npm.",
                          code="build-no-npm")
    common = ["--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"]
    if lock is not None:
        (into / "package.json").write_text(json.dumps(pinning.npm_manifest(package), indent=2) + "\n")
        (into / "package-lock.json").write_text(json.dumps(pinning.npm_lockfile(package, lock), indent=2) + "\n")
        command = [npm, "ci", "--prefix", str(into), *common]
    else:
        (into / "package.json").write_text('{"private": true}\n')
        command = [npm, "install", "--prefix", str(into), *common, f"{package.name}@{package.version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=into)  # noqa: S603 - our npm
    if result.returncode != 0:
        if lock is not None and (refusal := pinning.npm_integrity_error(package, lock, result.stderr)) is not None:
            raise refusal
        reason = next((line for line in result.stderr.strip().splitlines() if " code " in line or "ERR" in line),
                      (result.stderr.strip().splitlines() or ["npm failed"])[-1])
        raise EngineError(f"Could not fetch {package.name}@{package.version} from the npm registry: {reason}",
                          hint=_fetch_hint(package), code="build-fetch-failed")
    manifest = json.loads((into / "node_modules" / package.name / "package.json").read_text())
    bins = manifest.get("bin") or {}
    if isinstance(bins, str):
        return f"node_modules/{package.name}/{bins}"
    short = package.name.rsplit("/", 1)[-1]
    script = bins.get(short) or next(iter(bins.values()), None) or manifest.get("main") or "index.js"
    return f"node_modules/{package.name}/{script.removeprefix('./')}"


def _console_script(package: PackageSource, wheels: Path) -> str:
    """The command the package installs under its own name (what `uvx NAME` would run), else its first one."""
    normalized = re.sub(r"[-_.]+", "_", package.name).lower()
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.lower().startswith(normalized + "-"):
            continue
        with zipfile.ZipFile(wheel) as archive:
            entry_points = next((n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
            if entry_points is None:
                break
            text = archive.read(entry_points).decode()
        section = text.split("[console_scripts]", 1)[-1].split("\n[", 1)[0]
        scripts = [line.split("=")[0].strip() for line in section.splitlines() if "=" in line]
        return package.name if package.name in scripts else scripts[0] if scripts else package.name
    return package.name


def _dockerfile(config: BuildConfig, package: PackageSource, script: str, *, pinned: bool = False) -> str:
    node = package.ecosystem == "npm"
    lines = [f"FROM {config.node_image if node else config.python_image}",
             "COPY app /opt/mcp" if node else "COPY wheels /tmp/wheels"]
    if pinned and not node:
        lines.append("COPY requirements.txt /tmp/requirements.txt")
    env: list[str] = []
    if config.ca_bundle is not None:
        # Into the system bundle, not instead of it: SSL_CERT_FILE replaces OpenSSL's roots, so pointing it at the
        # extra CA alone would break every public HTTPS call. Node adds NODE_EXTRA_CA_CERTS to its own roots.
        lines += [f"COPY ca-bundle.pem {_CA_PATH}",
                  f"RUN update-ca-certificates >/dev/null 2>&1 || {{ mkdir -p /etc/ssl/certs && cat {_CA_PATH} >> {_SYSTEM_BUNDLE}; }}"]
        env = [f"SSL_CERT_FILE={_SYSTEM_BUNDLE}", f"REQUESTS_CA_BUNDLE={_SYSTEM_BUNDLE}", f"PIP_CERT={_SYSTEM_BUNDLE}",
               f"NODE_EXTRA_CA_CERTS={_CA_PATH}"]
    if node:
        source, entrypoint = str(package), f'["node", "/opt/mcp/{script}"]'
    else:
        wanted = ("--require-hashes --no-deps -r /tmp/requirements.txt" if pinned
                  else f"'{package.name}=={package.version}'")
        lines.append("RUN python3 -m venv /opt/mcp && /opt/mcp/bin/pip install --no-index --no-cache-dir "
                     f"--disable-pip-version-check --find-links /tmp/wheels {wanted} "
                     "&& rm -rf /tmp/wheels /tmp/requirements.txt")
        source, entrypoint = str(package), f'["/opt/mcp/bin/{script}"]'
    lines += [*(f"ENV {item}" for item in env), f'LABEL {labels.BUILD_PACKAGE}="{source}"', f"USER {NOBODY}",
              f"ENTRYPOINT {entrypoint}"]
    return "\n".join(lines) + "\n"


def base_setting(package: PackageSource) -> str:
    """The setting that names the base image a package's build starts from."""
    return "build.node_image" if package.ecosystem == "npm" else "build.python_image"


def require_base_image(engine: Engine, image: str, setting: str) -> None:
    """A local build's base image, present or pulled; an offline machine without it is told what to set."""
    try:
        ensure_image(engine, image, policy=PullPolicy.MISSING)
    except NotFoundError as error:
        needs = "node" if setting == "build.node_image" else "python3"
        reason = error.context.get("reason") or "it is not there"
        raise NotFoundError(
            f"Cannot build locally: the base image {image} is not on {engine.kind} and cannot be pulled ({reason}).",
            hint=f"Use a local image that has {needs} (`{engine.kind} images` lists them): "
                 f"`mcpctl config set {setting} IMAGE`. Or bring {image} here. {load_hint(engine.kind, image)}",
            code="image-unavailable", image=image, setting=setting, reason=reason,
        ) from error


def _fingerprint(package: PackageSource, source: str, config: BuildConfig, lock: PackageLock | None = None) -> str:
    ca = config.ca_bundle.read_bytes() if config.ca_bundle else b""
    base = config.node_image if package.ecosystem == "npm" else config.python_image
    recipe = _dockerfile(config, package, "", pinned=lock is not None)  # a changed recipe rebuilds old images
    pins = lock.model_dump_json() if lock is not None else ""  # an image built from other pins is not this one
    return hashlib.sha256(f"{source}|{base}|{recipe}|{pins}".encode() + ca).hexdigest()[:16]


def cached_package_image(engine: Engine, source: str, config: BuildConfig, lock: PackageLock | None = None) -> str | None:
    """The tag of an image already built from ``source`` with these exact inputs, if there is one."""
    package = parse_package(source)
    tag = tag_for(package)
    with engine_errors(f"Looking for {tag}"):
        try:
            existing = engine.client.images.get(tag)
        except Exception:  # noqa: BLE001 - the SDK's ImageNotFound; anything else is retried by the build
            existing = None
    fingerprint = _fingerprint(package, source, config, lock)
    return tag if existing is not None and (existing.labels or {}).get(labels.BUILD_FINGERPRINT) == fingerprint \
        else None


def build_package_image(engine: Engine, source: str, config: BuildConfig,
                        notify: Callable[[str], None] = lambda _: None, lock: PackageLock | None = None) -> str:
    """Build (or reuse) the image for ``source``; returns its tag. Same inputs, same tag, no rebuild.

    With ``lock`` (the entry's signed pins) only the pinned files are installed; a mismatch raises
    VerificationError (exit 3) naming the file and both hashes, before any image exists."""
    if (cached := cached_package_image(engine, source, config, lock)) is not None:
        return cached
    package = parse_package(source)
    tag = tag_for(package)
    context = config.cache_dir / "builds" / tag.replace("/", "_").replace(":", "_")
    base = config.node_image if package.ecosystem == "npm" else config.python_image
    require_base_image(engine, base, base_setting(package))
    notify(f"building {tag} locally from {source}{' (pinned by hash)' if lock else ''} on {base}")
    shutil.rmtree(context, ignore_errors=True)
    if package.ecosystem == "npm":
        script = _npm_install(package, context / "app", lock)
    else:
        python_version = _python_version(engine, config.python_image)
        if lock is not None and (why := pinning.lock_python_mismatch(lock, python_version)) is not None:
            raise ConfigError(f"Cannot build {source} on {config.python_image}: {why}.",
                              hint=f"Use a base image with Python {lock.python}: "
                                   "`mcpctl config set build.python_image IMAGE`.", code="build-python-mismatch")
        _download(package, python_version, context / "wheels", lock)
        if lock is not None:
            pinning.check_wheels(package, lock, context / "wheels")
        script = _console_script(package, context / "wheels")
    if config.ca_bundle is not None:
        shutil.copy(config.ca_bundle, context / "ca-bundle.pem")
    (context / "Dockerfile").write_text(_dockerfile(config, package, script, pinned=lock is not None))
    with engine_errors(f"Building {tag}"):
        engine.client.images.build(path=str(context), tag=tag, rm=True, pull=False, network_mode="none",
                                   labels={labels.BUILD_FINGERPRINT: _fingerprint(package, source, config, lock)})
    return tag
