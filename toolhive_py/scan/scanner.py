"""Run a scan: configs, processes and containers → findings with identity, secrets and risk."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from toolhive_py.config import Paths
from toolhive_py.errors import MCPCTLError, UsageError
from toolhive_py.scan.analyze import Context, analyze_command, analyze_entry, command_line
from toolhive_py.scan.discovery import discover
from toolhive_py.scan.identify import from_image, program_name
from toolhive_py.scan.model import Reason, ScanError, ScanReport, ServerFinding
from toolhive_py.scan.risk import finalize

if TYPE_CHECKING:
    from toolhive_py.runtime.engine import Engine

__all__ = ["ScanOptions", "build_context", "run_scan"]


@dataclass(frozen=True)
class ScanOptions:
    home: Path
    project_dirs: Sequence[Path] = ()
    processes: bool = True
    containers: bool = True
    runtime_socket: str | None = None
    managed_root: Path | None = Path("/")  # where system-wide (managed) configs live; None skips them


def build_context(paths: Paths) -> Context:
    """Registry entries by what runs them, and the URLs of mcpctl's own servers (its proxies, and every URL
    it wrote into a client config), asked of their owners."""
    from toolhive_py.clients.api import written_urls
    from toolhive_py.packages import parse_package
    from toolhive_py.proxy.supervisor import recorded_proxies

    registry: dict[tuple[str, str], str] = {}
    try:
        from toolhive_py.registry import RegistryStore

        for found in RegistryStore(paths).all_servers():
            if not found.verified:
                continue
            entry = found.entry
            if entry.image:
                registry.setdefault(("image", str(from_image(entry.image).package)), found.qualified_name)
            if entry.package:
                with contextlib.suppress(UsageError):  # an unpinned source matches nothing; the rest still do
                    package = parse_package(entry.package)
                    registry.setdefault((package.ecosystem, package.name), found.qualified_name)
    except MCPCTLError:
        pass
    urls = {state.url for state in recorded_proxies(paths)} | written_urls(paths)
    return Context(registry=registry, managed_urls=frozenset(urls))


@dataclass
class _Configured:
    findings: list[ServerFinding]
    errors: list[ScanError]
    command_lines: set[tuple[str, tuple[str, ...]]]  # what a process started from one of these entries shows


def _configured(options: ScanOptions, context: Context, home: str) -> _Configured:
    servers, errors = discover(options.home, options.project_dirs, managed_root=options.managed_root)
    result = _Configured([], errors, set())
    for server in servers:
        finding = ServerFinding("config", server.name, client=server.client.id, scope=server.scope,
                                config_path=str(server.path), line=server.line)
        if isinstance(server.entry, dict):
            for problem in analyze_entry(finding, server.entry, context, base_dir=server.path.parent, home=home):
                result.errors.append(ScanError(problem.split(": ")[0], problem))
            line = command_line(server.entry)
            if line is not None:
                result.command_lines.add(line)
        else:
            result.errors.append(ScanError(str(server.path), f"server {server.name!r} is not an object"))
        result.findings.append(finding)
    return result


def _running_processes(context: Context, configured: _Configured, home: str,
                       containers: Collection[str] = ()) -> list[ServerFinding]:
    """Processes, each checked against the configs: by package (npx/uvx/docker) or by exact command line.

    A process inside one of ``containers`` (ids of the containers the scan lists, mcpctl's own among
    them) is that container's server, already a finding of its own: it is not listed again.
    """
    from toolhive_py.scan.processes import display_name, find_processes, is_in_containers

    packages = {(f.kind, f.package) for f in configured.findings if f.package}
    findings = []
    for process in find_processes():
        if is_in_containers(process.container_id, containers):
            continue
        finding = ServerFinding("process", Path(process.command).name, client=process.client, pid=process.pid)
        analyze_command(finding, process.command, process.args, context, home)
        finding.name = display_name(process.command, process.args, finding.package)
        line = (program_name(process.command), tuple(process.args))
        if (finding.kind, finding.package) not in packages and line not in configured.command_lines:
            finding.reasons.append(Reason("unconfigured-process", "medium",
                                          "running, but configured in no client config found"))
        findings.append(finding)
    return findings


def _engine_urls(paths: Paths, socket_flag: str | None) -> list[str]:
    """Every engine to inventory: the one named (flag, setting runtime.socket, MCPCTL_RUNTIME_SOCKET,
    DOCKER_HOST), else every usual socket that exists. Unlike `mcpctl run`, which needs one engine, an
    inventory wants Docker *and* Podman."""
    from toolhive_py.runtime.engine import candidate_sockets, configured_socket

    candidates = candidate_sockets(flag=socket_flag, setting=configured_socket(paths), environ=os.environ)
    return [c.url for c in candidates
            if c.explicit or not c.url.startswith("unix://") or Path(c.url.removeprefix("unix://")).exists()]


def _container_findings(engine: Engine, context: Context) -> list[ServerFinding]:
    from toolhive_py.scan.analyze import add_secret, args_secrets
    from toolhive_py.scan.containers import find_containers

    findings = []
    for container in find_containers(engine.client):
        finding = ServerFinding("container", container.name, container=container.name,
                                scope=f"{engine.kind} {engine.url}", container_id=container.id)
        identity = from_image(container.image)
        finding.kind, finding.package, finding.version = identity.kind, identity.package, identity.version
        finding.pinned, finding.target = identity.pinned, identity.target
        if container.managed:
            finding.status = "managed"
        else:
            if (identity.kind, identity.package) in context.registry:
                finding.status = "vetted"
                finding.registry_match = context.registry[(identity.kind, str(identity.package))]
            for name, value in container.env.items():
                add_secret(finding.secrets, value, name, f"env:{name}")
            finding.secrets.extend(args_secrets(container.args))
        findings.append(finding)
    return findings


def _one_engine(url: str, named: bool, context: Context) -> tuple[list[ServerFinding], list[ScanError]]:
    from toolhive_py.runtime.engine import connect

    try:
        engine = connect(flag=url)
    except MCPCTLError as error:
        # An absent engine is not an error in an inventory; one the user named is.
        return [], [ScanError(url, error.message)] if named else []
    try:
        return _container_findings(engine, context), []
    except Exception as exc:  # noqa: BLE001 - an engine hiccup must not lose the other findings
        return [], [ScanError(engine.url, f"listing containers failed: {exc}")]
    finally:
        engine.close()


def _running_containers(paths: Paths, options: ScanOptions,
                        context: Context) -> tuple[list[ServerFinding], list[ScanError]]:
    """Engines are asked in parallel: each connect costs round trips (Podman's take ~0.2 s here)."""
    from concurrent.futures import ThreadPoolExecutor

    urls = _engine_urls(paths, options.runtime_socket)
    findings: list[ServerFinding] = []
    errors: list[ScanError] = []
    if not urls:
        return findings, errors
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        for found, failed in pool.map(lambda url: _one_engine(url, bool(options.runtime_socket), context), urls):
            findings += found
            errors += failed
    return findings, errors


def run_scan(paths: Paths, options: ScanOptions) -> ScanReport:
    """Scan what ``options`` name; a home that is not a directory is an error, not an empty (clean) report."""
    if not options.home.is_dir():
        raise UsageError(f"{options.home} is not a directory: there is no home to scan.",
                         hint="Pass --home the home directory to scan (e.g. a mounted disk's /home/NAME or "
                              "/Users/NAME).", path=str(options.home))
    context = build_context(paths)
    home = str(options.home)
    configured = _configured(options, context, home)
    findings, errors = configured.findings, configured.errors
    containers: list[ServerFinding] = []
    if options.containers:  # first: the processes inside the containers it lists are those containers
        containers, container_errors = _running_containers(paths, options, context)
        errors += container_errors
    if options.processes:
        findings += _running_processes(context, configured, home,
                                       frozenset(f.container_id for f in containers if f.container_id))
    findings += containers
    from toolhive_py.scan.tools import with_tool_reasons

    stopped, tool_errors = with_tool_reasons(paths, findings)  # managed workloads' pinned tools, screened
    findings += stopped
    errors += tool_errors
    for finding in findings:
        finalize(finding)
    findings.sort(key=lambda f: (f.client or "~", f.config_path or "", f.name))
    return ScanReport(datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"), socket.gethostname(),
                      home, findings, errors)
