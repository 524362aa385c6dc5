"""`mcpctl scan --fix`: plan (and with --apply, do) the migration of what a scan found.

Plaintext secrets of vetted servers go into the secret backend, wherever they sat (env, argument, header,
URL query, side file), so re-pointing the entry never loses a credential the user has nowhere else. Each
vetted server's entry is then re-pointed at a managed workload of the same registry entry, one whose tool
policy hides nothing (through the client-config code, so the file is locked, backed up and otherwise
unchanged). Unvetted servers are reported, never touched, but for one case: a remote server's entry (an
https URL) whose headers hold a plaintext token becomes a managed remote workload of the same URL (the
server is the one the user chose; only the token moves, into the backend, and the entry points at the
local proxy). Secret values are read from the file at apply
time, never kept in the plan: the plan is printed and may be saved.

Policy: a result never claims more than happened. A repoint is ``done`` only when the workload answers an
MCP ``initialize`` and the entry as written reaches it (else it is put back); a secret is ``done`` (moved)
only when no plaintext copy is left where the client reads it, else ``copied``.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from toolhive_py.config import Paths
from toolhive_py.detectors import CONNECTION_STRING
from toolhive_py.errors import ConflictError, ExitCode, MCPCTLError
from toolhive_py.results import Status
from toolhive_py.scan.model import ScanReport, SecretLocation, ServerFinding

if TYPE_CHECKING:
    from toolhive_py.clients.catalog import Location
    from toolhive_py.secrets.base import SecretProvider

__all__ = ["EntryTarget", "FixStep", "ManagedWorkload", "apply_plan", "build_plan", "choose_workload", "entry_target",
           "plan_fixes", "plan_outcome", "render_plan"]


@dataclass
class FixStep:
    action: Literal["move-secret", "run-remote", "repoint", "start-first", "leave"]
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
    workload: str | None = None  # the managed workload a repoint (or a by-hand leave) points the entry at
    # A move-secret is "done" (moved) only when no plaintext copy is left where the client reads it; "copied"
    # when the backend holds it and the plaintext is still there (the entry was not re-pointed, or a side file).
    status: Literal["planned", "done", "copied", "failed"] = "planned"
    plaintext_left: list[str] = field(default_factory=list)  # files that still hold a moved secret's plaintext
    backups: list[str] = field(default_factory=list)  # mcpctl's backups of the client config that hold it

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
               for f in findings if f.status != "unvetted" or _is_remote_with_header_secrets(f) for s in f.secrets}
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


@dataclass(frozen=True)
class ManagedWorkload:
    """A running managed workload that serves a registry server: its name (what `mcpctl connect` takes), its
    proxy URL, and whether a tool policy (`--tools`/`--deny-tools`) hides some of the server's tools."""

    name: str
    url: str
    restricted: bool = False


def choose_workload(candidates: Sequence[ManagedWorkload], entry_name: str) -> ManagedWorkload | None:
    """The workload an entry is re-pointed at: one that hides no tools (the entry has them all today), the
    one named like the entry when there are several, else the first by name. None when every candidate
    is restricted: re-pointing would silently take tools away."""
    open_ones = sorted((w for w in candidates if not w.restricted), key=lambda w: (w.name != entry_name, w.name))
    return open_ones[0] if open_ones else None


def _restricts_tools(policy_json: str) -> bool:
    from toolhive_py.proxy.policy import ToolPolicy

    try:
        policy = ToolPolicy.from_json(policy_json)
    except (ValueError, TypeError, AttributeError, MCPCTLError):
        return True  # a policy label mcpctl cannot read: assume it hides something
    return bool(policy.allow or policy.deny)


def _workload_urls(paths: Paths, socket: str | None) -> dict[str, tuple[ManagedWorkload, ...]]:
    """Registry server (REGISTRY/NAME; NAME for a workload without a registry label) → the running vetted
    managed workloads that serve it."""
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import is_mine, list_workloads

    try:
        engine = open_engine(paths, socket)
    except MCPCTLError:
        return {}
    try:
        served: defaultdict[str, list[ManagedWorkload]] = defaultdict(list)
        for workload in list_workloads(engine):
            if workload.url and workload.vetted and is_mine(workload):
                key = f"{workload.registry}/{workload.server}" if workload.registry else workload.server
                served[key].append(ManagedWorkload(workload.name, workload.url, _restricts_tools(workload.policy_json)))
        return {key: tuple(found) for key, found in served.items()}
    except MCPCTLError:
        return {}
    finally:
        engine.close()


def _is_stdio_only(client_id: str) -> bool:
    from toolhive_py.clients.catalog import CLIENTS

    client = next((c for c in CLIENTS if c.id == client_id), None)
    return client is not None and client.remote is None and not any(loc.remote_entry for loc in client.locations)


def _is_remote_with_header_secrets(finding: ServerFinding) -> bool:
    """A remote server's entry (https: never mcpctl's own proxy, which is plain http on loopback) whose plaintext
    secrets are all headers."""
    target = urlsplit(finding.target) if finding.kind == "url" else None
    return (target is not None and target.scheme == "https" and bool(finding.secrets)
            and all(s.where.kind == "header" for s in finding.secrets))


def _plan_remote(finding: ServerFinding, secret_names: Mapping[tuple[str, SecretLocation], str],
                 make: functools.partial[FixStep]) -> list[FixStep]:
    workload = re.sub(r"[^a-z0-9-]+", "-", finding.name.lower()).strip("-") or "remote"
    steps = [make("move-secret", detail=f"{s.where} ({s.redacted}) → secret {secret_names[(finding.id, s.where)]}",
                  secret_name=secret_names[(finding.id, s.where)], location=s.where, fingerprint=s.fingerprint)
             for s in finding.secrets]
    headers = ", ".join(s.where.name or "" for s in finding.secrets)
    steps.append(make("run-remote", detail=f"remote workload {workload} for {finding.target}, its {headers} "
                      "filled from the secret backend", url=finding.target, workload=workload))
    steps.append(make("repoint", detail=f"entry → the local proxy of {workload}", workload=workload))
    return steps


def _run_remote_step(paths: Paths, step: FixStep, moved: Sequence[FixStep]) -> str:
    """Create the remote workload of a run-remote step; returns its proxy URL. Each header that held a moved
    secret gets the secret's name in its place: ``Bearer ghp_…`` becomes ``Bearer {NAME}``."""
    from toolhive_py.scan.analyze import entry_secrets
    from toolhive_py.workloads import run_remote

    entry = _live_entry(step)
    found = dict(entry_secrets(entry, Path(step.config_path).parent)[0])
    raw = entry.get("headers") or entry.get("http_headers") or {}
    templates = []
    for header, value in raw.items() if isinstance(raw, Mapping) else ():
        text = str(value)
        for secret in moved:
            match = found.get(str(secret.location))
            if secret.location is not None and secret.location.name == header and match is not None:
                text = text.replace(match.value, "{" + (secret.secret_name or "") + "}")
        templates.append(f"{header}: {text}")
    workload = run_remote(paths, step.url or "", name=step.workload or "", headers=templates).workload
    return workload.url or ""


def _plan_one(finding: ServerFinding, workloads: Mapping[str, Sequence[ManagedWorkload]],
              secret_names: Mapping[tuple[str, SecretLocation], str]) -> list[FixStep]:
    make = functools.partial(FixStep, finding=finding.id, client=finding.client or "",
                             scope=finding.scope or "user", config_path=finding.config_path or "",
                             server=finding.name)
    if _is_remote_with_header_secrets(finding):
        return _plan_remote(finding, secret_names, make)
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
    match = finding.registry_match or ""
    candidates = workloads.get(match) or workloads.get(match.split("/")[-1]) or ()
    chosen = choose_workload(candidates, finding.name)
    short_scope = make.keywords["scope"].split(" ")[0]
    flags = "".join(f" --secret {s.secret_name}:{s.env_name}" for s in steps if s.env_name)
    if chosen and short_scope in ("user", "project"):
        target = (f"`mcpctl connect {chosen.name}`" if _is_stdio_only(finding.client or "")
                  else chosen.url)
        steps.append(make("repoint", detail=f"entry → {target} (workload {chosen.name})", url=chosen.url,
                          workload=chosen.name))
    elif chosen:
        steps.append(make("leave", detail=f"in a per-project section; point it at {chosen.url} (workload "
                          f"{chosen.name}) by hand", url=chosen.url, workload=chosen.name))
    elif candidates:
        names = ", ".join(sorted(w.name for w in candidates))
        steps.append(make("start-first", detail=f"the managed workloads of {match} ({names}) hide tools with "
                          "a tool policy, and re-pointing would take those tools away from this entry: run "
                          f"one without --tools/--deny-tools (`mcpctl run {match} --name NAME{flags}`), then "
                          "`mcpctl scan --fix --apply` again, or connect the client to one of them yourself "
                          "(`mcpctl client connect`)"))
    else:
        steps.append(make("start-first", detail=f"no managed server for {match} yet: run "
                          f"`mcpctl run {match}{flags}`, then `mcpctl scan --fix --apply` again"))
    if steps[-1].action != "repoint":
        for step in steps[:-1]:
            step.detail += ("; copied only: the plaintext stays in the file until the entry is re-pointed")
    return steps


def _candidates(report: ScanReport) -> list[ServerFinding]:
    return [f for f in report.findings if f.source == "config" and f.status != "managed"]


def build_plan(report: ScanReport, workloads: Mapping[str, Sequence[ManagedWorkload]]) -> list[FixStep]:
    """The steps for a report, given the running managed workloads of each registry server (REGISTRY/NAME)."""
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


def _repoint(paths: Paths, step: FixStep) -> Path:
    """Write the entry (under the user's name for it, naming the chosen workload); returns the backup."""
    from toolhive_py.clients.api import ManagedServer, Target, connect
    from toolhive_py.clients.catalog import get_client
    from toolhive_py.credentials import mint

    target = Target(get_client(step.client), _location(step), Path(step.config_path))
    server = ManagedServer(step.server, step.url or "", workload=step.workload or "")
    # The entry gets the client's own proxy credential, as `mcpctl client connect` writes it.
    return connect(paths, target, [server], replace=True,
                   mint=lambda s: mint(paths, s.workload_name, target.client.id))


EntryTarget = tuple[Literal["url", "connect"], str]


def entry_target(entry: Mapping[str, Any]) -> EntryTarget | None:
    """Where an entry mcpctl writes sends a client: ("url", the proxy URL) or ("connect", the workload
    `mcpctl connect` is given); None for any other entry."""
    from toolhive_py.clients.catalog import URL_KEYS
    from toolhive_py.scan.analyze import command_line

    url = next((entry[k] for k in URL_KEYS if isinstance(entry.get(k), str)), None)
    if url is not None:
        return ("url", url)
    line = command_line(entry)
    if line is None:
        return None
    program, args = line
    if program not in ("mcpctl", "mcpctl.exe") and not ("-m" in args and "toolhive_py" in args):
        return None
    at = args.index("connect") if "connect" in args else -1
    return ("connect", args[at + 1]) if 0 <= at < len(args) - 1 else None




def _probe(paths: Paths, url: str, workload: str | None, timeout: float = 5.0) -> str | None:
    """None when the proxy at ``url`` answers an MCP ``initialize`` with a result, else why not. Only a
    loopback URL is asked: nothing a config names elsewhere is contacted. mcpctl asks with its own
    credential for the workload (client id ``mcpctl``)."""
    from toolhive_py.proxy.client import ProxyClient
    from toolhive_py.workloads import mcpctl_token

    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return f"{url} is not a local mcpctl proxy"
    try:
        token = mcpctl_token(paths, workload) if workload else None
        with ProxyClient("the workload", url, timeout, token=token):  # initialize; closed on the way out
            return None
    except MCPCTLError as error:
        return f"its proxy {url} does not answer an MCP initialize ({error.message})"


def _check_target(paths: Paths, step: FixStep, target: EntryTarget | None) -> str | None:
    """Why the entry would not work (None: it answers)."""
    from toolhive_py.proxy.supervisor import running_proxy

    if target is None:
        return "the entry is neither a proxy URL nor `mcpctl connect`"
    kind, value = target
    if kind == "url":
        return (f"the entry points at {value}, not at {step.url}" if value != step.url
                else _probe(paths, value, step.workload))
    if value != step.workload:
        return f"the entry runs `mcpctl connect {value}`, not the workload {step.workload}"
    state = running_proxy(paths, value)
    if state is None:
        return f"the workload {value} has no running proxy (`mcpctl start {value}`)"
    return _probe(paths, state.url, value)


def _restore(paths: Paths, step: FixStep, backup: Path) -> str:
    """Put the file back as it was before the repoint, when the newest backup of that client is still ours."""
    from toolhive_py.clients.api import restore

    newest = max(backup.parent.glob("*.json"), default=None)
    if newest != backup:
        return f"; {step.config_path} changed again since, so the entry was left as written"
    try:
        restore(paths, step.client, force=True)
    except MCPCTLError as error:
        return f"; putting {step.config_path} back failed too ({error.message})"
    return "; the entry was put back as it was"


def _repoint_verified(paths: Paths, step: FixStep) -> None:
    """Re-point only at a workload that answers, then check that the entry as written reaches it; an
    entry that does not is put back, so a broken entry is never reported as fixed."""
    if step.workload is None:
        raise RuntimeError("a repoint step names its workload")  # a caller bug, never user input
    why = _check_target(paths, step, ("url", step.url or "") if step.url else None)
    if why is not None:
        raise MCPCTLError(f"the workload {step.workload} does not answer: {why}; nothing was changed.",
                          code="fix-unverified", hint=f"`mcpctl status {step.workload}`, then run "
                          "`mcpctl scan --fix --apply` again.")
    backup = _repoint(paths, step)
    why = _check_target(paths, step, entry_target(_live_entry(step)))
    if why is not None:
        raise MCPCTLError(f"the entry as written does not work: {why}{_restore(paths, step, backup)}.",
                          code="fix-unverified", hint="Run `mcpctl scan --fix` again to see what it would do.")


def apply_plan(paths: Paths, plan: list[FixStep]) -> None:
    """Do each step in order; a step that fails is marked failed and later steps of that server skip.

    Once every step ran, each stored secret is looked for where it came from: it is ``done`` (moved) only
    when no plaintext copy is left in the client's config (or its side file), else ``copied``. Both list
    mcpctl's own backups that still hold the plaintext.
    """
    from toolhive_py.secrets.resolve import open_provider

    provider = None
    failed: set[str] = set()
    stored: list[tuple[FixStep, str]] = []
    for step in plan:
        if step.action in ("leave", "start-first") or step.finding in failed:
            continue
        try:
            if step.action == "move-secret":
                value = _secret_value(step)
                provider = provider or open_provider(paths)
                _store_new(provider, step.secret_name or "", value)
                stored.append((step, value))
                step.status = "copied"
            elif step.action == "run-remote":
                moved = [s for s in plan if s.finding == step.finding and s.action == "move-secret"]
                url = _run_remote_step(paths, step, moved)
                for later in plan:
                    if later.finding == step.finding and later.action == "repoint":
                        later.url = url
                step.status = "done"
            else:
                _repoint_verified(paths, step)
                step.status = "done"
        except MCPCTLError as error:
            step.status = "failed"
            step.detail += f" (failed: {error.message})"
            failed.add(step.finding)
    for step, value in stored:
        _account_for(paths, step, value)


def _holds(path: Path, value: str) -> bool:
    """Whether the file's text holds the value, as written or escaped the way JSON and TOML strings are."""
    from toolhive_py.clients.documents import load_text

    try:
        text = load_text(path)
    except (OSError, MCPCTLError):
        return True  # unreadable now: it cannot be shown to be gone
    return text is not None and (value in text or json.dumps(value)[1:-1] in text)


def _account_for(paths: Paths, step: FixStep, value: str) -> None:
    """Say where a stored secret's plaintext still is, and so whether it was moved or only copied."""
    from toolhive_py.clients.api import backups_holding

    places = [Path(step.config_path)]
    if step.location is not None and step.location.kind == "file" and step.location.path:
        places.append(Path(step.location.path))
    step.plaintext_left = [str(path) for path in places if _holds(path, value)]
    step.backups = [str(path) for path in backups_holding(paths, step.client, value)]
    step.status = "copied" if step.plaintext_left else "done"
    if step.plaintext_left:
        step.detail += f"; copied, not moved: the plaintext is still in {', '.join(step.plaintext_left)}"
    else:
        step.detail += f"; moved: no plaintext copy is left in {step.config_path}"
    if step.backups:
        step.detail += (f"; mcpctl's backups of it still hold the plaintext: {' '.join(step.backups)} "
                        f"(`mcpctl client restore {step.client}` puts the newest backup back; once they are "
                        "deleted it cannot undo these changes)")


def _store_new(provider: SecretProvider, name: str, value: str) -> None:
    """Store a moved secret, never replacing a different value already kept under that name."""
    existing = provider.get(name)
    if existing is not None and existing != value:
        raise ConflictError(f"The secret backend already holds a different value named {name!r}; it was not "
                            "overwritten.", hint=f"Check it (`mcpctl secret get {name} --reveal`), delete or "
                            "rename it if it is stale, then run `mcpctl scan --fix --apply` again.", name=name)
    if existing is None:
        provider.set(name, value)


_MARKS: Final = {"planned": "•", "done": "✓", "copied": "~", "failed": "✗"}


def plan_outcome(plan: Sequence[FixStep]) -> tuple[Status, ExitCode]:
    """An applied plan's status and exit code: partial (8) when a step failed or a secret was only copied
    while something else was done, error (1) when every step that ran failed."""
    ran = [step for step in plan if step.status != "planned"]
    if all(step.status == "done" for step in ran):
        return Status.OK, ExitCode.OK
    if any(step.status in ("done", "copied") for step in ran):
        return Status.PARTIAL, ExitCode.PARTIAL
    return Status.ERROR, ExitCode.ERROR


def render_plan(plan: list[FixStep], *, applied: bool) -> str:
    if not plan:
        return "Nothing to fix."
    lines = []
    for step in plan:
        status = " (copied)" if step.status == "copied" else ""
        lines.append(f"{_MARKS[step.status]} {step.client} {step.server}: {step.action}{status} — {step.detail}")
    backups = sorted({backup for step in plan for backup in step.backups})
    if backups:
        lines.append("Backups made by mcpctl still hold plaintext secrets. Once the new entries work, delete them: "
                     f"rm {' '.join(backups)} (`mcpctl client restore` can then no longer undo these changes).")
    if any(step.status == "copied" for step in plan):
        lines.append("~ copied: the secret is in the backend, and its plaintext is still in the file named.")
    if not applied:
        lines.append("Dry run: nothing was changed. Add --apply to do the steps marked •.")
    return "\n".join(lines)
