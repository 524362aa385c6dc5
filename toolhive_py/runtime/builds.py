"""Local images from package sources (``uvx://name==version``), for servers published only as packages
and for machines that cannot pull images.

Packages are resolved on the host (``pip download``), where the package index and any proxy or corporate
CA are already configured, and copied into the build: the image build itself runs without network.
The extra CA bundle (setting ``build.ca_bundle``) is installed in the image and exported through the
usual variables, so the server's own HTTPS calls trust it too.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolhive_py.errors import EngineError, UsageError
from toolhive_py.runtime.engine import engine_errors

if TYPE_CHECKING:
    from docker.types import Ulimit

    from toolhive_py.runtime.engine import Engine

__all__ = ["BuildConfig", "PackageSource", "build_package_image", "parse_package", "tag_for"]

DEFAULT_PYTHON_IMAGE = "python:3.11-slim-bookworm"
_UVX = re.compile(r"^uvx://(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")
_CA_PATH = "/usr/local/share/ca-certificates/mcpctl-extra.crt"


@dataclass(frozen=True)
class PackageSource:
    ecosystem: str  # "pypi"
    name: str
    version: str


@dataclass(frozen=True)
class BuildConfig:
    python_image: str
    ca_bundle: Path | None
    cache_dir: Path


def parse_package(source: str) -> PackageSource:
    match = _UVX.match(source)
    if match:
        return PackageSource("pypi", match.group("name"), match.group("version"))
    if source.startswith("npx://"):
        raise UsageError("Building npx:// package sources is not available yet.",
                         hint="Build an image yourself and run it with --unvetted.", code="not-implemented")
    raise UsageError(f"Invalid package source {source!r}.", hint="Use uvx://NAME==VERSION (an exact version).")


def tag_for(package: PackageSource) -> str:
    safe = re.sub(r"[^a-z0-9._-]", "-", package.name.lower())
    return f"mcpctl-build/{safe}:{package.version.lower().replace('+', '-')}"


def _python_version(engine: Engine, image: str) -> str:
    with engine_errors(f"Asking {image} for its Python version"):
        probe = ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        output = engine.client.containers.run(image, probe, remove=True, network_mode="none", user="65534:65534",
                                              ulimits=_ulimits())
    return output.decode().strip()


def _ulimits() -> list[Ulimit]:
    from docker.types import Ulimit

    return [Ulimit(name="nofile", soft=4096, hard=4096), Ulimit(name="nproc", soft=512, hard=512)]


def _download(package: PackageSource, python_version: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest", str(into),
               "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
               "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64", "--platform", "any",
               f"{package.name}=={package.version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own pip
    if result.returncode != 0:
        raise EngineError(f"Could not fetch {package.name}=={package.version} and its dependencies from the "
                          "package index.", hint=(result.stderr.strip().splitlines() or ["pip failed"])[-1],
                          code="build-fetch-failed")


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


def _dockerfile(config: BuildConfig, package: PackageSource, script: str) -> str:
    lines = [f"FROM {config.python_image}", "COPY wheels /tmp/wheels"]
    env = []
    if config.ca_bundle is not None:
        lines.append(f"COPY ca-bundle.pem {_CA_PATH}")
        env = [f"SSL_CERT_FILE={_CA_PATH}", f"REQUESTS_CA_BUNDLE={_CA_PATH}", f"PIP_CERT={_CA_PATH}",
               f"NODE_EXTRA_CA_CERTS={_CA_PATH}"]
    lines += [
        "RUN python3 -m venv /opt/mcp && /opt/mcp/bin/pip install --no-index --no-cache-dir --disable-pip-version-check "
        f"--find-links /tmp/wheels '{package.name}=={package.version}' && rm -rf /tmp/wheels",
        *(f"ENV {item}" for item in env),
        f'LABEL io.mcpctl.build.package="uvx://{package.name}=={package.version}"',
        "USER 65534:65534",
        f'ENTRYPOINT ["/opt/mcp/bin/{script}"]',
    ]
    return "\n".join(lines) + "\n"


def build_package_image(engine: Engine, source: str, config: BuildConfig,
                        notify: Callable[[str], None] = lambda _: None) -> str:
    """Build (or reuse) the image for ``source``; returns its tag. Same inputs, same tag, no rebuild."""
    package = parse_package(source)
    tag = tag_for(package)
    context = config.cache_dir / "builds" / tag.replace("/", "_").replace(":", "_")
    ca = config.ca_bundle.read_bytes() if config.ca_bundle else b""
    fingerprint = hashlib.sha256(f"{source}|{config.python_image}".encode() + ca).hexdigest()[:16]
    with engine_errors(f"Looking for {tag}"):
        try:
            existing = engine.client.images.get(tag)
        except Exception:  # noqa: BLE001 - the SDK's ImageNotFound; anything else is retried by the build
            existing = None
    if existing is not None and (existing.labels or {}).get("io.mcpctl.build.fingerprint") == fingerprint:
        return tag
    notify(f"building {tag} locally from {source} on {config.python_image}")
    shutil.rmtree(context, ignore_errors=True)
    _download(package, _python_version(engine, config.python_image), context / "wheels")
    if config.ca_bundle is not None:
        shutil.copy(config.ca_bundle, context / "ca-bundle.pem")
    (context / "Dockerfile").write_text(_dockerfile(config, package, _console_script(package, context / "wheels")))
    with engine_errors(f"Building {tag}"):
        engine.client.images.build(path=str(context), tag=tag, rm=True, pull=False, network_mode="none",
                                   labels={"io.mcpctl.build.fingerprint": fingerprint})
    return tag
