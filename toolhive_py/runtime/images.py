"""Getting the image a workload runs: pull policy, progress events, and digest pinning.

When an entry pins a digest, the image that runs must carry it (a repo digest or the image ID); a tag
that now points elsewhere is refused — a registry account takeover should not change what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from toolhive_py.errors import NotFoundError, VerificationError
from toolhive_py.runtime.engine import Engine, engine_errors

__all__ = ["ImageInfo", "PullPolicy", "PullProgress", "ensure_image"]


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


@dataclass(frozen=True)
class ImageInfo:
    id: str
    repo_digests: tuple[str, ...]
    user: str


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
    )


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
    return info
