"""From ``mcpctl run SERVER`` to a running workload: resolve what SERVER names, decide trust, build the
request, make sure the image is there, and start it.

Trust policy: a server from a verified registry is vetted. Anything else — an image reference, a
package source, a server from a registry added with ``--insecure-skip-verify`` — runs only with
``unvetted=True`` and is labelled so everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from toolhive_py.errors import EngineError, NotFoundError, UnvettedError, UsageError
from toolhive_py.registry.models import Permissions, ServerEntry
from toolhive_py.runtime.builds import DEFAULT_PYTHON_IMAGE, BuildConfig, build_package_image, parse_package, tag_for
from toolhive_py.runtime.images import ImageInfo, PullPolicy, PullProgress, ensure_image
from toolhive_py.runtime.spec import (
    DEFAULT_CPUS,
    DEFAULT_MEMORY,
    ContainerSpec,
    Mount,
    RunRequest,
    build_container_spec,
    parse_permission_profile,
)
from toolhive_py.runtime.workloads import Workload, create_workload

if TYPE_CHECKING:
    from toolhive_py.registry import RegistryStore
    from toolhive_py.runtime.engine import Engine

__all__ = ["RunOptions", "RunTarget", "SecretResolver", "launch", "plan", "resolve_target", "secret_pairs"]

SecretResolver = Callable[[Sequence[tuple[str, str]]], Mapping[str, str]]
"""Given (secret name, env var) pairs, return env var → value; raise when a secret is missing."""


@dataclass(frozen=True)
class RunTarget:
    server: str
    image: str
    vetted: bool
    registry: str | None = None
    entry: ServerEntry | None = None
    package: str | None = None  # uvx:// source to build from when the image is missing or unpullable


@dataclass(frozen=True)
class RunOptions:
    name: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    permission_profile: str = "default"
    memory: str = DEFAULT_MEMORY
    cpus: float = DEFAULT_CPUS
    args: tuple[str, ...] = ()
    pull: PullPolicy = PullPolicy.MISSING
    proxy_port: int | None = None
    policy_json: str | None = None


def _looks_like_image(reference: str) -> bool:
    return "/" in reference or ":" in reference or "@" in reference


def resolve_target(store: RegistryStore, server: str, *, unvetted: bool) -> RunTarget:
    if server.startswith(("npx://", "uvx://")):
        if not unvetted:
            raise UnvettedError(f"{server} is a package source, not a vetted registry server.",
                                hint="Pass --unvetted to run it anyway; it will be marked unvetted.")
        return RunTarget(server=server, image=tag_for(parse_package(server)), vetted=False, package=server)
    try:
        found = store.find(server)
    except NotFoundError:
        if not _looks_like_image(server):
            raise
        if not unvetted:
            raise UnvettedError(
                f"{server} is not a server from a trusted registry.",
                hint="`mcpctl search` lists vetted servers; pass --unvetted to run this image anyway.",
            ) from None
        return RunTarget(server=server, image=server, vetted=False)
    package = found.entry.package
    image = found.entry.image or (tag_for(parse_package(package)) if package else None)
    if image is None:
        raise UsageError(f"{found.qualified_name} names neither an image nor a package.", code="invalid-entry")
    if not found.verified and not unvetted:
        raise UnvettedError(f"{found.qualified_name} comes from an unsigned registry.",
                            hint="Pass --unvetted to run it anyway.")
    return RunTarget(found.name, image, found.verified, found.registry, found.entry, package)


def secret_pairs(target: RunTarget, options: RunOptions) -> list[tuple[str, str]]:
    """(secret name, env var) for every ``--secret`` plus every env var the entry flags secret.

    A registry-declared secret is looked up under its env var name unless ``--secret NAME:ENV`` maps it.
    """
    given = {env_name for _, env_name in options.secrets}
    declared = [(var.name, var.name) for var in (target.entry.secret_env_vars if target.entry else [])]
    return [*options.secrets, *((s, e) for s, e in declared if e not in given)]


def plan(target: RunTarget, options: RunOptions, *, image_user: str = "",
         image_id: str = "") -> tuple[RunRequest, ContainerSpec]:
    """The request and the hardened spec for ``target``: pure, so `--dry-run` shows exactly what runs."""
    entry = target.entry
    default_permissions = entry.permissions if entry else Permissions()
    permissions = parse_permission_profile(options.permission_profile, default_permissions)
    env = {var.name: var.default for var in (entry.env_vars if entry else []) if var.default and not var.secret}
    env.update(options.env)
    secrets = secret_pairs(target, options)
    request = RunRequest(
        name=options.name or target.server.rsplit("/", 1)[-1].split(":")[0].split("@")[0],
        image=target.image,
        image_user=image_user,
        image_id=image_id,
        transport=entry.transport if entry else "stdio",
        target_port=entry.target_port if entry else None,
        args=options.args or tuple(entry.args if entry else ()),
        env=env,
        secret_env_names=tuple(e for _, e in secrets),
        mounts=options.mounts,
        permissions=permissions,
        memory=options.memory,
        cpus=options.cpus,
        vetted=target.vetted,
        server=target.server,
        registry=target.registry,
        proxy_port=options.proxy_port,
        policy_json=options.policy_json,
    )
    return request, build_container_spec(request)


def _obtain_image(engine: Engine, target: RunTarget, options: RunOptions, *, build: BuildConfig | None,
                  progress: Callable[[PullProgress], None] | None, notify: Callable[[str], None]) -> tuple[RunTarget, ImageInfo]:
    """The image to run: pulled or present, or built from the entry's package when that is the only way."""
    digest = target.entry.digest if target.entry else None
    if target.package and build is not None and target.image == tag_for(parse_package(target.package)):
        tag = build_package_image(engine, target.package, build, notify)
        return target, ensure_image(engine, tag, policy=PullPolicy.NEVER)
    try:
        return target, ensure_image(engine, target.image, policy=options.pull, digest=digest, progress=progress)
    except (EngineError, NotFoundError) as error:
        if not target.package or build is None or digest is not None:  # a local build cannot match a pinned digest
            raise
        notify(f"cannot get {target.image} ({error.message.rstrip('.')}); building it locally from {target.package}")
        tag = build_package_image(engine, target.package, build, notify)
        return replace(target, image=tag), ensure_image(engine, tag, policy=PullPolicy.NEVER)


def launch(
    engine: Engine,
    target: RunTarget,
    options: RunOptions,
    *,
    resolve_secrets: SecretResolver,
    progress: Callable[[PullProgress], None] | None = None,
    build: BuildConfig | None = None,
    notify: Callable[[str], None] = lambda _: None,
) -> Workload:
    target, image = _obtain_image(engine, target, options, build=build, progress=progress, notify=notify)
    _, spec = plan(target, options, image_user=image.user, image_id=image.id)
    pairs = secret_pairs(target, options)
    values = dict(resolve_secrets(pairs)) if pairs else {}
    filter_image = None
    if spec.egress is not None:
        from toolhive_py.runtime.egress import ensure_filter_image

        notify(f"egress limited to {', '.join(spec.egress.allow_host)}: adding mcpctl's egress filter")
        filter_image = ensure_filter_image(engine, build.python_image if build else DEFAULT_PYTHON_IMAGE)
    return create_workload(engine, spec, values, egress_image=filter_image)
