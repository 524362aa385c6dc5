"""Finding and talking to a container engine: Docker or Podman, both through the Docker API.

Discovery order, each with its provenance: ``--runtime-socket`` / setting ``runtime.socket``,
``MCPCTL_RUNTIME_SOCKET``, ``DOCKER_HOST``, rootless Podman, rootful Podman, Docker. An explicitly
chosen socket is used alone (never a silent fallback); auto-detection tries each existing socket.
This is the one boundary where docker SDK exceptions become mcpctl errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from toolhive_py.errors import ConflictError, EngineError, NotFoundError

if TYPE_CHECKING:
    from types import TracebackType

    import docker

    from toolhive_py.config import Paths

__all__ = ["ENV_SOCKET", "Engine", "SocketCandidate", "candidate_sockets", "configured_socket", "connect",
           "engine_errors", "open_engine"]

ENV_SOCKET: Final = "MCPCTL_RUNTIME_SOCKET"
_ROOTFUL_PODMAN: Final = "/run/podman/podman.sock"
_DOCKER: Final = "/var/run/docker.sock"


@dataclass(frozen=True)
class SocketCandidate:
    url: str
    source: str
    explicit: bool


def _as_url(value: str) -> str:
    return value if "://" in value else f"unix://{value}"


def candidate_sockets(
    *, flag: str | None, setting: str | None, environ: Mapping[str, str]
) -> list[SocketCandidate]:
    """The sockets to try, in precedence order. A pure function of its inputs."""
    for value, source in ((flag, "--runtime-socket"), (setting, "setting runtime.socket"),
                          (environ.get(ENV_SOCKET), ENV_SOCKET), (environ.get("DOCKER_HOST"), "DOCKER_HOST")):
        if value:
            return [SocketCandidate(_as_url(value), source, explicit=True)]
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    auto = [
        (f"{runtime_dir}/podman/podman.sock", "rootless Podman"),
        (_ROOTFUL_PODMAN, "rootful Podman"),
        (_DOCKER, "Docker"),
    ]
    return [SocketCandidate(f"unix://{path}", source, explicit=False) for path, source in auto]


# A fixed API version spares the SDK's own /version round trip ("auto"); we ask /version once
# ourselves. 1.41 (Docker 20.10, Podman 4's compat API) covers every call mcpctl makes.
_API_VERSION: Final = "1.41"

_FIX_HINT: Final = (
    "Start an engine — Docker: `sudo dockerd` or `sudo systemctl start docker`; Podman: "
    "`podman system service --time=0 unix:///run/podman/podman.sock` — or point mcpctl at one with "
    "`mcpctl config set runtime.socket unix:///path/to.sock`."
)


@dataclass
class Engine:
    """A connected engine: the docker SDK client plus where it came from and what it is."""

    client: docker.DockerClient
    url: str
    source: str
    kind: Literal["docker", "podman"]
    version: str

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.kind, "version": self.version, "socket": self.url, "source": self.source,
                "rootless": self.kind == "podman" and "/run/user/" in self.url}


def _probe_unix_socket(candidate: SocketCandidate) -> None:
    """Connect once ourselves: the docker SDK leaks its socket when the constructor's first connect fails."""
    import socket

    path = candidate.url.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(path)
        except OSError as exc:
            raise EngineError(f"{candidate.url} ({candidate.source}): cannot connect: {exc.strerror or exc}") from exc


def _try(candidate: SocketCandidate) -> Engine:
    import docker
    import docker.errors

    if candidate.url.startswith("unix://"):
        _probe_unix_socket(candidate)
    try:
        client = docker.DockerClient(base_url=candidate.url, timeout=60, version=_API_VERSION)
    except (docker.errors.DockerException, OSError) as exc:
        raise EngineError(f"{candidate.url} ({candidate.source}): {exc}") from exc
    try:
        info = client.version()
    except (docker.errors.DockerException, OSError) as exc:
        client.close()
        raise EngineError(f"{candidate.url} ({candidate.source}): {exc}") from exc
    components = " ".join(str(c.get("Name", "")) for c in info.get("Components") or [])
    kind: Literal["docker", "podman"] = "podman" if "podman" in components.lower() else "docker"
    return Engine(client, candidate.url, candidate.source, kind, str(info.get("Version", "?")))


def connect(*, flag: str | None = None, setting: str | None = None,
            environ: Mapping[str, str] | None = None) -> Engine:
    env = os.environ if environ is None else environ
    candidates = candidate_sockets(flag=flag, setting=setting, environ=env)
    tried: list[str] = []
    for candidate in candidates:
        if not candidate.explicit and candidate.url.startswith("unix://") and not Path(candidate.url[7:]).exists():
            tried.append(f"{candidate.url} ({candidate.source}): no such socket")
            continue
        try:
            return _try(candidate)
        except EngineError as error:
            tried.append(error.message)
    raise EngineError(
        "No container engine answered. Tried:\n  " + "\n  ".join(tried),
        hint=_FIX_HINT,
        code="engine-unavailable",
        tried=tried,
    )


def configured_socket(paths: Paths) -> str | None:
    """The user's ``runtime.socket`` setting, if any."""
    from toolhive_py.config import Settings

    return Settings(paths.settings_file).get("runtime.socket")


def open_engine(paths: Paths, flag: str | None = None) -> Engine:
    """The engine a command uses: ``flag``, else the ``runtime.socket`` setting, else env and auto-detection.

    Every caller (CLI, doctor, scan, ``scan --fix``) opens its engine here, so a setting is never ignored.
    Use it as a context manager to close it::

        with open_engine(paths, socket) as engine:
            ...
    """
    return connect(flag=flag, setting=configured_socket(paths))


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Translate docker SDK errors raised while doing ``what`` into mcpctl errors."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.NotFound as exc:
        raise NotFoundError(f"{what}: {exc.explanation or exc}") from exc
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise ConflictError(f"{what}: {exc.explanation or exc}") from exc
        raise EngineError(f"{what}: {exc.explanation or exc}", hint=_FIX_HINT) from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise EngineError(f"{what}: {exc}", hint=_FIX_HINT) from exc
