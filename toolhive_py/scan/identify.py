"""What runs behind a server entry or command line: npm/PyPI package, image or URL, and whether it is
pinned. Pure functions over strings, shared by config, process and container discovery."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Identity", "from_command", "from_image", "from_url", "program_name"]

_NPX_RUNNERS = {"npx", "bunx", "pnpx"}
_PY_RUNNERS = {"uvx", "pipx"}
_EXACT_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_DOCKER_VALUE_FLAGS = {"-e", "--env", "-v", "--volume", "--name", "--network", "--net", "-p", "--publish", "-u",
                       "--user", "-w", "--workdir", "--env-file", "--mount", "--label", "-l", "--entrypoint",
                       "--platform", "--cpus", "-m", "--memory", "--pull", "--add-host", "--cap-add", "--cap-drop",
                       "--pid", "--ipc", "--uts", "--userns", "--hostname", "-h", "--device", "--tmpfs", "--ulimit",
                       "--security-opt", "--runtime", "--restart", "--log-driver", "--log-opt", "--gpus", "--shm-size",
                       "--dns", "--expose", "--group-add", "--cidfile", "--stop-signal", "--memory-swap"}


@dataclass(frozen=True)
class Identity:
    kind: str  # npm, pypi, image, url, command
    package: str | None
    version: str | None
    pinned: bool
    target: str


def program_name(program: str) -> str:
    """`C:\\tools\\NPX.cmd` → `npx`: how a command is compared across configs and processes."""
    return re.split(r"[\\/]", program)[-1].lower().removesuffix(".cmd").removesuffix(".exe")


def _npm(spec: str) -> Identity:
    name, _, raw_version = spec.rpartition("@") if spec.rfind("@") > 0 else (spec, "", "")
    version = raw_version or None
    return Identity("npm", name, version, bool(version and _EXACT_SEMVER.match(version)), spec)


def _pypi(spec: str) -> Identity:
    match = re.match(r"^([A-Za-z0-9_.\[\]-]+)(?:(==|@)([^\s]+))?$", spec)
    if not match:
        return Identity("pypi", spec, None, False, spec)
    version = match.group(3)
    return Identity("pypi", match.group(1), version, bool(version and version != "latest"), spec)


# Prefixes engines add to the same image: Podman reports local images as localhost/…, and Docker Hub
# images may be written docker.io/library/…; identity (and registry matching) uses the short form.
_IMPLIED_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/",
                     "localhost/")


def from_image(reference: str) -> Identity:
    name, digest = (reference.split("@", 1) + [""])[:2]
    last = name.rsplit("/", 1)[-1]
    repo, tag = (name.rsplit(":", 1) if ":" in last else (name, "latest"))
    repo = next((repo.removeprefix(p) for p in _IMPLIED_PREFIXES if repo.startswith(p)), repo)
    pinned = bool(digest) or (tag != "latest" and bool(_EXACT_SEMVER.match(tag) or re.match(r"^v?\d", tag)))
    return Identity("image", repo, digest or tag, pinned, reference)


def from_url(url: str) -> Identity:
    """The URL without its query string or userinfo: both can hold the credentials a report redacts."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return Identity("url", None, None, True, urlunsplit((parts.scheme, host, parts.path, "", "")))


def _first_operand(args: list[str], value_flags: Collection[str] = ()) -> str | None:
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in value_flags:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def from_command(command: str, args: list[str]) -> Identity:
    """npx -y pkg@1.2.3 / uvx pkg==1.0 / docker run … image / node path/to/server.js …"""
    program = program_name(command)
    if program in _NPX_RUNNERS or (program in ("pnpm", "yarn") and args[:1] == ["dlx"]):
        spec = _first_operand(args[1:] if program in ("pnpm", "yarn") else args, {"-p", "--package"})
        return _npm(spec) if spec else Identity("command", None, None, False, command)
    if program in _PY_RUNNERS:
        rest = args[1:] if program == "pipx" and args[:1] == ["run"] else args
        spec = _first_operand(rest, {"--from", "--with", "--python", "--spec"})
        return _pypi(spec) if spec else Identity("command", None, None, False, command)
    if program in ("docker", "podman") and args[:1] == ["run"]:
        image = _first_operand(args[1:], _DOCKER_VALUE_FLAGS)
        return from_image(image) if image else Identity("command", None, None, False, command)
    return Identity("command", None, None, False, program)
