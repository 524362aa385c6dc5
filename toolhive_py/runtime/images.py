"""Getting the image a workload runs: pull policy, progress events, and digest pinning.

When an entry pins a digest, the image that runs must carry it (a repo digest or the image ID); a tag
that now points elsewhere is refused — a registry account takeover should not change what runs.

The image's USER is resolved here to a numeric ``uid:gid`` against the image's own /etc/passwd and /etc/group,
read from a created, never started, container (``spec.resolve_user`` decides; this module only reads).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from toolhive_py.errors import NotFoundError, VerificationError
from toolhive_py.runtime.engine import Engine, engine_errors
from toolhive_py.runtime.spec import NOBODY, resolve_user, user_needs_accounts

__all__ = ["LAUNCHER_INTERPRETERS", "ImageInfo", "PullFailure", "PullPolicy", "PullProgress", "classify_pull_error",
           "ensure_image", "find_image", "find_launcher", "load_hint", "read_accounts", "registry_of"]


class PullFailure(StrEnum):
    """Why a pull failed, the same on Docker and Podman (their texts differ; the cause and the fix do not)."""

    UNREACHABLE = "registry unreachable"
    NOT_FOUND = "no such image"
    DENIED = "access denied"
    OTHER = "pull failed"


# Checked in this order: Podman wraps a network failure in "pinging container registry …: Get …: dial tcp …", and
# Docker's "pull access denied …, repository does not exist or may require 'docker login'" is about existence first.
_PULL_FAILURES: Final = (
    (PullFailure.UNREACHABLE, ("no such host", "dial tcp", "connection refused", "i/o timeout", "network is unreachable",
                               "no route to host", "connection reset", "tls handshake", "x509:", "proxyconnect",
                               "server misbehaving", "temporary failure in name resolution", "deadline exceeded",
                               "timeout exceeded", "unexpected eof")),
    (PullFailure.NOT_FOUND, ("manifest unknown", "does not exist", "not found", "name unknown", "no such image",
                             "manifest for", "reference does not exist")),
    (PullFailure.DENIED, ("unauthorized", "authentication required", "denied", "forbidden")),
)


def classify_pull_error(text: str) -> PullFailure:
    """What an engine's pull error text means, as a closed set: a pure function, so both engines' texts are tested."""
    lowered = text.lower()
    for failure, needles in _PULL_FAILURES:
        if any(needle in lowered for needle in needles):
            return failure
    return PullFailure.OTHER


def registry_of(reference: str) -> str:
    """The registry host an image reference pulls from (Docker Hub's for a bare name)."""
    first, sep, _ = reference.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"


def load_hint(kind: str, reference: str) -> str:
    """How to bring an image onto a machine that cannot pull it."""
    return (f"On a machine that can pull it: `{kind} pull {reference} && {kind} save {reference} -o image.tar`; "
            f"then here: `{kind} load -i image.tar`. Or build an image yourself and tag it {reference}.")


def _pull_error(engine: Engine, reference: str, text: str) -> NotFoundError:
    failure = classify_pull_error(text)
    registry = registry_of(reference)
    why = {PullFailure.UNREACHABLE: f"{registry} cannot be reached from this machine",
           PullFailure.NOT_FOUND: f"{registry} has no such image",
           PullFailure.DENIED: f"{registry} refused access",
           PullFailure.OTHER: "the pull failed"}[failure]
    first = {PullFailure.NOT_FOUND: "Check the image name and tag. ",
             PullFailure.DENIED: f"Log in (`{engine.kind} login {registry}`) if it is private. "}.get(failure, "")
    return NotFoundError(f"Cannot pull {reference}: {why}.", hint=first + load_hint(engine.kind, reference),
                         code="image-unavailable", image=reference, reason=failure.value, detail=text.strip())


class PullPolicy(StrEnum):
    ALWAYS = "always"
    MISSING = "missing"
    NEVER = "never"


@dataclass(frozen=True)
class PullProgress:
    layer: str
    status: str
    current: int | None
    total: int | None


# Account files are a few KB; a hostile image's huge one is not read into memory (it resolves as unreadable).
_ACCOUNTS_CAP: Final = 1024 * 1024


@dataclass(frozen=True)
class ImageInfo:
    id: str
    repo_digests: tuple[str, ...]
    # What the container runs as: ``configured_user`` (the image's USER) resolved to a numeric, non-root uid:gid
    # once ``ensure_image`` returns it.
    user: str
    configured_user: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


def _argv(value: Any) -> tuple[str, ...]:
    """An image's ENTRYPOINT or CMD as the API gives it (a list, a shell-form string, or null)."""
    if isinstance(value, str):
        return ("/bin/sh", "-c", value)
    return tuple(str(part) for part in value or ())


def _info(engine: Engine, reference: str) -> ImageInfo | None:
    import docker.errors

    try:
        image = engine.client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    attrs: dict[str, Any] = image.attrs
    return ImageInfo(
        id=str(image.id),
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        user=str((attrs.get("Config") or {}).get("User") or ""),
        configured_user=str((attrs.get("Config") or {}).get("User") or ""),
        entrypoint=_argv((attrs.get("Config") or {}).get("Entrypoint")),
        cmd=_argv((attrs.get("Config") or {}).get("Cmd")),
    )


def _archived_text(container: Any, path: str) -> str:
    """The regular file at ``path`` in ``container``; empty when absent, not a regular file, or oversized."""
    import docker.errors

    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return ""
    data = bytearray()
    for chunk in stream:
        data += chunk
        if len(data) > _ACCOUNTS_CAP:
            return ""
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(data))) as archive:
            member = next((m for m in archive.getmembers() if m.isreg()), None)
            handle = archive.extractfile(member) if member is not None else None
            return handle.read().decode("utf-8", errors="replace") if handle is not None else ""
    except tarfile.TarError:
        return ""


def read_accounts(engine: Engine, image_id: str) -> tuple[str, str]:
    """The image's /etc/passwd and /etc/group texts, read without running anything from the image."""
    with engine_errors(f"Reading the accounts of {image_id[:19]}"):
        # Created, never started: nothing from the image runs. The entrypoint is given so an image without one can be
        # created, the user so Podman does not resolve the image's USER (a name it cannot resolve fails create).
        container = engine.client.containers.create(image_id, entrypoint=["/mcpctl-never-started"], command=[],
                                                    user=NOBODY, network_mode="none")
        try:
            return _archived_text(container, "/etc/passwd"), _archived_text(container, "/etc/group")
        finally:
            container.remove(force=True)


# Where the secrets launcher's interpreter is looked for, best first: python3 runs the launcher whose parser is
# unit-tested with the proxy's; a POSIX sh runs the shell one.
LAUNCHER_INTERPRETERS: Final = ("/usr/local/bin/python3", "/usr/bin/python3", "/bin/sh", "/usr/bin/sh")


def _exists(container: Any, path: str) -> bool:
    import docker.errors

    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return False
    for _chunk in stream:  # read to the end, so the connection is returned
        pass
    return True


def find_launcher(engine: Engine, image_id: str) -> str:
    """The first of ``LAUNCHER_INTERPRETERS`` the image has, or ""; looked at without running anything."""
    with engine_errors(f"Looking for a shell or python3 in {image_id[:19]}"):
        container = engine.client.containers.create(image_id, entrypoint=["/mcpctl-never-started"], command=[],
                                                    user=NOBODY, network_mode="none")
        try:
            return next((path for path in LAUNCHER_INTERPRETERS if _exists(container, path)), "")
        finally:
            container.remove(force=True)


def _resolved(engine: Engine, info: ImageInfo) -> ImageInfo:
    passwd, group = read_accounts(engine, info.id) if user_needs_accounts(info.configured_user) else ("", "")
    return replace(info, user=resolve_user(info.configured_user, passwd, group))


def _pull(engine: Engine, reference: str, progress: Callable[[PullProgress], None] | None) -> None:
    """Pull ``reference``; a failure is one ``image-unavailable`` error on both engines (Docker answers it with an
    HTTP 500, Podman with an ``error`` event in the stream), never "start an engine": the engine is up."""
    import docker.errors

    repository, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "latest")
    with engine_errors(f"Pulling {reference}"):
        failure: str | None = None
        try:
            # Read to the end even after an error event: the engine then closes the stream, and the connection with
            # it (leaving the stream half-read leaks the socket).
            for event in engine.client.api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    failure = failure or str(event["error"])
                elif progress is not None:
                    detail = event.get("progressDetail") or {}
                    progress(PullProgress(str(event.get("id", "")), str(event.get("status", "")),
                                          detail.get("current"), detail.get("total")))
        except docker.errors.APIError as exc:
            if exc.status_code is not None and exc.status_code < 500 and exc.status_code not in (401, 403, 404):
                raise
            raise _pull_error(engine, reference, str(exc.explanation or exc)) from exc
        if failure is not None:
            raise _pull_error(engine, reference, failure)


def find_image(engine: Engine, reference: str) -> ImageInfo | None:
    """The local image ``reference`` names, if the engine has it (never pulls)."""
    with engine_errors(f"Inspecting {reference}"):
        return _info(engine, reference)


def ensure_image(
    engine: Engine,
    reference: str,
    *,
    policy: PullPolicy = PullPolicy.MISSING,
    digest: str | None = None,
    progress: Callable[[PullProgress], None] | None = None,
) -> ImageInfo:
    with engine_errors(f"Inspecting {reference}"):
        info = _info(engine, reference)
    if policy is PullPolicy.ALWAYS or (info is None and policy is PullPolicy.MISSING):
        _pull(engine, reference, progress)
        with engine_errors(f"Inspecting {reference}"):
            info = _info(engine, reference)
    if info is None:
        raise NotFoundError(
            f"Image {reference} is not present on {engine.kind}.",
            hint=f"Pull it (--pull missing), or load it. {load_hint(engine.kind, reference)}",
            code="image-missing",
        )
    if digest is not None and digest != info.id and not any(d.endswith("@" + digest) for d in info.repo_digests):
        raise VerificationError(
            f"Image {reference} is {info.id}, not the pinned {digest}: the tag now points at another image.",
            hint="Refusing to run it. If the publisher really re-tagged, update the registry entry's digest.",
            code="digest-mismatch",
        )
    return _resolved(engine, info)
