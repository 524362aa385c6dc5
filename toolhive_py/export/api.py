"""``mcpctl export``: from a registry entry or a running workload to files for a cluster or a shared host.

Policy: the container configuration comes from ``runtime.launch.plan`` / ``runtime.spec.build_container_spec``,
exactly what ``run`` would create (an entry) or created (a workload, its request rebuilt from the container's
labels and settings); ``model.build_export_model`` turns it into the neutral model and the format modules render
it. Secret values are never read: a workload's stored environment is filtered by its secret names before
anything else sees it, and the output carries names and references only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from toolhive_py.errors import ExitCode, MCPCTLError, NotFoundError
from toolhive_py.export.compose import build_compose
from toolhive_py.export.kubernetes import EGRESS_GATEWAY_LABEL, build_kubernetes, secret_name
from toolhive_py.export.model import ExportedWorkload, ExportFormat, VaultLocation, build_export_model
from toolhive_py.export.toolhive import CRD_SOURCE, build_toolhive
from toolhive_py.results import Failure, Status, overall

if TYPE_CHECKING:
    from toolhive_py.config import Paths
    from toolhive_py.runtime.launch import RunOptions
    from toolhive_py.runtime.spec import RunRequest

__all__ = ["ExportResult", "ExportedFile", "export_entries", "export_workloads", "notes_for", "render_files",
           "request_from_container"]

_HEADER: Final = "# Exported by mcpctl {version} from {source}. Secret values are not in this file.\n"


@dataclass(frozen=True)
class ExportedFile:
    filename: str
    content: str
    kinds: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    """The files of an export; partial (exit 8) when some of several names could not be exported."""

    format: ExportFormat
    files: tuple[ExportedFile, ...]
    workloads: tuple[ExportedWorkload, ...]
    notes: tuple[str, ...] = ()
    written: tuple[str, ...] = field(default=())
    failures: tuple[Failure, ...] = ()

    @property
    def status(self) -> Status:
        return overall(len(self.workloads), self.failures)[0]

    @property
    def exit_code(self) -> ExitCode:
        return overall(len(self.workloads), self.failures)[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format.value,
            "files": [{"filename": f.filename, "kinds": list(f.kinds), "content": f.content} for f in self.files],
            "written": list(self.written),
            "workloads": [{"name": w.name, "server": w.server, "registry": w.registry or None, "vetted": w.vetted,
                           "transport": w.transport, "image": w.image.reference, "image_pinned": w.image.pinned,
                           "secrets": [{"env": r.env, "secret": r.secret} for r in w.secrets],
                           "secret_backend": w.secret_backend or None,
                           "egress_gateway_hosts": list(w.allow_hosts) if w.needs_egress_gateway else []}
                          for w in self.workloads],
            "notes": list(self.notes),
        }


def _comment(lines: Sequence[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


def notes_for(workload: ExportedWorkload, fmt: ExportFormat) -> list[str]:
    """What the user must still provide on the cluster side, per workload (also written into the file)."""
    notes = []
    if workload.needs_egress_gateway:
        where = ("an egress proxy on its internal network, which matches no host names itself"
                 if fmt is ExportFormat.COMPOSE else
                 f"an egress gateway (pods labelled {EGRESS_GATEWAY_LABEL}=true) or an FQDN policy: "
                 "NetworkPolicy matches addresses, not host names")
        notes.append(f"{workload.name}: egress to {', '.join(workload.allow_hosts)} (ports "
                     f"{', '.join(map(str, workload.allow_ports)) or 'any'}) needs {where}")
    if workload.secrets and fmt is not ExportFormat.COMPOSE:
        keys = " ".join(f"--from-literal={r.secret}=…" for r in workload.secrets)
        if workload.vault is not None:
            notes.append(f"{workload.name}: the ExternalSecret fills Secret {secret_name(workload)} from Vault "
                         f"({workload.vault.mount}/{workload.vault.prefix}); it needs a ClusterSecretStore named vault")
        else:
            notes.append(f"{workload.name}: create Secret {secret_name(workload)} yourself "
                         f"(kubectl create secret generic {secret_name(workload)} {keys})")
    elif workload.secrets:
        notes.append(f"{workload.name}: export {', '.join(r.env for r in workload.secrets)} in the shell that runs "
                     "`docker compose up`")
    if workload.image.package:
        notes.append(f"{workload.name}: {workload.image.reference} is built locally from {workload.image.package} "
                     "(`mcpctl run` builds it): push it to a registry the cluster pulls from and pin its digest")
    elif not workload.image.pinned:
        notes.append(f"{workload.name}: {workload.image.reference} is not pinned by digest"
                     + (f" (local image {workload.image.local_id[:19]}: push it and pin its digest)"
                        if workload.image.local_id else ""))
    if workload.volumes and fmt is ExportFormat.KUBERNETES:
        claims = ", ".join(f"{workload.name}-{v.name} ({v.source})" for v in workload.volumes)
        notes.append(f"{workload.name}: provide PersistentVolumeClaims {claims}")
    return notes


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases: shared label dicts are written out in full, as a reader of a manifest expects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    return "---\n".join(yaml.dump(dict(o), Dumper=_PlainDumper, sort_keys=False, default_flow_style=False,
                                  width=1000) for o in objects)


def render_files(workloads: Sequence[ExportedWorkload], fmt: ExportFormat, *, source: str) -> list[ExportedFile]:
    """The files of an export: one per workload for Kubernetes and ToolHive, one compose project for all."""
    from toolhive_py import __version__

    header = _HEADER.format(version=__version__, source=source)
    if fmt is ExportFormat.COMPOSE:
        notes = [n for w in workloads for n in notes_for(w, fmt)]
        return [ExportedFile("compose.yaml", header + _comment(notes) + _yaml([build_compose(workloads)]),
                             ("compose",))]
    files = []
    for workload in workloads:
        objects = build_kubernetes(workload) if fmt is ExportFormat.KUBERNETES else build_toolhive(workload)
        lines = notes_for(workload, fmt)
        if fmt is ExportFormat.TOOLHIVE:
            lines.insert(0, f"MCPServer schema: {CRD_SOURCE}")
        files.append(ExportedFile(f"{workload.name}.{fmt.value}.yaml", header + _comment(lines) + _yaml(objects),
                                  tuple(str(o["kind"]) for o in objects)))
    return files


def _vault(paths: Paths) -> VaultLocation:
    from toolhive_py.config import Settings

    settings = Settings(paths.settings_file)
    return VaultLocation(mount=settings.get("vault.mount") or "secret",
                         prefix=(settings.get("vault.path_prefix") or "mcpctl").strip("/"))


def _backend(paths: Paths, backend: str | None) -> str:
    from toolhive_py.config import Settings
    from toolhive_py.secrets.base import DEFAULT_BACKEND

    return backend or Settings(paths.settings_file).get("secrets.backend") or DEFAULT_BACKEND


def export_entries(paths: Paths, names: Sequence[str], options: RunOptions, *, fmt: ExportFormat,
                   unvetted: bool = False, secret_backend: str | None = None,
                   output_dir: Path | None = None) -> ExportResult:
    """Export registry entries as ``run NAME`` with ``options`` would start them, without an engine.

    The workload's uid is the one ``runtime.uids`` gives its name on an empty engine, so an export is stable.
    """
    from dataclasses import replace

    from toolhive_py.packages import parse_package
    from toolhive_py.registry import RegistryStore
    from toolhive_py.runtime.builds import tag_for
    from toolhive_py.runtime.launch import plan, resolve_target, workload_name
    from toolhive_py.runtime.uids import allocate_uid

    store = RegistryStore(paths)
    options = replace(options, secret_backend=_backend(paths, secret_backend))
    vault = _vault(paths)
    models, failures = [], []
    for name in names:
        try:
            target = resolve_target(store, name, unvetted=unvetted)
            uid = allocate_uid(workload_name(target, options), taken=())
            spec = plan(target, options, uid=uid).spec
        except MCPCTLError as error:
            failures.append(Failure(name, error))
            continue
        digest = target.entry.digest if target.entry and target.entry.digest else ""
        built = target.package if target.package and target.image == tag_for(parse_package(target.package)) else ""
        models.append(build_export_model(spec, digest=digest, vault=vault, package=built))
    return _result(models, fmt, source="the registry entries " + ", ".join(names), output_dir=output_dir,
                   failures=failures)


def _write(files: Sequence[ExportedFile], directory: Path) -> tuple[str, ...]:
    """Each file atomically (a temp file renamed over it): a reader never sees half a manifest."""
    import os
    import tempfile

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for exported in files:
        target = directory / exported.filename
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{exported.filename}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(exported.content)
            os.chmod(temp, 0o644)  # noqa: S103 - manifests hold no secret, and kubectl/compose users share them
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        written.append(str(target))
    return tuple(written)


def _result(models: Sequence[ExportedWorkload], fmt: ExportFormat, *, source: str, output_dir: Path | None,
            failures: Sequence[Failure]) -> ExportResult:
    """Nothing exported: the (first) error itself, with its hint; else the files, and what failed."""
    if failures and not models:
        raise failures[0].error
    notes = tuple(n for w in models for n in notes_for(w, fmt))
    files = tuple(render_files(models, fmt, source=source))
    written = _write(files, output_dir) if output_dir is not None else ()
    return ExportResult(format=fmt, files=files, workloads=tuple(models), notes=notes, written=written,
                        failures=tuple(failures))


def request_from_container(attrs: Mapping[str, Any], image_attrs: Mapping[str, Any]) -> RunRequest:
    """The ``RunRequest`` a workload's container was created from, rebuilt from ``docker inspect`` data.

    Its secret env vars are dropped from the stored environment by name before anything reads it (a workload
    run with ``--allow-env-secrets`` holds the values there), and so are the image's own variables.
    """
    from toolhive_py.registry.models import Permissions
    from toolhive_py.runtime import labels
    from toolhive_py.runtime.spec import Mount, RunRequest

    config = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
    found: Mapping[str, str] = config.get("Labels") or {}
    secret_env = tuple(n for n in found.get(labels.SECRET_ENV, "").split(",") if n)
    image_config = image_attrs.get("Config") or {}
    image_env = set(image_config.get("Env") or ())
    env = {}
    for item in config.get("Env") or ():
        key, _, value = item.partition("=")
        if item in image_env or key in secret_env or key == "HOME":
            continue
        env[key] = value
    image_entrypoint = list(image_config.get("Entrypoint") or ())
    command = list(config.get("Cmd") or ())
    if list(config.get("Entrypoint") or ()) != image_entrypoint and command[:len(image_entrypoint)] == image_entrypoint:
        command = command[len(image_entrypoint):]  # the secrets launcher ran the server's whole argv
    if command == list(image_config.get("Cmd") or ()):
        command = []
    mounts = []
    for bind in host.get("Binds") or ():
        source, target, *mode = bind.split(":")
        mounts.append(Mount(source, target, read_only="rw" not in (mode[0].split(",") if mode else [])))
    sources = dict(pair.partition("=")[::2] for pair in found.get(labels.SECRETS, "").split(",") if pair)
    uid = found.get(labels.UID, "")
    ports = host.get("PortBindings") or {}
    return RunRequest(
        name=found.get(labels.NAME, ""),
        image=found.get(labels.IMAGE, ""),
        image_user=str(config.get("User") or ""),
        image_id=str(attrs.get("Image") or ""),
        transport=found.get(labels.TRANSPORT, "stdio"),
        target_port=next((int(p.split("/")[0]) for p in ports), None),
        args=tuple(command),
        env=env,
        secret_env_names=secret_env,
        mounts=tuple(mounts),
        permissions=Permissions.model_validate_json(found.get(labels.PERMISSION_PROFILE) or "{}"),
        memory=str(host.get("Memory") or "512m"),
        cpus=(host.get("NanoCpus") or 1_000_000_000) / 1e9,
        vetted=found.get(labels.VETTED) == "true",
        server=found.get(labels.SERVER) or None,
        registry=found.get(labels.REGISTRY) or None,
        policy_json=found.get(labels.POLICY) or None,
        owner=found.get(labels.OWNER, ""),
        uid=int(uid) if uid.isdigit() else None,
        secret_sources={env_name: secret for secret, env_name in sources.items()},
        secret_backend=found.get(labels.SECRET_BACKEND, ""),
    )


def _repository(image: str) -> str:
    """``registry:5000/repo:tag@sha256:…`` → ``registry:5000/repo``, as RepoDigests name it."""
    name = image.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def export_workloads(paths: Paths, names: Sequence[str], *, fmt: ExportFormat, socket: str | None = None,
                     output_dir: Path | None = None) -> ExportResult:
    """Export running (or stopped) workloads of this engine, as they were created."""
    from toolhive_py.runtime import labels
    from toolhive_py.runtime.engine import engine_errors, open_engine
    from toolhive_py.runtime.spec import build_container_spec

    vault = _vault(paths)
    models, failures = [], []
    with open_engine(paths, socket) as engine:
        for name in names:
            try:
                with engine_errors(f"Inspecting workload {name}"):
                    found = engine.client.containers.list(all=True, filters=labels.managed_filter(name))
                    if not found:
                        raise NotFoundError(f"No workload named {name!r}.", hint="`mcpctl list --all` shows "
                                            "workloads; `mcpctl export --entry NAME` exports a registry entry.",
                                            code="unknown-workload")
                    attrs = found[0].attrs
                    image_attrs = engine.client.images.get(attrs["Image"]).attrs
                request = request_from_container(attrs, image_attrs)
                spec = build_container_spec(request)
            except MCPCTLError as error:
                failures.append(Failure(name, error))
                continue
            tag = _repository(request.image)
            digest = next((d.split("@", 1)[1] for d in image_attrs.get("RepoDigests") or ()
                           if d.split("@", 1)[0] == tag), "")
            models.append(build_export_model(spec, digest=digest, vault=vault))
    return _result(models, fmt, source="the workloads " + ", ".join(names), output_dir=output_dir,
                   failures=failures)
