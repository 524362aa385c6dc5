"""A workload's whole lifecycle, as ToolHive's workloads manager owns it: run, stop, start, restart, remove,
its proxy, the clients pointed at it, and what `list`, `status`, `logs` and `audit` show.

Each operation opens the engine it needs (``runtime.engine.open_engine``, so the ``runtime.socket`` setting is
always honoured), does every step in order, and returns a typed result whose status and exit code are
decided here; the CLI renders it. Policy: a step that fails after the container started (a client config
that cannot be written) makes the result partial, it never hides the running workload.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolhive_py.errors import ExitCode, MCPCTLError, NotFoundError, UsageError, VerificationError
from toolhive_py.results import Completed, Failure, Status, overall
from toolhive_py.runtime.workloads import is_mine

if TYPE_CHECKING:
    from toolhive_py.clients.api import ManagedServer, Target
    from toolhive_py.config import Paths
    from toolhive_py.proxy.supervisor import ProxyState
    from toolhive_py.remote.records import RemoteRecord
    from toolhive_py.runtime.builds import BuildConfig
    from toolhive_py.runtime.engine import Engine
    from toolhive_py.runtime.images import PullProgress
    from toolhive_py.runtime.launch import RunOptions, RunTarget
    from toolhive_py.runtime.workloads import Workload
    from toolhive_py.secrets import SecretRequest

__all__ = [
    "BridgeEndpoint",
    "ClientsResult",
    "ConnectedClient",
    "DisconnectResult",
    "RemoveResult",
    "RevokeResult",
    "UpgradeResult",
    "RunPlan",
    "RunResult",
    "WorkloadResult",
    "WorkloadView",
    "AuthStatus",
    "audit_lines",
    "audit_records",
    "auth_login",
    "auth_logout",
    "auth_status",
    "bridge_endpoint",
    "client_token",
    "connect_clients",
    "disconnect_clients",
    "ensure_proxy",
    "list_workloads",
    "logs",
    "managed_servers",
    "mcpctl_token",
    "plan_run",
    "proxy_log_lines",
    "proxy_url",
    "removal_targets",
    "remove",
    "restart",
    "revoke_clients",
    "run",
    "run_remote",
    "runtime_status",
    "start",
    "status",
    "stop",
    "upgrade_clients",
]

Prompt = Callable[[str, str], str]
"""Asks the user for a missing secret: (secret name, backend name) → value."""
Confirm = Callable[[str], bool]
"""Asks the user a yes/no question."""


@dataclass(frozen=True)
class WorkloadView:
    """A workload as `list` and `status` show it: the engine's view plus its proxy's state."""

    workload: Workload
    proxy: str  # "up", "DOWN", or "-" for a workload created without a proxy
    egress_filter: str | None = None  # its egress filter's state (`status` only); None: no filter, or not asked

    def to_dict(self) -> dict[str, Any]:
        shown = {**self.workload.to_dict(), "proxy": self.proxy}
        if self.egress_filter is not None:
            shown["egress_filter"] = self.egress_filter
        return shown


@dataclass(frozen=True)
class ConnectedClient:
    client_id: str
    client_name: str
    path: Path


@dataclass(frozen=True)
class RunResult:
    workload: Workload
    engine_kind: str
    secrets: tuple[SecretRequest, ...] = ()
    connected: tuple[ConnectedClient, ...] = ()
    failures: tuple[Failure, ...] = ()

    @property
    def status(self) -> Status:
        return Status.PARTIAL if self.failures else Status.OK

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PARTIAL if self.failures else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return self.workload.to_dict()


@dataclass(frozen=True)
class RunPlan(Completed):
    """`run --dry-run`: the hardened container spec, exactly as `run` would create it."""

    display: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.display


@dataclass(frozen=True)
class WorkloadResult(Completed):
    """One workload after stop, start or restart."""

    workload: Workload

    def to_dict(self) -> dict[str, Any]:
        return self.workload.to_dict()


@dataclass(frozen=True)
class RemoveResult:
    removed: tuple[str, ...]
    disconnected: Mapping[str, tuple[str, ...]]  # workload → client ids it was taken out of
    failures: tuple[Failure, ...]

    @property
    def status(self) -> Status:
        return overall(len(self.removed), self.failures)[0]

    @property
    def exit_code(self) -> ExitCode:
        return overall(len(self.removed), self.failures)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"removed": list(self.removed)}


@dataclass(frozen=True)
class ClientsResult(Completed):
    """`client connect`: which servers went into which file, and the backup that undoes it."""

    client_id: str
    client_name: str
    path: Path
    servers: tuple[str, ...]
    backup: Path
    credential: str = ""  # how the client carries its new credential (the catalog's mode)
    # Workloads that were in migration mode until this connect: their entries without a credential stop working.
    ended_migration: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client_id, "path": str(self.path), "servers": list(self.servers),
                "backup": str(self.backup), "credential": self.credential,
                "ended_migration": list(self.ended_migration)}


@dataclass(frozen=True)
class RevokeResult(Completed):
    """`client revoke`: the workloads whose proxy no longer lets this client in."""

    client_id: str
    workloads: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client_id, "workloads": list(self.workloads)}


@dataclass(frozen=True)
class UpgradeResult:
    """`client upgrade`: every managed entry rewritten with a credential, and the workloads whose migration
    mode ended (their proxy now lets in only clients with a credential)."""

    rewritten: tuple[ClientsResult, ...]
    secured: tuple[str, ...]
    failures: tuple[Failure, ...]
    restarted: tuple[str, ...] = ()  # proxies started before credentials existed, which never check one

    @property
    def status(self) -> Status:
        return overall(len(self.rewritten) + len(self.secured), self.failures)[0]

    @property
    def exit_code(self) -> ExitCode:
        return overall(len(self.rewritten) + len(self.secured), self.failures)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"rewritten": [r.to_dict() for r in self.rewritten], "secured": list(self.secured),
                "restarted": list(self.restarted)}


# ----- helpers -----------------------------------------------------------------------------------------


def _build_config(paths: Paths) -> BuildConfig:
    """Where local package builds start from (settings build.python_image, build.node_image, build.ca_bundle)."""
    from toolhive_py.config import Settings
    from toolhive_py.runtime.builds import DEFAULT_NODE_IMAGE, DEFAULT_PYTHON_IMAGE, BuildConfig

    settings = Settings(paths.settings_file)
    ca_bundle = settings.get("build.ca_bundle")
    return BuildConfig(python_image=settings.get("build.python_image") or DEFAULT_PYTHON_IMAGE,
                       ca_bundle=Path(ca_bundle).expanduser() if ca_bundle else None, cache_dir=paths.cache_dir,
                       node_image=settings.get("build.node_image") or DEFAULT_NODE_IMAGE)


def _proxy_state(paths: Paths, workload: Workload) -> str:
    from toolhive_py.proxy.supervisor import running_proxy

    if workload.proxy_port is None:
        return "-"
    return "up" if running_proxy(paths, workload.name) else "DOWN"


def _held_secrets(paths: Paths, workload: Workload) -> dict[str, str]:
    """The values a workload's proxy holds for its launcher, from the backend they came from (names on labels).
    A workload whose secrets are in its stored env (``--allow-env-secrets``, or made before) needs none."""
    from toolhive_py.runtime.spec import SecretInjection
    from toolhive_py.secrets import SecretRequest, open_provider, resolve_secret_env

    if workload.secret_injection is not SecretInjection.STDIN or not workload.secret_sources:
        return {}
    requests = [SecretRequest(secret, env) for secret, env in workload.secret_sources]
    return resolve_secret_env(open_provider(paths, workload.secret_backend or None), requests)


def ensure_proxy(paths: Paths, engine: Engine, workload: Workload,
                 secret_env: Mapping[str, str] | None = None) -> ProxyState | None:
    """The workload's proxy, started on its recorded port when it is not running (after a crash or kill -9).

    A proxy it starts is handed the workload's secrets (``secret_env``, else resolved again from the backend named
    on the workload) on a pipe: it sends them to the container's launcher on each start of the container."""
    from toolhive_py.credentials import credentials_file
    from toolhive_py.proxy.supervisor import running_proxy, start_proxy, stop_proxy
    from toolhive_py.runtime.spec import container_name

    if workload.proxy_port is None:
        return None
    state = running_proxy(paths, workload.name)
    if state is not None and (state.port, state.engine) != (workload.proxy_port, engine.url):
        # Left running for an earlier workload of this name whose container went away without `mcpctl rm`:
        # it listens on that workload's port, not on the one clients of this workload are given.
        stop_proxy(paths, workload.name)
        state = None
    if state is not None:
        return state
    return start_proxy(
        paths, name=workload.name, port=workload.proxy_port, engine=engine.url,
        container=container_name(workload.name), policy_json=workload.policy_json,
        upstream=workload.transport, target_port=workload.target_port,
        secret_env=_held_secrets(paths, workload) if secret_env is None else secret_env,
        # Always the path: a workload from before credentials has no file yet (migration mode) and leaves that
        # mode the moment `client connect` or `client upgrade` creates it, with no restart.
        credentials=credentials_file(paths, workload.name))


def _backend_name(paths: Paths, backend: str | None) -> str:
    """The secret backend a run uses, as ``secrets.open_provider`` picks it (recorded on the workload)."""
    from toolhive_py.config import Settings
    from toolhive_py.secrets.base import DEFAULT_BACKEND

    return backend or Settings(paths.settings_file).get("secrets.backend") or DEFAULT_BACKEND


def _secret_resolver(paths: Paths, target: RunTarget, backend: str | None, prompt: Prompt | None,
                     confirm: Confirm | None, injected: dict[str, str] | None = None,
                     ) -> Callable[[Sequence[SecretRequest]], Mapping[str, str]]:
    """Values for a workload's secrets, each checked against who holds it (``secrets.grants``); also kept in
    ``injected`` (env name → value) for the DLP fingerprints ``run`` writes."""
    from toolhive_py.secrets import open_provider, resolve_secret_env
    from toolhive_py.secrets.grants import decide, read_grants, record_grants

    server = target.qualified_name

    def resolve(requests: Sequence[SecretRequest]) -> Mapping[str, str]:
        provider = open_provider(paths, backend)
        holders = read_grants(paths)
        claimed = []
        for request in requests:
            decision = decide(request, holders=holders.get(request.secret_name, frozenset()), server=server,
                              vetted=target.vetted)
            if decision == "ask" and provider.get(request.secret_name) is not None:
                question = (f"Give the stored secret {request.secret_name} to {server}? It was stored for "
                            f"{', '.join(sorted(holders.get(request.secret_name, ()))) or 'another server'}.")
                if confirm is None or not confirm(question):
                    raise VerificationError(
                        f"The stored secret {request.secret_name!r} is not handed to {server} without your say-so: "
                        "another server's entry declares the same name.",
                        hint=f"Pass `--secret {request.secret_name}` to give it to {server}, or store a separate "
                             f"one and map it: `--secret NAME:{request.env_name}`.",
                        code="secret-not-granted", secret=request.secret_name, server=server)
            if decision != "allow":
                claimed.append(request.secret_name)
        ask = (lambda name: prompt(name, provider.name)) if prompt is not None else None
        values = resolve_secret_env(provider, requests, prompt=ask)
        record_grants(paths, server, claimed)
        if injected is not None:
            injected.update(values)
        return values

    return resolve


# ----- operations --------------------------------------------------------------------------------------

def plan_run(paths: Paths, server: str, options: RunOptions, *, unvetted: bool) -> RunPlan:
    """What `run` would start, with no engine: for `--dry-run`."""
    from toolhive_py.registry import RegistryStore
    from toolhive_py.runtime.launch import plan, resolve_target

    target = resolve_target(RegistryStore(paths), server, unvetted=unvetted)
    return RunPlan(plan(target, options).spec.to_display())


def run(paths: Paths, server: str, options: RunOptions, *, unvetted: bool, socket: str | None = None,
        clients: Sequence[str] = (), secret_backend: str | None = None, prompt: Prompt | None = None,
        confirm: Confirm | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        notify: Callable[[str], None] = lambda _: None, warn: Callable[[str], None] = lambda _: None,
        headers: Sequence[str] = ()) -> RunResult:
    """Start ``server`` hardened, its proxy in front, and point ``clients`` at it.

    A remote server (an ``https://`` URL, or a registry entry with ``remotes``) gets a proxy and no container;
    ``headers`` (``Name: template`` with ``{SECRET}`` placeholders) are sent to it with each request.

    ``notify`` hears each step as it happens (the image build, the egress filter) and ``warn`` what the user
    must not miss (an unvetted server, a name another registry also lists); ``prompt`` asks for a missing
    secret and ``confirm`` whether a secret stored for another server may go to this one, on a terminal
    (None: fail with the fix instead).
    """
    from toolhive_py.clients.api import ManagedServer
    from toolhive_py.clients.api import connect as connect_client
    from toolhive_py.clients.api import resolve_target as resolve_client
    from toolhive_py.credentials import ensure_file
    from toolhive_py.integrity.dlp import write_fingerprints
    from toolhive_py.integrity.pins import seed
    from toolhive_py.proxy.supervisor import free_port, proxy_dir
    from toolhive_py.registry import RegistryStore
    from toolhive_py.remote.policy import is_remote_url
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.launch import launch, resolve_target

    if is_remote_url(server) or headers:
        return _run_remote(paths, server, options, headers=headers, clients=clients, secret_backend=secret_backend,
                           prompt=prompt, confirm=confirm, warn=warn)
    store = RegistryStore(paths)
    remote_entry = _registry_remote(store, server)
    if remote_entry is not None:
        return _run_remote(paths, server, options, headers=headers, clients=clients, secret_backend=secret_backend,
                           prompt=prompt, confirm=confirm, warn=warn, unvetted=unvetted)
    target = resolve_target(store, server, unvetted=unvetted)
    if not target.vetted:
        warn(f"{target.server} is UNVETTED: it is not from a verified registry.")
    if target.shadows_builtin:
        warn(f"{target.qualified_name} comes from registry {target.registry}, which was added to take over built-in names; "
             f"the built-in entry is `mcpctl run default/{target.server}`.")
    elif target.also_in:
        notify(f"{target.qualified_name} (also listed by {', '.join(target.also_in)}; name REGISTRY/NAME to pick one)")
    options = replace(options, proxy_port=free_port(options.proxy_port),
                      secret_backend=_backend_name(paths, secret_backend))
    client_targets = [resolve_client(c) for c in clients]
    injected: dict[str, str] = {}
    with open_engine(paths, socket) as engine:
        launched = launch(engine, target, options,
                          resolve_secrets=_secret_resolver(paths, target, secret_backend, prompt, confirm, injected),
                          build=_build_config(paths), progress=progress, notify=notify)
        # Before the proxy serves anyone: its DLP withholds any result holding one of these values (written
        # always, so a rerun under the same name drops old ones), and a signed entry's tool pins hold from the
        # first list.
        state_dir = proxy_dir(paths, launched.workload.name)
        write_fingerprints(state_dir, injected)
        if target.entry is not None and target.entry.tool_pins:
            seed(state_dir, target.entry.tool_pins)
        # A new workload's proxy lets in only clients with a credential: none until one is connected.
        ensure_file(paths, launched.workload.name)
        ensure_proxy(paths, engine, launched.workload, injected if launched.injection == "stdin" else {})
    workload = launched.workload
    connected, failures = [], []
    for client_target in client_targets:
        try:
            connect_client(paths, client_target, [ManagedServer(workload.name, workload.url or "")],
                           mint=_minter(paths, client_target.client.id))
        except MCPCTLError as error:
            failures.append(Failure(client_target.client.id, error))
            continue
        connected.append(ConnectedClient(client_target.client.id, client_target.client.name, client_target.path))
    return RunResult(workload, engine.kind, launched.secrets, tuple(connected), tuple(failures))


# ----- remote workloads: a proxy with no container, recorded in remote.records ---------------------------


def _registry_remote(store: Any, server: str) -> Any:
    """The registry listing of ``server`` when it is a hosted server only (remotes, no image or package)."""
    from toolhive_py.remote.policy import is_remote_url

    if is_remote_url(server):
        return None
    try:
        found = store.find(server)
    except MCPCTLError:
        return None  # not a registry name: the container path says why
    entry = found.entry
    return found if entry.remotes and entry.image is None and entry.package is None else None


def _remote_workload(record: RemoteRecord) -> Workload:
    """A remote workload as `list`, `status` and clients see it: the engine's workload shape, no container."""
    from toolhive_py.runtime.workloads import Workload

    return Workload(name=record.name, container_id="", status="exited" if record.stopped else "running",
                    image=record.url, server=record.server or record.url, registry=record.registry,
                    vetted=record.vetted, transport=record.transport, created=record.created, ports={},
                    secret_env=record.secret_names, restart_count=0, proxy_port=record.proxy_port,
                    policy_json=record.policy_json, owner=record.owner, secret_backend=record.secret_backend)


def _ca_bundle(paths: Paths) -> Path | None:
    """The extra CA trusted besides the system's (setting build.ca_bundle, the one extra-CA setting)."""
    from toolhive_py.config import Settings

    configured = Settings(paths.settings_file).get("build.ca_bundle")
    return Path(configured).expanduser() if configured else None


def _remote_secrets(paths: Paths, record: RemoteRecord, prompt: Prompt | None = None) -> dict[str, str]:
    """The values of the record's header placeholders, from its backend (asked for when missing and ``prompt``)."""
    from toolhive_py.remote.policy import frame_key
    from toolhive_py.secrets import SecretRequest, open_provider, resolve_secret_env

    if not record.secret_names:
        return {}
    provider = open_provider(paths, record.secret_backend or None)
    ask = (lambda secret: prompt(secret, provider.name)) if prompt is not None else None
    return resolve_secret_env(provider, [SecretRequest(n, frame_key(n)) for n in record.secret_names], prompt=ask)


def _ensure_remote_proxy(paths: Paths, record: RemoteRecord, secret_env: Mapping[str, str] | None = None,
                         ) -> ProxyState:
    """The remote workload's proxy, started when it is not running: its header secrets go to it on a pipe."""
    from toolhive_py.credentials import credentials_file
    from toolhive_py.proxy.supervisor import running_proxy, start_proxy

    state = running_proxy(paths, record.name)
    if state is not None:
        return state
    backend_argv = ["--remote", record.url]
    for template in record.templates:
        backend_argv += ["--remote-header", template.to_flag()]
    ca_bundle = _ca_bundle(paths)
    if ca_bundle is not None:
        backend_argv += ["--ca-bundle", str(ca_bundle)]
    held = dict(_remote_secrets(paths, record) if secret_env is None else secret_env)
    if record.auth == "oauth":
        from toolhive_py.auth.storage import load_state
        from toolhive_py.proxy.remote import OAUTH_STATE_KEY
        from toolhive_py.secrets import open_provider

        # The tokens go to the proxy with the other secrets, on its stdin; it refreshes them in memory.
        held[OAUTH_STATE_KEY] = load_state(open_provider(paths, record.secret_backend or None), record.url).to_json()
        backend_argv.append("--oauth")
    return start_proxy(paths, name=record.name, port=record.proxy_port, engine="", container="",
                       policy_json=record.policy_json, upstream=record.transport, secret_env=held,
                       credentials=credentials_file(paths, record.name), backend_argv=backend_argv)


def _start_remote(paths: Paths, record: RemoteRecord, *, restart: bool) -> Workload:
    from toolhive_py.proxy.supervisor import stop_proxy
    from toolhive_py.remote.records import write_record

    if restart:
        stop_proxy(paths, record.name)
    if record.stopped:
        record = record.model_copy(update={"stopped": False})
        write_record(paths, record)
    _ensure_remote_proxy(paths, record)
    return _remote_workload(record)


def _remove_remote(paths: Paths, name: str, removed: list[str], disconnected: dict[str, tuple[str, ...]],
                   failures: list[Failure]) -> None:
    from toolhive_py.clients.api import disconnect_everywhere
    from toolhive_py.credentials import revoke
    from toolhive_py.proxy.supervisor import forget, stop_proxy
    from toolhive_py.remote.records import delete_record

    stop_proxy(paths, name)
    forget(paths, name)
    delete_record(paths, name)
    removed.append(name)
    try:
        revoke(paths, name)
    except MCPCTLError as error:
        failures.append(Failure(name, error))
    try:
        disconnected[name] = tuple(disconnect_everywhere(paths, name))
    except MCPCTLError as error:
        failures.append(Failure(name, error))


@dataclass(frozen=True)
class AuthStatus(Completed):
    """`auth status NAME`: whether mcpctl holds a sign-in for a remote workload (never the token itself)."""

    name: str = ""
    url: str = ""
    auth: str = "none"
    issuer: str | None = None
    signed_in: bool = False
    expires_at: float | None = None
    refreshable: bool = False
    scope: str | None = None
    client_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "auth": self.auth, "issuer": self.issuer,
                "signed_in": self.signed_in, "expires_at": self.expires_at, "refreshable": self.refreshable,
                "scope": self.scope, "client_id": self.client_id}


def _remote_record(paths: Paths, name: str) -> RemoteRecord:
    from toolhive_py.remote.records import read_record

    record = read_record(paths, name)
    if record is None:
        raise NotFoundError(f"No remote workload named {name!r}.",
                            hint="Sign-in is for remote servers: `mcpctl run https://HOST/PATH --name NAME` first.",
                            code="not-remote")
    return record


def auth_login(paths: Paths, name: str, *, show: Callable[[str], None], ask: Callable[[str], str] | None = None,
               client_id: str | None = None, client_secret_name: str | None = None) -> AuthStatus:
    """Sign in to a remote workload's server (OAuth), keep the tokens in its secret backend, and start its proxy
    again with them. ``ask`` set: headless (it gets the URL and returns the redirect URL or code)."""
    import anyio

    from toolhive_py.auth.login import login
    from toolhive_py.auth.storage import SecretTokenStorage
    from toolhive_py.proxy.supervisor import stop_proxy
    from toolhive_py.remote.records import write_record
    from toolhive_py.secrets import open_provider

    record = _remote_record(paths, name)
    provider = open_provider(paths, record.secret_backend or None)
    secret = None
    if client_secret_name:
        secret = provider.get(client_secret_name)
        if secret is None:
            raise NotFoundError(f"Secret {client_secret_name!r} is not in the {provider.name} backend.",
                                hint=f"Store it: `mcpctl secret set {client_secret_name}`.", code="secret-missing")
    client = client_id or record.client_id or None
    storage = SecretTokenStorage(provider, record.url)
    # No client ID metadata document: mcpctl hosts none (a CIMD client id is an https URL it would have to
    # serve); servers get dynamic registration or the given client id. auth.client.build_oauth takes one.
    metadata_url = None
    anyio.run(lambda: login(record.url, storage, name=name, show=show, ask=ask, ca_bundle=_ca_bundle(paths),
                            client_id=client, client_secret=secret, client_metadata_url=metadata_url))
    record = record.model_copy(update={"auth": "oauth", "client_id": client or ""})
    write_record(paths, record)
    stop_proxy(paths, name)
    if not record.stopped:
        _ensure_remote_proxy(paths, record)
    return auth_status(paths, name)


def auth_status(paths: Paths, name: str) -> AuthStatus:
    from toolhive_py.auth.storage import load_state
    from toolhive_py.secrets import open_provider

    record = _remote_record(paths, name)
    state = load_state(open_provider(paths, record.secret_backend or None), record.url)
    tokens = state.tokens or {}
    return AuthStatus(name=name, url=record.url, auth=record.auth, issuer=state.issuer,
                      signed_in=bool(tokens.get("access_token")), expires_at=tokens.get("expires_at"),
                      refreshable=bool(tokens.get("refresh_token")), scope=tokens.get("scope"),
                      client_id=(state.client or {}).get("client_id") or record.client_id or None)


def auth_logout(paths: Paths, name: str) -> AuthStatus:
    """Forget the workload's tokens (the authorization server's client registration stays, for the next login)
    and restart its proxy without them: the remote's next 401 names `mcpctl auth login NAME` as the fix."""
    from toolhive_py.auth.storage import forget_state
    from toolhive_py.proxy.supervisor import stop_proxy
    from toolhive_py.secrets import open_provider

    record = _remote_record(paths, name)
    forget_state(open_provider(paths, record.secret_backend or None), record.url)
    stop_proxy(paths, name)
    if not record.stopped:
        _ensure_remote_proxy(paths, record)
    return auth_status(paths, name)


def run_remote(paths: Paths, url: str, *, name: str, headers: Sequence[str], secret_backend: str | None = None,
               ) -> RunResult:
    """A remote workload for ``url`` with ``headers`` (templates naming stored secrets), no prompts: what
    `scan --fix` makes of a client entry that held a remote's token in plain text."""
    from toolhive_py.runtime.launch import RunOptions

    return _run_remote(paths, url, RunOptions(name=name), headers=headers, clients=(), secret_backend=secret_backend,
                       prompt=None, confirm=None, warn=lambda _: None)


def _run_remote(paths: Paths, server: str, options: RunOptions, *, headers: Sequence[str], clients: Sequence[str],
                secret_backend: str | None, prompt: Prompt | None, confirm: Confirm | None,
                warn: Callable[[str], None], unvetted: bool = False) -> RunResult:
    """`run URL` or `run NAME` of a hosted registry entry: a record, the header secrets checked in the backend,
    the DLP fingerprints of those secrets (a result echoing the token is withheld), the proxy, the clients."""
    from toolhive_py.clients.api import ManagedServer
    from toolhive_py.clients.api import connect as connect_client
    from toolhive_py.clients.api import resolve_target as resolve_client
    from toolhive_py.credentials import ensure_file
    from toolhive_py.errors import ConflictError, UnvettedError
    from toolhive_py.integrity.dlp import write_fingerprints
    from toolhive_py.proxy.supervisor import free_port, proxy_dir, running_proxy
    from toolhive_py.registry import RegistryStore
    from toolhive_py.remote.policy import frame_key, is_remote_url, parse_header, parse_remote_url, workload_name_for
    from toolhive_py.remote.records import RemoteRecord, read_record, write_record
    from toolhive_py.runtime.launch import RunTarget
    from toolhive_py.secrets import SecretRequest

    templates = [parse_header(h) for h in headers]
    registry, vetted, server_name = "", False, server
    transport: Literal["streamable-http", "sse"]
    if is_remote_url(server):
        url, transport = parse_remote_url(server), "sse" if server.rstrip("/").endswith("/sse") else "streamable-http"
        warn(f"{server} is UNVETTED: a remote URL, not an entry of a verified registry.")
    else:
        found = _registry_remote(RegistryStore(paths), server)
        if found is None:
            raise UsageError(f"{server} is not a remote server: --header is for remote servers only.",
                             hint="Run a URL (mcpctl run https://HOST/PATH) or a registry entry with remotes.")
        if not found.verified and not unvetted:
            raise UnvettedError(f"{found.qualified_name} comes from an unsigned registry.",
                                hint="Pass --unvetted to run it anyway.")
        remote = found.entry.remotes[0]
        url, transport = parse_remote_url(remote.url), remote.type
        registry, vetted, server_name = found.registry, found.verified, found.name
        given = {t.name.lower() for t in templates}
        for header in remote.headers:
            if header.name.lower() in given:
                continue
            if header.value is not None:
                templates.append(parse_header(f"{header.name}: {header.value}"))
            elif header.is_secret:
                secret = re.sub(r"[^A-Z0-9_]", "_", f"{found.name}_{header.name}".upper())
                templates.append(parse_header(f"{header.name}: {{{secret}}}"))
            elif header.is_required:
                raise UsageError(f"{found.qualified_name} needs the header {header.name} ({header.description}).",
                                 hint=f"Pass --header '{header.name}: VALUE'.", code="missing-header")
    name = options.name or (server_name if registry else workload_name_for(url))
    existing = read_record(paths, name)
    if existing is None and (running_proxy(paths, name) is not None or proxy_dir(paths, name).exists()):
        raise ConflictError(f"A workload named {name} exists.", hint=f"Pick another --name, or `mcpctl rm {name}`.",
                            code="name-taken", name=name)
    port = free_port(options.proxy_port) if existing is None or options.proxy_port else existing.proxy_port
    record = RemoteRecord(
        name=name, url=url.url, transport=transport, headers=[(t.name, t.template) for t in templates],
        secret_backend=_backend_name(paths, secret_backend), proxy_port=port, policy_json=options.policy_json or "",
        server=server_name, registry=registry, vetted=vetted, owner=options.owner,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    target = RunTarget(server=server_name, image=url.url, vetted=vetted, registry=registry or None)
    resolve = _secret_resolver(paths, target, secret_backend, prompt, confirm)
    requests = tuple(SecretRequest(n, frame_key(n)) for n in record.secret_names)
    values = dict(resolve(requests)) if requests else {}
    if existing is not None:
        from toolhive_py.proxy.supervisor import stop_proxy

        stop_proxy(paths, name)
    write_record(paths, record)
    state_dir = proxy_dir(paths, name)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_fingerprints(state_dir, values)
    ensure_file(paths, name)
    _ensure_remote_proxy(paths, record, values)
    workload = _remote_workload(record)
    connected, failures = [], []
    for client_id in clients:
        try:
            client_target = resolve_client(client_id)
            connect_client(paths, client_target, [ManagedServer(workload.name, workload.url or "")],
                           mint=_minter(paths, client_target.client.id))
        except MCPCTLError as error:
            failures.append(Failure(client_id, error))
            continue
        connected.append(ConnectedClient(client_target.client.id, client_target.client.name, client_target.path))
    return RunResult(workload, "remote", requests, tuple(connected), tuple(failures))


def stop(paths: Paths, name: str, *, socket: str | None = None) -> WorkloadResult:
    """Stop the proxy, then the container (which keeps its port and configuration)."""
    from toolhive_py.proxy.supervisor import stop_proxy
    from toolhive_py.remote.records import read_record, write_record
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import stop_workload

    record = read_record(paths, name)
    if record is not None:
        stop_proxy(paths, name)
        record = record.model_copy(update={"stopped": True})
        write_record(paths, record)
        return WorkloadResult(_remote_workload(record))

    with open_engine(paths, socket) as engine:
        stop_proxy(paths, name)
        return WorkloadResult(stop_workload(engine, name))


def start(paths: Paths, name: str, *, socket: str | None = None) -> WorkloadResult:
    """Start a stopped workload, and its proxy if that is not running."""
    from toolhive_py.remote.records import read_record
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import start_workload

    record = read_record(paths, name)
    if record is not None:
        return WorkloadResult(_start_remote(paths, record, restart=False))

    with open_engine(paths, socket) as engine:
        workload = start_workload(engine, name)
        ensure_proxy(paths, engine, workload)
        return WorkloadResult(workload)


def restart(paths: Paths, name: str, *, socket: str | None = None) -> WorkloadResult:
    """Restart the container; its proxy re-attaches, or is started again if it died. A remote workload's proxy
    is started again (which reads its secrets afresh: how a rotated token takes effect)."""
    from toolhive_py.remote.records import read_record
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import restart_workload

    record = read_record(paths, name)
    if record is not None:
        return WorkloadResult(_start_remote(paths, record, restart=True))

    with open_engine(paths, socket) as engine:
        workload = restart_workload(engine, name)
        ensure_proxy(paths, engine, workload)
        return WorkloadResult(workload)


def removal_targets(found: Sequence[Workload], *, uid: int | None = None) -> list[str]:
    """What `rm --all` removes: this user's workloads only, never another user's on a shared engine."""
    return [w.name for w in found if is_mine(w, uid)]


def remove(paths: Paths, names: Sequence[str], *, all_workloads: bool = False,
           socket: str | None = None) -> RemoveResult:
    """Remove each workload, stop its proxy (its audit log is archived) and take it out of every client config
    mcpctl wrote it to."""
    from toolhive_py.clients.api import disconnect_everywhere
    from toolhive_py.credentials import revoke
    from toolhive_py.proxy.supervisor import forget, proxy_dir, stop_proxy
    from toolhive_py.remote.records import list_records, read_record
    from toolhive_py.runtime import workloads
    from toolhive_py.runtime.engine import open_engine

    if not names and not all_workloads:
        raise UsageError("Name a workload or pass --all.")
    removed: list[str] = []
    disconnected: dict[str, tuple[str, ...]] = {}
    failures: list[Failure] = []
    remotes = ([r.name for r in list_records(paths) if r.owner in ("", str(os.getuid()))] if all_workloads
               else [n for n in names if read_record(paths, n) is not None])
    for target in remotes:
        _remove_remote(paths, target, removed, disconnected, failures)
    containers = [n for n in names if n not in remotes]
    if not containers and not all_workloads:
        return RemoveResult(tuple(removed), disconnected, tuple(failures))
    with open_engine(paths, socket) as engine:
        targets = (removal_targets(workloads.list_workloads(engine, include_stopped=True)) if all_workloads
                   else containers)
        for target in targets:
            try:
                workloads.remove_workload(engine, target)
            except NotFoundError as error:
                # Its container went away without mcpctl (`docker rm`, an engine reset): what mcpctl keeps of
                # it, a proxy above all, goes now. Nothing at all of that name is the error.
                if not stop_proxy(paths, target) and not proxy_dir(paths, target).exists():
                    failures.append(Failure(target, error))
                    continue
            except MCPCTLError as error:
                failures.append(Failure(target, error))
                continue
            stop_proxy(paths, target)
            forget(paths, target)
            removed.append(target)
            try:
                revoke(paths, target)  # every client's credential: a later workload of this name starts clean
            except MCPCTLError as error:
                failures.append(Failure(target, error))
            try:
                disconnected[target] = tuple(disconnect_everywhere(paths, target))
            except MCPCTLError as error:  # removed all the same: a client config it stays in is reported
                failures.append(Failure(target, error))
    return RemoveResult(tuple(removed), disconnected, tuple(failures))


def list_workloads(paths: Paths, *, include_stopped: bool = False, all_users: bool = False,
                   socket: str | None = None) -> list[WorkloadView]:
    """This user's workloads (every user's with ``all_users``), remote ones included. With only remote workloads
    and no engine running, the remote ones are listed."""
    from toolhive_py.errors import EngineError
    from toolhive_py.remote.records import list_records
    from toolhive_py.runtime import workloads
    from toolhive_py.runtime.engine import open_engine

    remotes = [_remote_workload(r) for r in list_records(paths)]
    try:
        with open_engine(paths, socket) as engine:
            found = workloads.list_workloads(engine, include_stopped=include_stopped)
    except EngineError:
        if not remotes:
            raise
        found = []
    found += [w for w in remotes if include_stopped or w.status == "running"]
    return [WorkloadView(w, _proxy_state(paths, w)) for w in found if all_users or is_mine(w)]


def status(paths: Paths, name: str, *, socket: str | None = None) -> WorkloadView:
    """One workload, with its proxy's and its egress filter's state."""
    from toolhive_py.remote.records import read_record
    from toolhive_py.runtime.egress import sidecar_state
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import get_workload

    record = read_record(paths, name)
    if record is not None:
        workload = _remote_workload(record)
        return WorkloadView(workload, _proxy_state(paths, workload))

    with open_engine(paths, socket) as engine:
        workload = get_workload(engine, name)
        egress_filter = sidecar_state(engine, name)
    return WorkloadView(workload, _proxy_state(paths, workload), egress_filter)


def runtime_status(paths: Paths, *, socket: str | None = None) -> dict[str, Any]:
    """Which engine and socket mcpctl uses, and why."""
    from toolhive_py.runtime.engine import open_engine

    with open_engine(paths, socket) as engine:
        return engine.describe()


def managed_servers(paths: Paths, names: Sequence[str] | None, *, socket: str | None = None) -> list[ManagedServer]:
    """Workloads as (name, proxy URL), all of this user's when ``names`` is None; every name must exist and have
    a proxy."""
    from toolhive_py.clients.api import ManagedServer
    from toolhive_py.errors import EngineError
    from toolhive_py.remote.records import list_records
    from toolhive_py.runtime import workloads
    from toolhive_py.runtime.engine import open_engine

    found = {r.name: _remote_workload(r) for r in list_records(paths)}
    if names is None or any(n not in found for n in names):
        try:
            with open_engine(paths, socket) as engine:
                found = {**{w.name: w for w in workloads.list_workloads(engine, include_stopped=True)}, **found}
        except EngineError:
            if names is not None or not found:
                raise
    servers: list[ManagedServer] = []
    for name in [n for n, w in found.items() if is_mine(w)] if names is None else names:
        workload = found.get(name)
        if workload is None or workload.url is None:
            raise NotFoundError(f"No managed server named {name!r}.", hint="Start it with `mcpctl run NAME`; "
                                "`mcpctl list --all` shows what exists.")
        servers.append(ManagedServer(name, workload.url))
    return servers


def connect_clients(paths: Paths, target: Target, names: Sequence[str] | None, *, replace_foreign: bool = False,
                    force: bool = False, socket: str | None = None) -> ClientsResult:
    """Point one client's config at managed servers (``names``, or every one when None), each with a new credential
    for this client (connecting again rotates it); ``force`` writes a config the user made read-only."""
    from toolhive_py.clients.api import connect
    from toolhive_py.credentials import credentials_file, load

    if names is not None and not names:
        raise UsageError("Name servers to connect, or pass --all.")
    chosen = managed_servers(paths, names, socket=socket)
    open_before = [s.workload_name for s in chosen if load(credentials_file(paths, s.workload_name)) is None]
    backup = connect(paths, target, chosen, replace=replace_foreign, force=force,
                     mint=_minter(paths, target.client.id))
    return ClientsResult(target.client.id, target.client.name, target.path, tuple(s.name for s in chosen), backup,
                         target.client.credential, tuple(open_before))


@dataclass(frozen=True)
class DisconnectResult(Completed):
    """`client disconnect`: the entries taken out, and the workloads whose credential for the client went with them."""

    client_id: str
    path: Path
    removed: tuple[str, ...]
    revoked: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client_id, "path": str(self.path), "removed": list(self.removed),
                "revoked": list(self.revoked)}


def disconnect_clients(paths: Paths, target: Target, names: Sequence[str] | None, *,
                       force: bool = False) -> DisconnectResult:
    """Take mcpctl's entries out of one client's config (all, or ``names``) and revoke the client's credential for
    each of their workloads, so a copy of the token (a backup, a synced dotfile) opens nothing any more."""
    from toolhive_py.clients.api import disconnect, ledger_records
    from toolhive_py.credentials import revoke

    written = {r.name: _written_workload(r.entry, {}) or r.name for r in ledger_records(paths)
               if r.client == target.client.id and r.path == str(target.path)}
    removed = disconnect(paths, target, names, force=force)
    revoked = []
    for name in removed:
        try:
            if target.client.id in revoke(paths, written[name], target.client.id):
                revoked.append(written[name])
        except UsageError:  # an entry name that names no workload (scan --fix keeps the user's own name)
            continue
    return DisconnectResult(target.client.id, target.path, tuple(removed), tuple(revoked))


def _minter(paths: Paths, client_id: str) -> Callable[[ManagedServer], str]:
    """Mints (rotates) the client's credential for a server's workload, when `clients.api.connect` asks."""
    from toolhive_py.credentials import mint

    return lambda server: mint(paths, server.workload_name, client_id)


def client_token(paths: Paths, client_id: str, workload: str) -> str:
    """The client's stored credential for a workload (`mcpctl client token`, Claude Code's headersHelper)."""
    from toolhive_py.clients.catalog import get_client
    from toolhive_py.credentials import token

    client = get_client(client_id).id
    value = token(paths, workload, client)
    if value is None:
        raise NotFoundError(f"{client} has no credential for {workload}.",
                            hint=f"Connect it: mcpctl client connect {client} {workload}", code="no-credential")
    return value


def mcpctl_token(paths: Paths, workload: str) -> str | None:
    """mcpctl's own credential for a workload's proxy (`mcpctl tools`, scan --fix's check), minted on first use.
    None for a workload in migration mode (no credentials file): minting would end that mode for its clients."""
    from toolhive_py.credentials import MCPCTL_CLIENT, credentials_file, load, mint, token

    if load(credentials_file(paths, workload)) is None:
        return None
    return token(paths, workload, MCPCTL_CLIENT) or mint(paths, workload, MCPCTL_CLIENT)


def _credential_workloads(paths: Paths) -> list[str]:
    from toolhive_py.credentials import credentials_file

    directory = credentials_file(paths, "x").parent
    return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []


def revoke_clients(paths: Paths, client_id: str, workload: str | None = None) -> RevokeResult:
    """Invalidate the client's credential for ``workload`` (every workload when None). The proxy re-reads its
    credentials file, so the next request with the old token gets 401; the client's entry stays as it is."""
    from toolhive_py.clients.catalog import get_client
    from toolhive_py.credentials import revoke

    client = get_client(client_id).id
    revoked = [name for name in ([workload] if workload else _credential_workloads(paths))
               if client in revoke(paths, name, client)]
    if workload and not revoked:
        raise NotFoundError(f"{client} has no credential for {workload}.",
                            hint=f"`mcpctl client status {client}` shows what it is connected to.",
                            code="no-credential")
    return RevokeResult(client, tuple(revoked))


def upgrade_clients(paths: Paths, *, socket: str | None = None) -> UpgradeResult:
    """The migration to credentials: every entry mcpctl wrote is rewritten with one (each client's is rotated),
    and every workload of this user leaves migration mode (its credentials file is created), so from now on its
    proxy lets in only clients with a credential. An entry the user edited since is theirs and is left."""
    from toolhive_py.clients.api import ManagedServer, Target, connect, ledger_records
    from toolhive_py.clients.api import status as client_status
    from toolhive_py.clients.catalog import get_client
    from toolhive_py.credentials import credentials_file, ensure_file, load
    from toolhive_py.proxy.supervisor import proxy_dir

    # This home's workloads only: another MCPCTL_HOME of this user keeps its own credentials.
    servers = {s.name: s for s in managed_servers(paths, None, socket=socket) if proxy_dir(paths, s.name).exists()}
    by_url = {s.url: s.name for s in servers.values()}
    groups: dict[tuple[str, str, str], list[str]] = {}
    for record in ledger_records(paths):
        groups.setdefault((record.client, record.scope, record.path), []).append(record.name)
    records = {(r.client, r.path, r.name): r for r in ledger_records(paths)}
    rewritten: list[ClientsResult] = []
    failures: list[Failure] = []
    for (client_id, scope, path), names in groups.items():
        try:
            client = get_client(client_id)
            location = client.location(scope) or client.locations[0]  # type: ignore[arg-type]
            target = Target(client, location, Path(path))
            ours = {s["name"] for s in client_status(paths, target)["servers"] if s["managed"]}
            chosen = []
            for name in names:
                workload = _written_workload(records[(client_id, path, name)].entry, by_url)
                if name not in ours or workload is None or workload not in servers:
                    why = "it was edited since mcpctl wrote it" if name not in ours else "its workload is gone"
                    failures.append(Failure(f"{client_id}:{name}", NotFoundError(
                        f"The {name!r} entry in {path} was not upgraded: {why}.",
                        hint=f"Connect it again: mcpctl client connect {client_id} NAME", code="not-upgraded")))
                    continue
                chosen.append(ManagedServer(name, servers[workload].url, "" if workload == name else workload))
            if chosen:
                backup = connect(paths, target, chosen, mint=_minter(paths, client.id))
                rewritten.append(ClientsResult(client.id, client.name, target.path, tuple(s.name for s in chosen),
                                               backup, client.credential if client.supports_remote
                                               else "stdio-bridge"))
        except MCPCTLError as error:
            failures.append(Failure(f"{client_id}:{path}", error))
    secured = []
    for name in servers:
        if load(credentials_file(paths, name)) is None:
            ensure_file(paths, name)
            secured.append(name)
    restarted = _restart_unchecked_proxies(paths, list(servers), socket=socket, failures=failures)
    return UpgradeResult(tuple(rewritten), tuple(secured), tuple(failures), tuple(restarted))


def _checks_credentials(argv: Sequence[str]) -> bool:
    """Whether a proxy started with this command line checks credentials (one from before them does not)."""
    return "--credentials" in argv


def _restart_unchecked_proxies(paths: Paths, names: Sequence[str], *, socket: str | None,
                               failures: list[Failure]) -> list[str]:
    """Restart the running proxies of ``names`` that were started without ``--credentials`` (by an mcpctl from
    before credentials): a proxy given the file's path picks up its creation by itself, one without never does.
    Their open sessions end; clients reconnect."""
    from toolhive_py.proxy.supervisor import running_proxy, stop_proxy
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import get_workload

    stale = []
    for name in names:
        state = running_proxy(paths, name)
        if state is None:
            continue
        try:
            argv = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            argv = []  # no /proc (not Linux): restarting is the safe reading
        if not _checks_credentials([a.decode(errors="replace") for a in argv]):
            stale.append(name)
    if not stale:
        return []
    restarted = []
    with open_engine(paths, socket) as engine:
        for name in stale:
            try:
                stop_proxy(paths, name)
                ensure_proxy(paths, engine, get_workload(engine, name))
            except MCPCTLError as error:
                failures.append(Failure(name, error))
                continue
            restarted.append(name)
    return restarted


def _written_workload(entry: Mapping[str, Any], by_url: Mapping[str, str]) -> str | None:
    """The workload an entry mcpctl wrote points at: by its proxy URL, or the NAME of its `mcpctl connect NAME`."""
    from toolhive_py.clients.catalog import URL_KEYS

    for key in URL_KEYS:
        if isinstance(entry.get(key), str):
            return by_url.get(entry[key])
    command = entry.get("command") or entry.get("cmd")
    args = [str(a) for a in (command[1:] if isinstance(command, list) else entry.get("args") or [])]
    if "connect" in args and args.index("connect") + 1 < len(args):
        return args[args.index("connect") + 1]
    return None


def proxy_url(paths: Paths, name: str, *, socket: str | None = None) -> str:
    """Where `mcpctl connect NAME` sends its requests: the running proxy, restarted first when it is down."""
    from toolhive_py.proxy.supervisor import running_proxy
    from toolhive_py.remote.records import read_record
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import get_workload

    state = running_proxy(paths, name)
    if state is not None:
        return state.url
    record = read_record(paths, name)
    if record is not None:
        return _ensure_remote_proxy(paths, record).url
    with open_engine(paths, socket) as engine:
        workload = get_workload(engine, name)
        if ensure_proxy(paths, engine, workload) is None or workload.url is None:
            raise MCPCTLError(f"Workload {name} has no proxy.", hint=f"Recreate it: mcpctl rm {name} && mcpctl run …",
                              code="no-proxy")
        return workload.url


@dataclass(frozen=True)
class BridgeEndpoint:
    """Where `mcpctl connect NAME` relays to, and the credential it sends (None: none, migration mode only)."""

    url: str
    token: str | None


def bridge_endpoint(paths: Paths, name: str, *, client: str | None, socket: str | None = None) -> BridgeEndpoint:
    """`mcpctl connect NAME [--client ID]`: the proxy (started again when down) and the client's credential from
    the secret backend, so the stdio client's config holds no token."""
    token = client_token(paths, client, name) if client else None
    return BridgeEndpoint(proxy_url(paths, name, socket=socket), token)


def logs(paths: Paths, name: str, *, follow: bool = False, tail: int | None = None,
         socket: str | None = None) -> Iterator[bytes]:
    """The server's log (stderr; stdout too for HTTP servers), the last ``tail`` lines or all of it. A remote
    server's log is not ours to see: for a remote workload, its proxy's log (which says what the remote answered)."""
    from toolhive_py.remote.records import read_record
    from toolhive_py.runtime.engine import open_engine
    from toolhive_py.runtime.workloads import workload_logs

    if read_record(paths, name) is not None:
        lines = list(proxy_log_lines(paths, name)) if not follow else None
        if lines is not None:
            shown = lines if tail is None else lines[max(0, len(lines) - tail):]
            yield from (line.encode() for line in shown)
        else:
            yield from (line.encode() for line in proxy_log_lines(paths, name, follow=True))
        return

    with open_engine(paths, socket) as engine:
        yield from workload_logs(engine, name, follow=follow, tail=tail)


def _follow_lines(path: Path, *, follow: bool, poll: float = 0.2) -> Iterator[str]:
    """The file's lines, then (with ``follow``) new ones as they are appended, like ``tail -f``."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        while True:
            line = handle.readline()
            if line:
                yield line
            elif not follow:
                return
            else:
                time.sleep(poll)


def proxy_log_lines(paths: Paths, name: str, *, follow: bool = False) -> Iterator[str]:
    from toolhive_py.proxy.supervisor import proxy_log_path

    path = proxy_log_path(paths, name)
    if not path.exists():
        raise NotFoundError(f"No proxy log for {name}.", hint="Is it a workload started with `mcpctl run`?")
    return _follow_lines(path, follow=follow)


def audit_lines(paths: Paths, name: str, *, follow: bool = False) -> Iterator[str]:
    """The proxy's audit log, one JSON record per line."""
    from toolhive_py.proxy.supervisor import audit_path

    path = audit_path(paths, name)
    if not path.exists():
        raise NotFoundError(f"No audit log for {name}.", hint="It appears once a client sends a request "
                            "through the workload's proxy.", path=str(path))
    return _follow_lines(path, follow=follow)


def audit_records(paths: Paths, name: str) -> list[dict[str, Any]]:
    """Every audit record so far, parsed."""
    return [json.loads(line) for line in audit_lines(paths, name) if line.strip()]

