"""`mcpctl doctor`: every precondition of a working setup, each with the fix when it fails.

Checks never change anything. Each returns plain `Check` records so the CLI can print a table or JSON.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from toolhive_py.errors import MCPCTLError

if TYPE_CHECKING:
    from toolhive_py.config import Paths
    from toolhive_py.runtime.engine import Engine

__all__ = ["Check", "Status", "check_client_credentials", "check_clients", "check_credentials", "check_egress",
           "check_engine", "check_proxies", "check_registries", "check_secrets", "run_checks"]

Status = Literal["ok", "warn", "fail"]
_EXPIRY_WARNING_DAYS = 7


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _failure(area: str, name: str, error: MCPCTLError) -> Check:
    return Check(area, name, "fail", error.message, error.hint)


def check_engine(paths: Paths, socket_flag: str | None) -> tuple[list[Check], Engine | None]:
    from toolhive_py.runtime.engine import open_engine

    try:
        engine = open_engine(paths, socket_flag)
    except MCPCTLError as error:
        return [_failure("engine", "container engine", error)], None
    info = engine.describe()
    mode = "rootless" if info["rootless"] else "rootful"
    return [
        Check("engine", "container engine", "ok", f"{engine.kind} {engine.version}"),
        Check("engine", "socket", "ok", f"{engine.url} (from {engine.source})"),
        Check("engine", "mode", "ok", mode),
    ], engine


def check_secrets(paths: Paths) -> list[Check]:
    from toolhive_py.secrets.resolve import open_provider

    try:
        provider = open_provider(paths)
        names = provider.list_names() if provider.capabilities.can_list else []
    except MCPCTLError as error:
        return [_failure("secrets", "secret backend", error)]
    return [Check("secrets", "secret backend", "ok", f"{provider.name} answers ({len(names)} secrets)")]


def check_registries(paths: Paths, now: datetime | None = None) -> list[Check]:
    from toolhive_py.registry import RegistryStore

    checks = []
    today = now or datetime.now(UTC)
    for result in RegistryStore(paths).verify():
        name = f"registry {result.name}"
        if not result.ok:
            error = result.error or {}
            checks.append(Check("registry", name, "fail", str(error.get("message", "verification failed")),
                                error.get("hint") or f"mcpctl registry update {result.name}"))
            continue
        detail = f"signature ok, version {result.version}, {result.servers} servers"
        if result.expires:
            expires = datetime.fromisoformat(result.expires.replace("Z", "+00:00"))
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            days = (expires - today).days
            if days < _EXPIRY_WARNING_DAYS:
                checks.append(Check("registry", name, "warn", f"{detail}; expires in {days} days",
                                    f"mcpctl registry update {result.name}"))
                continue
            detail += f", fresh for {days} more days"
        checks.append(Check("registry", name, "ok", detail))
    return checks


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_proxies(paths: Paths, engine: Engine) -> list[Check]:
    import httpx

    from toolhive_py.proxy.supervisor import proxy_dir, read_state, running_proxy
    from toolhive_py.runtime.workloads import list_workloads

    checks = []
    try:
        workloads = list_workloads(engine, include_stopped=True)
    except MCPCTLError as error:
        return [_failure("proxies", "workloads", error)]
    for workload in workloads:
        name = f"proxy {workload.name}"
        if not proxy_dir(paths, workload.name).exists():
            checks.append(Check("proxies", name, "warn", "started from another mcpctl home (another user or "
                                "MCPCTL_HOME)", "run mcpctl as the user that started it"))
            continue
        if workload.proxy_port is None:
            checks.append(Check("proxies", name, "warn", "created without a proxy",
                                f"mcpctl rm {workload.name}, then mcpctl run it again"))
            continue
        if workload.status != "running":
            if read_state(paths, workload.name) is None:
                checks.append(Check("proxies", name, "ok", f"stopped ({workload.status})"))
            else:
                checks.append(Check("proxies", name, "fail", f"the server stopped unexpectedly ({workload.status})",
                                    f"mcpctl start {workload.name}"))
            continue
        if running_proxy(paths, workload.name) is None:
            if _port_taken(workload.proxy_port):
                checks.append(Check("proxies", name, "fail", f"not running, and port {workload.proxy_port} is "
                                    "taken by another program",
                                    f"free port {workload.proxy_port} (`ss -ltnp 'sport = :{workload.proxy_port}'`),"
                                    f" then mcpctl start {workload.name}"))
            else:
                checks.append(Check("proxies", name, "fail", "not running", f"mcpctl start {workload.name}"))
            continue
        try:
            ready = httpx.get(f"http://127.0.0.1:{workload.proxy_port}/health/ready", timeout=5)
        except httpx.HTTPError as exc:
            checks.append(Check("proxies", name, "fail", f"does not answer: {exc}", f"mcpctl restart {workload.name}"))
            continue
        if ready.status_code == 200:
            checks.append(Check("proxies", name, "ok", f"ready on {workload.url}"))
        else:
            reason = ready.json().get("error") if ready.headers.get("content-type", "").startswith("application/json") \
                else ready.text
            checks.append(Check("proxies", name, "fail", f"not ready: {reason}",
                                f"mcpctl logs {workload.name}; mcpctl restart {workload.name}"))
    if not workloads:
        checks.append(Check("proxies", "workloads", "ok", "none"))
    return checks


def check_egress(engine: Engine) -> list[Check]:
    """Each running workload's egress filter runs: without it the workload silently has no way out at all."""
    from toolhive_py.runtime.egress import sidecar_state
    from toolhive_py.runtime.labels import egress_filter_name
    from toolhive_py.runtime.workloads import list_workloads

    checks = []
    try:
        for workload in list_workloads(engine):
            state = sidecar_state(engine, workload.name)
            if state is None:
                continue
            name = f"egress filter {workload.name}"
            if state == "running":
                checks.append(Check("egress", name, "ok", "running"))
            else:
                checks.append(Check("egress", name, "fail", f"the egress filter is {state}: {workload.name} reaches "
                                    "none of its allowed hosts",
                                    f"`{engine.kind} logs {egress_filter_name(workload.name)}` says why; then "
                                    f"mcpctl stop {workload.name} && mcpctl start {workload.name}"))
    except MCPCTLError as error:
        return [_failure("egress", "egress filters", error)]
    return checks


def check_clients(paths: Paths) -> list[Check]:
    """Each installed client's MCP config parses (a broken one silently loses every server in it)."""
    from toolhive_py.clients.api import detect

    checks = []
    for found in detect(paths):
        if not found.exists:
            continue
        name = f"client {found.client.id}"
        if found.error:
            checks.append(Check("clients", name, "fail", found.error,
                                f"fix {found.path}, or `mcpctl client restore {found.client.id}` if mcpctl changed it"))
        else:
            managed = f", {len(found.managed)} managed by mcpctl" if found.managed else ""
            checks.append(Check("clients", name, "ok", f"{found.path}: {len(found.servers)} servers{managed}"))
    return checks


def check_client_credentials(paths: Paths) -> list[Check]:
    """Entries mcpctl wrote without a proxy credential: they work only while their workload's proxy is in
    migration mode, and stop at `mcpctl client upgrade` (which rewrites them with one)."""
    from toolhive_py.clients.api import has_credential, ledger_records
    from toolhive_py.clients.catalog import get_client
    from toolhive_py.errors import NotFoundError

    checks = []
    for record in ledger_records(paths):
        try:
            client = get_client(record.client)
        except NotFoundError:
            continue
        if not has_credential(client, record.entry):
            checks.append(Check("credentials", f"client {client.id} {record.name}", "warn",
                                f"the entry in {record.path} has no proxy credential: it works only while the "
                                "workload's proxy runs in migration mode",
                                f"mcpctl client upgrade (or mcpctl client connect {client.id} {record.name})"))
    return checks


def check_credentials(paths: Paths, engine: Engine) -> list[Check]:
    """Workloads in migration mode: started before credentials, their proxy lets any local caller in."""
    from toolhive_py.credentials import credentials_file, load
    from toolhive_py.proxy.supervisor import proxy_dir
    from toolhive_py.runtime.workloads import is_mine, list_workloads

    checks = []
    try:
        # Another mcpctl home's workloads (another MCPCTL_HOME of this user) keep their credentials there.
        workloads = [w for w in list_workloads(engine, include_stopped=True)
                     if is_mine(w) and w.proxy_port and proxy_dir(paths, w.name).exists()]
    except MCPCTLError as error:
        return [_failure("credentials", "workloads", error)]
    for workload in workloads:
        name = f"credentials {workload.name}"
        try:
            table = load(credentials_file(paths, workload.name))
        except MCPCTLError as error:
            checks.append(_failure("credentials", name, error))
            continue
        if table is None:
            checks.append(Check("credentials", name, "warn", "migration mode: its proxy lets in callers without a "
                                "credential", "mcpctl client upgrade"))
        else:
            clients = ", ".join(sorted(table.hashes)) or "none yet"
            checks.append(Check("credentials", name, "ok", f"clients with a credential: {clients}"))
    return checks


def run_checks(paths: Paths, *, socket_flag: str | None = None,
               extra: Iterable[Callable[[Paths], list[Check]]] = ()) -> list[Check]:
    """All checks, in the order a user would fix things: engine, secrets, registries, workloads, extras."""
    engine_checks, engine = check_engine(paths, socket_flag)
    checks = [*engine_checks, *check_secrets(paths), *check_registries(paths)]
    if engine is not None:
        try:
            checks += check_proxies(paths, engine)
            checks += check_credentials(paths, engine)
            checks += check_egress(engine)
        finally:
            engine.close()
    checks += check_clients(paths)
    checks += check_client_credentials(paths)
    for check in extra:
        checks += check(paths)
    return checks
