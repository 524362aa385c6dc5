"""`mcpctl scan --fix`: plan (and with --apply, do) the migration of what a scan found.

Plaintext secrets of vetted servers go into the secret backend; each vetted server's entry is re-pointed
at the managed mcpctl server for the same registry entry (through the client-config code, so the file is
locked, backed up and otherwise unchanged). Unvetted servers are reported, never touched.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from toolhive_py.config import Paths
from toolhive_py.errors import MCPCTLError
from toolhive_py.scan.model import ScanReport, ServerFinding

__all__ = ["FixStep", "apply_plan", "plan_fixes", "render_plan"]


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
    url: str | None = None
    status: Literal["planned", "done", "failed"] = "planned"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _secret_name(server: str, env: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{server}-{env}".lower())[:128]


def _workload_urls(socket: str | None) -> dict[str, str]:
    """Registry server (both NAME and REGISTRY/NAME) → proxy URL of a running managed workload."""
    from toolhive_py.runtime.engine import connect
    from toolhive_py.runtime.workloads import list_workloads

    try:
        engine = connect(flag=socket)
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


def _plan_one(finding: ServerFinding, workloads: dict[str, str]) -> list[FixStep]:
    make = functools.partial(FixStep, finding=finding.id, client=finding.client or "",
                             scope=(finding.scope or "user").split(" ")[0], config_path=finding.config_path or "",
                             server=finding.name)
    if finding.status == "unvetted":
        return [make("leave", detail="unvetted: reported, not touched")]
    steps = []
    env_secrets = sorted({s.location.removeprefix("env:") for s in finding.secrets if s.location.startswith("env:")})
    for env in env_secrets:
        name = _secret_name(finding.name, env)
        steps.append(make("move-secret", detail=f"{env} → secret {name}", secret_name=name, env_name=env))
    url = workloads.get(finding.registry_match or "") or workloads.get((finding.registry_match or "").split("/")[-1])
    if url and make.keywords["scope"] in ("user", "project"):
        steps.append(make("repoint", detail=f"entry → {url}", url=url))
    elif url:
        steps.append(make("leave", detail=f"in a per-project section; point it at {url} by hand"))
    else:
        flags = "".join(f" --secret {s.secret_name}:{s.env_name}" for s in steps)
        steps.append(make("start-first", detail=f"no managed server for {finding.registry_match} yet: run "
                          f"`mcpctl run {finding.registry_match}{flags}`, then `mcpctl scan --fix --apply` again"))
    return steps


def plan_fixes(paths: Paths, report: ScanReport, socket: str | None) -> list[FixStep]:
    candidates = [f for f in report.findings if f.source == "config" and f.status != "managed"]
    workloads = _workload_urls(socket) if any(f.status == "vetted" for f in candidates) else {}
    return [step for finding in candidates for step in _plan_one(finding, workloads)]


def _entry_value(step: FixStep) -> str:
    from toolhive_py.clients.catalog import get_client
    from toolhive_py.clients.documents import load_text, parse_text, servers_in

    client = get_client(step.client)
    path = Path(step.config_path)
    for location in client.locations:
        text = load_text(path)
        if text is None:
            break
        entry = servers_in(parse_text(path, text, location.format), location.servers_key,
                           location.servers_kind).get(step.server)
        if isinstance(entry, dict):
            for key in ("env", "envs", "environment"):
                value = (entry.get(key) or {}).get(step.env_name or "")
                if isinstance(value, str):
                    return value
    raise MCPCTLError(f"{step.env_name} of {step.server} is no longer in {path}.", code="fix-stale")


def _repoint(paths: Paths, step: FixStep) -> None:
    from toolhive_py.clients.api import ManagedServer, Target, connect
    from toolhive_py.clients.catalog import get_client

    client = get_client(step.client)
    path = Path(step.config_path)
    location = client.location(step.scope) or client.locations[0]  # type: ignore[arg-type]
    connect(paths, Target(client, location, path), [ManagedServer(step.server, step.url or "")], replace=True)


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
                provider = provider or open_provider(paths)
                provider.set(step.secret_name or "", _entry_value(step))
            else:
                _repoint(paths, step)
            step.status = "done"
        except MCPCTLError as error:
            step.status = "failed"
            step.detail += f" (failed: {error.message})"
            failed.add(step.finding)


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
