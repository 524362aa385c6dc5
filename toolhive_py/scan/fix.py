"""`mcpctl scan --fix`: plan (and with --apply, do) the migration of what a scan found.

Plaintext secrets of vetted servers go into the secret backend, wherever they sat (env, argument, header,
URL query, side file), so re-pointing the entry never loses a credential the user has nowhere else. Each
vetted server's entry is then re-pointed at the managed mcpctl server for the same registry entry
(through the client-config code, so the file is locked, backed up and otherwise unchanged). Unvetted
servers are reported, never touched. Secret values are read from the file at apply time, never kept
in the plan: the plan is printed and may be saved.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolhive_py.config import Paths
from toolhive_py.errors import ConflictError, MCPCTLError
from toolhive_py.scan.model import ScanReport, SecretLocation, ServerFinding
from toolhive_py.scan.secrets import CONNECTION_STRING

if TYPE_CHECKING:
    from toolhive_py.clients.catalog import Location
    from toolhive_py.secrets.base import SecretProvider

__all__ = ["FixStep", "apply_plan", "build_plan", "plan_fixes", "render_plan"]


@dataclass
class FixStep:
    action: Literal["move-secret", "repoint", "start-first", "leave"]
    finding: str
    client: str
    scope: str
    config_path: str
    server: str
    detail: str
    secret_name: str | None = None
    env_name: str | None = None
    location: SecretLocation | None = None  # where the secret sits in the entry; JSON: its string form (env:NAME, …)
    fingerprint: str | None = None  # the scan's fingerprint, so a value changed since the scan is refused
    url: str | None = None
    status: Literal["planned", "done", "failed"] = "planned"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = None if self.location is None else str(self.location)
        return data


def _secret_name(server: str, key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{server}-{key}".lower())[:128]


def _secret_names(findings: Sequence[ServerFinding]) -> dict[tuple[str, SecretLocation], str]:
    """The backend name for each secret to move, keyed by (finding id, location).

    ``server-key`` normally, so the same token pasted into three clients becomes one secret. When that
    name would hold different values (the same server configured with different keys in two clients),
    each gets its client and scope appended instead, so no value silently overwrites another.
    """
    planned = {(f.id, s.where): (f, _secret_name(f.name, s.where.key), s.fingerprint)
               for f in findings if f.status != "unvetted" for s in f.secrets}
    values_per_name: defaultdict[str, set[str | None]] = defaultdict(set)
    for _, name, fingerprint in planned.values():
        values_per_name[name].add(fingerprint)
    names = {}
    for (finding_id, location), (finding, name, _) in planned.items():
        if len(values_per_name[name]) > 1:
            where = f"{finding.client or 'unknown'}-{(finding.scope or 'user').split(' ')[0]}"
            name = _secret_name(finding.name, f"{location.key}-{where}")
        names[(finding_id, location)] = name
    return names


def _workload_urls(paths: Paths, socket: str | None) -> dict[str, str]:
    """Registry server (both NAME and REGISTRY/NAME) → proxy URL of a running managed workload."""
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import list_workloads

    try:
        engine = open_engine(paths, socket)
    except MCPCTLError:
        return {}
    try:
        urls = {}
        for workload in list_workloads(engine):
            if workload.url and workload.vetted:
                urls[workload.server] = workload.url
                if workload.registry:
                    urls[f"{workload.registry}/{workload.server}"] = workload.url
        return urls
    finally:
        engine.close()


def _plan_one(finding: ServerFinding, workloads: Mapping[str, str],
              secret_names: Mapping[tuple[str, SecretLocation], str]) -> list[FixStep]:
    make = functools.partial(FixStep, finding=finding.id, client=finding.client or "",
                             scope=finding.scope or "user", config_path=finding.config_path or "",
                             server=finding.name)
    if finding.status == "unvetted":
        return [make("leave", detail="unvetted: reported, not touched")]
    steps = []
    for secret in finding.secrets:
        where = secret.where
        env = where.env_name
        name = secret_names[(finding.id, where)]
        detail = f"{where} ({secret.redacted}) → secret {name}"
        if secret.provider == CONNECTION_STRING:
            # The backend holds the password alone, and mcpctl hands a secret to a server as a whole
            # variable: it cannot rebuild the connection string, so no `--secret NAME:VAR` is offered.
            detail = (f"password of the connection string in {where} ({secret.redacted}) → secret "
                      f"{name}; mcpctl passes secrets as whole variables, so give the managed server its "
                      "connection string yourself")
            env = None
        if where.kind == "file":
            detail += f"; then delete it from {where.path} by hand"
        steps.append(make("move-secret", detail=detail, secret_name=name, env_name=env, location=where,
                          fingerprint=secret.fingerprint))
    url = workloads.get(finding.registry_match or "") or workloads.get((finding.registry_match or "").split("/")[-1])
    short_scope = make.keywords["scope"].split(" ")[0]
    if url and short_scope in ("user", "project"):
        steps.append(make("repoint", detail=f"entry → {url}", url=url))
    elif url:
        steps.append(make("leave", detail=f"in a per-project section; point it at {url} by hand"))
    else:
        flags = "".join(f" --secret {s.secret_name}:{s.env_name}" for s in steps if s.env_name)
        steps.append(make("start-first", detail=f"no managed server for {finding.registry_match} yet: run "
                          f"`mcpctl run {finding.registry_match}{flags}`, then `mcpctl scan --fix --apply` again"))
    return steps


def _candidates(report: ScanReport) -> list[ServerFinding]:
    return [f for f in report.findings if f.source == "config" and f.status != "managed"]


def build_plan(report: ScanReport, workloads: Mapping[str, str]) -> list[FixStep]:
    """The steps for a report, given the proxy URL of each running managed server (by registry name)."""
    candidates = _candidates(report)
    names = _secret_names(candidates)
    return [step for finding in candidates for step in _plan_one(finding, workloads, names)]


def plan_fixes(paths: Paths, report: ScanReport, socket: str | None) -> list[FixStep]:
    vetted = any(f.status == "vetted" for f in _candidates(report))
    return build_plan(report, _workload_urls(paths, socket) if vetted else {})


def _location(step: FixStep) -> Location:
    from toolhive_py.clients.catalog import get_client

    client = get_client(step.client)
    short = step.scope.split(" ")[0]
    scope = "user" if short == "local" else short
    return client.location_of(scope, Path(step.config_path)) or client.locations[0]  # type: ignore[arg-type]


def _live_entry(step: FixStep) -> Mapping[str, Any]:
    """The server's entry as the file holds it now (Claude Code's per-project sections included)."""
    from toolhive_py.clients.documents import load_text, parse_text, servers_of

    path = Path(step.config_path)
    location = _location(step)
    text = load_text(path)
    data = parse_text(path, text, location.format) if text is not None else None
    if step.scope.startswith("local (") and isinstance(data, dict):
        section = (data.get("projects") or {}).get(step.scope.removeprefix("local (").removesuffix(")")) or {}
        servers = section.get("mcpServers") if isinstance(section, dict) else None
    else:
        servers = servers_of(data, location) if data is not None else None
    entry = (servers or {}).get(step.server)
    if not isinstance(entry, Mapping):
        raise MCPCTLError(f"{step.server} is no longer in {path}.", code="fix-stale",
                          hint="Run `mcpctl scan --fix` again.")
    return entry


def _secret_value(step: FixStep) -> str:
    from toolhive_py.scan.analyze import entry_secrets

    located, _ = entry_secrets(_live_entry(step), Path(step.config_path).parent)
    for location, match in located:
        if location == str(step.location) and match.fingerprint == step.fingerprint:
            return match.value
    raise MCPCTLError(f"The secret at {step.location} of {step.server} changed since the scan.", code="fix-stale",
                      hint="Run `mcpctl scan --fix` again.")


def _repoint(paths: Paths, step: FixStep) -> None:
    from toolhive_py.clients.api import ManagedServer, Target, connect
    from toolhive_py.clients.catalog import get_client

    target = Target(get_client(step.client), _location(step), Path(step.config_path))
    connect(paths, target, [ManagedServer(step.server, step.url or "")], replace=True)


def apply_plan(paths: Paths, plan: list[FixStep]) -> None:
    """Do each step in order; a step that fails is marked failed and later steps of that server skip."""
    from toolhive_py.secrets.resolve import open_provider

    provider = None
    failed: set[str] = set()
    for step in plan:
        if step.action in ("leave", "start-first") or step.finding in failed:
            continue
        try:
            if step.action == "move-secret":
                value = _secret_value(step)
                provider = provider or open_provider(paths)
                _store_new(provider, step.secret_name or "", value)
            else:
                _repoint(paths, step)
            step.status = "done"
        except MCPCTLError as error:
            step.status = "failed"
            step.detail += f" (failed: {error.message})"
            failed.add(step.finding)


def _store_new(provider: SecretProvider, name: str, value: str) -> None:
    """Store a moved secret, never replacing a different value already kept under that name."""
    existing = provider.get(name)
    if existing is not None and existing != value:
        raise ConflictError(f"The secret backend already holds a different value named {name!r}; it was not "
                            "overwritten.", hint=f"Check it (`mcpctl secret get {name} --reveal`), delete or "
                            "rename it if it is stale, then run `mcpctl scan --fix --apply` again.", name=name)
    if existing is None:
        provider.set(name, value)


def render_plan(plan: list[FixStep], *, applied: bool) -> str:
    if not plan:
        return "Nothing to fix."
    lines = []
    for step in plan:
        mark = {"planned": "•", "done": "✓", "failed": "✗"}[step.status]
        lines.append(f"{mark} {step.client} {step.server}: {step.action} — {step.detail}")
    if not applied:
        lines.append("Dry run: nothing was changed. Add --apply to do the steps marked •.")
    return "\n".join(lines)
