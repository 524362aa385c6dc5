"""From ``mcpctl run SERVER`` to a running workload: resolve what SERVER names, decide trust, build the
request, make sure the image is there, and start it.

Trust policy: a server from a verified registry is vetted. Anything else — an image reference, a
package source, a server from a registry added with ``--insecure-skip-verify`` — runs only with
``unvetted=True`` and is labelled so everywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from toolhive_py.errors import EngineError, NotFoundError, UnvettedError, UsageError
from toolhive_py.packages import is_package_source, parse_package
from toolhive_py.registry.models import Permissions, ServerEntry
from toolhive_py.runtime.builds import DEFAULT_PYTHON_IMAGE, BuildConfig, build_package_image, tag_for
from toolhive_py.runtime.images import ImageInfo, PullPolicy, PullProgress, ensure_image
from toolhive_py.runtime.spec import (
    DEFAULT_CPUS,
    DEFAULT_MEMORY,
    ContainerSpec,
    Mount,
    RunRequest,
    SecretInjection,
    build_container_spec,
    parse_permission_profile,
)
from toolhive_py.runtime.workloads import Workload, create_workload
from toolhive_py.secrets.resolve import SecretRequest

if TYPE_CHECKING:
    from toolhive_py.registry import RegistryStore
    from toolhive_py.runtime.engine import Engine

__all__ = ["LaunchPlan", "Launched", "RunOptions", "RunTarget", "SecretResolver", "launch", "parse_env_lines",
           "parse_run_options", "plan", "refuse_plain_secrets", "resolve_target", "secret_requests", "workload_name"]

SecretResolver = Callable[[Sequence[SecretRequest]], Mapping[str, str]]
"""Given the secrets a workload needs, return env var → value; raise when a secret is missing."""


@dataclass(frozen=True)
class RunTarget:
    server: str
    image: str
    vetted: bool
    registry: str | None = None
    entry: ServerEntry | None = None
    package: str | None = None  # uvx:// source to build from when the image is missing or unpullable
    also_in: tuple[str, ...] = ()  # other registries that list the same server name
    shadows_builtin: bool = False  # a bare name picked this entry over the built-in registry's

    @property
    def qualified_name(self) -> str:
        """REGISTRY/NAME for a registry server, else what was run (an image or a package source)."""
        return f"{self.registry}/{self.server}" if self.registry else self.server


@dataclass(frozen=True)
class RunOptions:
    name: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[SecretRequest, ...] = ()
    mounts: tuple[Mount, ...] = ()
    permission_profile: str = "default"
    memory: str = DEFAULT_MEMORY
    cpus: float = DEFAULT_CPUS
    args: tuple[str, ...] = ()
    pull: PullPolicy = PullPolicy.MISSING
    proxy_port: int | None = None
    policy_json: str | None = None
    owner: str = field(default_factory=lambda: str(os.getuid()))
    allow_env_secrets: bool = False  # an image with no launcher interpreter may get its secrets as plain env
    secret_backend: str = ""  # the backend the secrets come from, recorded so a restarted proxy asks it again


_DOUBLE_QUOTED_ESCAPES: Final = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def _unquote(value: str) -> str:
    """A dotenv value: 'single' is literal, "double" takes backslash escapes, bare text loses a `` # comment``."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _DOUBLE_QUOTED_ESCAPES.get(m.group(1), m.group(0)), value[1:-1])
    return re.sub(r"\s+#.*$", "", value)


def parse_env_lines(lines: Iterable[str], *, dotenv: bool) -> dict[str, str]:
    """``KEY=VALUE`` entries; with ``dotenv`` (an ``--env-file``), ``export KEY=…``, quotes and comments too."""
    env: dict[str, str] = {}
    for raw in lines:
        line = raw.strip() if dotenv else raw
        if dotenv and (not line or line.startswith("#")):
            continue
        if dotenv and line.startswith("export "):
            line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(f"Invalid environment entry {key or line!r}.", hint="Use KEY=VALUE, KEY a variable name.")
        env[key] = _unquote(value.strip()) if dotenv else value
    return env


def refuse_plain_secrets(env: Mapping[str, str]) -> None:
    """``-e``/``--env-file`` values are visible in argv, shell history and the container's labels: a value
    that the secret detectors (``toolhive_py.detectors``, shared with scan and the proxy's DLP) call a secret
    is refused, with the ``--secret`` way to pass it."""
    from toolhive_py.detectors import detect

    for key, value in env.items():
        if detect(value, key) is not None:
            raise UsageError(f"{key} looks like a secret; it is not passed as a plain environment variable.",
                             hint=f"Store it (`mcpctl secret set {key}`, reading a hidden prompt or stdin) and pass "
                                  f"`--secret {key}` instead.", code="secret-in-env", env=key)


def parse_run_options(*, name: str | None, secrets: Sequence[str], env: Sequence[str], env_file: Path | None,
                      volumes: Sequence[str], permission_profile: str, pull: str, memory: str, cpus: float,
                      args: Sequence[str], port: int | None, tools: str | None, deny_tools: str | None,
                      rate_limit: str | None, screen: str = "warn", dlp: str = "redact",
                      allow_env_secrets: bool = False) -> RunOptions:
    """``run``'s command-line values, checked and typed; every mistake is a UsageError naming the fix."""
    from toolhive_py.proxy.policy import ToolPolicy
    from toolhive_py.runtime.spec import parse_volume
    from toolhive_py.secrets import parse_secret_flag

    try:
        pull_policy = PullPolicy(pull)
    except ValueError:
        raise UsageError(f"Invalid --pull {pull!r}.", hint="Use always, missing or never.") from None
    try:
        file_lines = env_file.read_text(encoding="utf-8").splitlines() if env_file else []
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read --env-file {env_file}: {exc}", hint="Name a readable UTF-8 file.") from exc
    environment = {**parse_env_lines(file_lines, dotenv=True), **parse_env_lines(env, dotenv=False)}
    refuse_plain_secrets(environment)
    return RunOptions(
        name=name, env=environment, secrets=tuple(parse_secret_flag(flag) for flag in secrets),
        mounts=tuple(parse_volume(v) for v in volumes), permission_profile=permission_profile,
        memory=memory, cpus=cpus, args=tuple(args), pull=pull_policy, proxy_port=port,
        policy_json=ToolPolicy.from_options(tools, deny_tools, rate_limit, screen=screen, dlp=dlp).to_json(),
        allow_env_secrets=allow_env_secrets,
    )


def _looks_like_image(reference: str) -> bool:
    return "/" in reference or ":" in reference or "@" in reference


def resolve_target(store: RegistryStore, server: str, *, unvetted: bool) -> RunTarget:
    if is_package_source(server):
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
    return RunTarget(found.name, image, found.verified, found.registry, found.entry, package,
                     also_in=found.also_in, shadows_builtin=found.shadows_builtin)


def secret_requests(target: RunTarget, options: RunOptions) -> list[SecretRequest]:
    """Every ``--secret`` plus every env var the entry flags secret.

    A registry-declared secret is looked up under its env var name unless ``--secret NAME:ENV`` maps it.
    """
    given = {request.env_name for request in options.secrets}
    declared = [SecretRequest(var.name, var.name, declared=True)
                for var in (target.entry.secret_env_vars if target.entry else [])]
    return [*options.secrets, *(request for request in declared if request.env_name not in given)]


@dataclass(frozen=True)
class Launched:
    """A started workload and the secrets (names only) that went into it; with ``SecretInjection.STDIN`` its
    launcher waits for its proxy to send them."""

    workload: Workload
    secrets: tuple[SecretRequest, ...]
    injection: SecretInjection = SecretInjection.NONE


@dataclass(frozen=True)
class LaunchPlan:
    """What ``run`` will start: the request, its hardened spec and the secrets it needs (names only)."""

    request: RunRequest
    spec: ContainerSpec
    secrets: tuple[SecretRequest, ...]


def workload_name(target: RunTarget, options: RunOptions) -> str:
    """``--name``, else the server's last path part without tag or digest."""
    return options.name or target.server.rsplit("/", 1)[-1].split(":")[0].split("@")[0]


def plan(target: RunTarget, options: RunOptions, *, image: ImageInfo | None = None, uid: int | None = None,
         launcher: str | None = None) -> LaunchPlan:
    """The request and the hardened spec for ``target``: pure, so `--dry-run` shows exactly what runs.

    ``image`` (its resolved user, ID, ENTRYPOINT and CMD), the workload's ``uid`` and the image's ``launcher``
    interpreter are what ``launch`` found on the engine; a dry run has none of them.
    """
    entry = target.entry
    default_permissions = entry.permissions if entry else Permissions()
    permissions = parse_permission_profile(options.permission_profile, default_permissions)
    env = {var.name: var.default for var in (entry.env_vars if entry else []) if var.default and not var.secret}
    env.update(options.env)
    secrets = secret_requests(target, options)
    request = RunRequest(
        name=workload_name(target, options),
        image=target.image,
        image_user=image.user if image else "",
        image_id=image.id if image else "",
        transport=entry.transport if entry else "stdio",
        target_port=entry.target_port if entry else None,
        args=options.args or tuple(entry.args if entry else ()),
        env=env,
        secret_env_names=tuple(s.env_name for s in secrets),
        mounts=options.mounts,
        permissions=permissions,
        memory=options.memory,
        cpus=options.cpus,
        vetted=target.vetted,
        server=target.server,
        registry=target.registry,
        proxy_port=options.proxy_port,
        policy_json=options.policy_json,
        owner=options.owner,
        uid=uid,
        launcher=launcher,
        image_entrypoint=image.entrypoint if image else (),
        image_cmd=image.cmd if image else (),
        allow_env_secrets=options.allow_env_secrets,
        secret_sources={s.env_name: s.secret_name for s in secrets},
        secret_backend=options.secret_backend,
    )
    return LaunchPlan(request, build_container_spec(request), tuple(secrets))


def _obtain_image(engine: Engine, target: RunTarget, options: RunOptions, *, build: BuildConfig | None,
                  progress: Callable[[PullProgress], None] | None, notify: Callable[[str], None]) -> tuple[RunTarget, ImageInfo]:
    """The image to run: present or pulled, else built from the entry's package when that is possible.

    An image already built from the entry's package stands in for a registry image this engine lacks without a pull
    attempt (and its error line) on every run; ``--pull always`` still asks the registry first. A pull that fails
    says whether the entry could be built instead, and how to load the image.
    """
    from toolhive_py.runtime.builds import cached_package_image
    from toolhive_py.runtime.images import find_image

    digest = target.entry.digest if target.entry else None
    lock = target.entry.package_lock if target.entry else None  # the signed pins a build must match
    if target.package and build is not None and target.image == tag_for(parse_package(target.package)):
        tag = build_package_image(engine, target.package, build, notify, lock)
        return target, ensure_image(engine, tag, policy=PullPolicy.NEVER)
    buildable = target.package is not None and build is not None and digest is None  # a build cannot match a digest
    if (buildable and target.package is not None and build is not None and options.pull is not PullPolicy.ALWAYS
            and find_image(engine, target.image) is None
            and (cached := cached_package_image(engine, target.package, build, lock)) is not None):
        return replace(target, image=cached), ensure_image(engine, cached, policy=PullPolicy.NEVER)
    try:
        return target, ensure_image(engine, target.image, policy=options.pull, digest=digest, progress=progress)
    except (EngineError, NotFoundError) as error:
        if buildable and target.package is not None and build is not None:
            reason = error.context.get("reason") or error.message.rstrip(".")
            notify(f"cannot pull {target.image} ({reason}); building it locally from {target.package}")
            tag = build_package_image(engine, target.package, build, notify, lock)
            return replace(target, image=tag), ensure_image(engine, tag, policy=PullPolicy.NEVER)
        if error.code not in ("image-unavailable", "image-missing"):
            raise
        if target.package is None:
            why = f"{target.server} has no package source to build it from instead."
        elif digest is not None:
            why = f"{target.server} pins a digest, which a local build from {target.package} cannot match."
        else:
            why = f"{target.server} could be built from {target.package}, but no build settings were given."
        raise NotFoundError(error.message, hint=f"{why} {error.hint or ''}".strip(), code=error.code,
                            **error.context) from error


def launch(
    engine: Engine,
    target: RunTarget,
    options: RunOptions,
    *,
    resolve_secrets: SecretResolver,
    progress: Callable[[PullProgress], None] | None = None,
    build: BuildConfig | None = None,
    notify: Callable[[str], None] = lambda _: None,
) -> Launched:
    from toolhive_py.runtime.images import find_launcher
    from toolhive_py.runtime.uids import allocate_uid, host_reserved_ids
    from toolhive_py.runtime.workloads import used_uids

    target, image = _obtain_image(engine, target, options, build=build, progress=progress, notify=notify)
    launcher = find_launcher(engine, image.id) if secret_requests(target, options) else ""
    uid = allocate_uid(workload_name(target, options), used_uids(engine), *host_reserved_ids())
    launch_plan = plan(target, options, image=image, uid=uid, launcher=launcher)
    spec = launch_plan.spec
    values = dict(resolve_secrets(launch_plan.secrets)) if launch_plan.secrets else {}
    filter_image = None
    if spec.egress is not None:
        from toolhive_py.runtime.egress import ensure_filter_image

        notify(f"egress limited to {', '.join(spec.egress.allow_host)}: adding mcpctl's egress filter")
        filter_image = ensure_filter_image(engine, build.python_image if build else DEFAULT_PYTHON_IMAGE)
    return Launched(create_workload(engine, spec, values, egress_image=filter_image), launch_plan.secrets,
                    spec.secret_injection)
