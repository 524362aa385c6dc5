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

__all__ = ["ImageInfo", "PullPolicy", "PullProgress", "ensure_image", "read_accounts"]


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


def _resolved(engine: Engine, info: ImageInfo) -> ImageInfo:
    passwd, group = read_accounts(engine, info.id) if user_needs_accounts(info.configured_user) else ("", "")
    return replace(info, user=resolve_user(info.configured_user, passwd, group))


def _pull(engine: Engine, reference: str, progress: Callable[[PullProgress], None] | None) -> None:
    repository, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "latest")
    with engine_errors(f"Pulling {reference}"):
        for event in engine.client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise NotFoundError(f"Cannot pull {reference}: {event['error']}",
                                    hint="Check the image name, your network, or build it locally.",
                                    code="pull-failed")
            if progress is not None:
                detail = event.get("progressDetail") or {}
                progress(PullProgress(str(event.get("id", "")), str(event.get("status", "")),
                                      detail.get("current"), detail.get("total")))


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
            hint="Pull it (--pull missing), load it (`docker load`), or build it locally.",
            code="image-missing",
        )
    if digest is not None and digest != info.id and not any(d.endswith("@" + digest) for d in info.repo_digests):
        raise VerificationError(
            f"Image {reference} is {info.id}, not the pinned {digest}: the tag now points at another image.",
            hint="Refusing to run it. If the publisher really re-tagged, update the registry entry's digest.",
            code="digest-mismatch",
        )
    return _resolved(engine, info)
