"""Running processes whose command lines look like MCP servers, attributed to the client that started
them when a parent process tells, and placed in the container they run in. Reads the process table and each
candidate's /proc/PID/cgroup only."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

__all__ = ["RunningServer", "client_for", "container_id_from_cgroup", "container_id_from_runtime", "display_name",
           "find_processes", "is_in_containers", "looks_like_mcp_server"]

_MCP_COMMAND = re.compile(
    r"(?:^|[\s/\\])(?:npx|bunx|pnpx|uvx|pipx)(?:\.cmd|\.exe)?\s.*(?:mcp|@modelcontextprotocol/)"
    r"|@modelcontextprotocol/server-|mcp[-_]server|server-mcp"
    r"|(?:docker|podman)\s+run\s.*\bmcp[/-]", re.I)
# Executable names (lower case, no .exe, no " helper …" suffix) → client id. Matched whole, never as
# substrings: "code" inside "unicode" or "amp" inside "example" must not attribute a process to a client.
# Cline, Roo Code and Continue run inside VS Code's extension host, so their servers show up as vscode.
_CLIENT_EXECUTABLES: Final = {
    "claude": "claude-code", "cursor": "cursor", "code": "vscode", "code-oss": "vscode",
    "code - insiders": "vscode-insiders", "code-insiders": "vscode-insiders",
    "windsurf": "windsurf", "zed": "zed", "zed-editor": "zed", "goose": "goose", "goosed": "goose",
    "gemini": "gemini", "codex": "codex", "lm studio": "lmstudio", "lm-studio": "lmstudio", "lmstudio": "lmstudio",
    "opencode": "opencode", "kiro": "kiro", "amp": "amp",
}
# Clients that run as `node …/package/…`: the package path names them.
_CLIENT_PACKAGES: Final = (("@anthropic-ai/claude-code", "claude-code"), ("@google/gemini-cli", "gemini"),
                           ("@sourcegraph/amp", "amp"), ("@openai/codex", "codex"), ("opencode-ai", "opencode"))
# Claude Desktop's executable is also called claude; its install directory tells it from Claude Code's CLI.
_DESKTOP_BUNDLES: Final = ("/claude.app/", "/anthropicclaude/")


@dataclass(frozen=True)
class RunningServer:
    pid: int
    command: str
    args: list[str]
    client: str | None
    container_id: str | None = None  # the container the process runs in, when it runs in one


_CONTAINER_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)")


def container_id_from_cgroup(text: str) -> str | None:
    """The container a process runs in, from its /proc/PID/cgroup: Docker's ``/docker/ID`` or
    ``docker-ID.scope``, Podman's ``libpod-ID`` (``.scope``), CRI-O and containerd alike."""
    for line in text.splitlines():
        found = _CONTAINER_ID.findall(line.partition(":")[2].partition(":")[2])
        if found:
            return str(found[-1])
    return None


def container_id_from_runtime(argv: Sequence[str]) -> str | None:
    """The container a runtime monitor watches: Podman's ``conmon -c ID``, Docker's
    ``containerd-shim-runc-v2 -id ID``; None for any other process."""
    program = _executable_name(argv[0]) if argv else ""
    flags = ("-c", "--cid") if program == "conmon" else ("-id", "--id") if program.startswith("containerd-shim") \
        else ()
    for index, arg in enumerate(argv[1:-1], start=1):
        if arg in flags and re.fullmatch(r"[0-9a-f]{12,64}", argv[index + 1]):
            return argv[index + 1]
    return None


def is_in_containers(container_id: str | None, known: Collection[str]) -> bool:
    """True when a process's container is one of ``known`` (full or short ids, either way round)."""
    if not container_id:
        return False
    return any(container_id.startswith(other) or other.startswith(container_id) for other in known if len(other) >= 12)


def looks_like_mcp_server(argv: list[str]) -> bool:
    """True for command lines shaped like an MCP server; mcpctl's own bridges and proxies are not."""
    if any(_executable_name(arg) in ("mcpctl", "mcpctl-script.py") for arg in argv[:2]) or any(
            arg.startswith("toolhive_py") for arg in argv[:4]):
        return False
    return bool(_MCP_COMMAND.search(" ".join(argv)))


_LAUNCHERS = ("npx", "bunx", "pnpx", "uvx", "pipx", "docker", "podman")


def _launcher(argv: list[str]) -> tuple[str, list[str]]:
    """Start at the launcher: `node /usr/bin/npx -y pkg` and `python /opt/x/uvx pkg` are npx and uvx."""
    for index, arg in enumerate(argv):
        if _executable_name(arg) in _LAUNCHERS:
            return arg, list(argv[index + 1:])
    return argv[0], list(argv[1:])


_SAFE_OPERAND = re.compile(r"^[\w@.:/\\-]+$")


def display_name(command: str, args: Sequence[str], package: str | None) -> str:
    """A process's name in a report: launcher and package, or program and script/module.

    Never the rest of the command line: it can hold the very secrets the report redacts.
    """
    program = _executable_name(command)
    if package:
        return f"{program} {package}"
    if args[:1] == ["-m"] and len(args) > 1 and _SAFE_OPERAND.match(args[1]):
        return f"{program} -m {args[1]}"
    operand = next((a for a in args if not a.startswith("-")), "")
    if _SAFE_OPERAND.match(operand) and re.search(r"[\\/]", operand):
        return f"{program} …/" + "/".join(re.split(r"[\\/]", operand)[-2:])
    return program


def _executable_name(path: str) -> str:
    name = re.split(r"[\\/]", path)[-1].lower().removesuffix(".exe").removesuffix(".cmd")
    return re.sub(r" helper( \(.*\))?$", "", name)


def client_for(name: str, cmdline: Sequence[str]) -> str | None:
    """The client a process belongs to, from its name and command line; None when it is no known client."""
    joined = " ".join(cmdline[:3]).lower().replace("\\", "/")
    if any(bundle in joined for bundle in _DESKTOP_BUNDLES):
        return "claude-desktop"
    for package, client in _CLIENT_PACKAGES:
        if package in joined:
            return client
    for candidate in (name, *cmdline[:2]):
        found = _CLIENT_EXECUTABLES.get(_executable_name(candidate))
        if found is not None:
            return found
    return None


def _client_of(process: psutil.Process) -> str | None:
    try:
        parents = process.parents()[:6]
    except psutil.Error:
        return None
    for parent in parents:
        try:
            client = client_for(parent.name(), parent.cmdline())
        except psutil.Error:
            continue
        if client is not None:
            return client
    return None


def find_processes() -> list[RunningServer]:
    """MCP server processes, one per server: a launcher's descendants (`npx` → `sh` → `node …/index.js`)
    fold into the launcher, so one configured server is one finding."""
    parents: dict[int, int] = {}
    argvs: dict[int, list[str]] = {}
    candidates: dict[int, tuple[psutil.Process, list[str]]] = {}
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        try:
            argv = process.info["cmdline"] or []
            parents[process.pid] = process.info["ppid"]
        except psutil.Error:
            continue
        argvs[process.pid] = argv
        if process.pid != os.getpid() and argv and looks_like_mcp_server(argv):
            candidates[process.pid] = (process, argv)
    found = []
    for pid, (process, argv) in candidates.items():
        if _has_ancestor_in(pid, parents, candidates):
            continue
        command, args = _launcher(argv)
        found.append(RunningServer(pid, command, args, _client_of(process), _container_of(pid, parents, argvs)))
    return found


def _container_of(pid: int, parents: Mapping[int, int], argvs: Mapping[int, list[str]], depth: int = 8) -> str | None:
    """The container ``pid`` runs in: its cgroup says, else an ancestor is that container's conmon or shim
    (the cgroup can be hidden by a cgroup namespace, or unreadable for another user's process)."""
    try:
        found = container_id_from_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        found = None
    ancestor: int | None = pid
    for _ in range(depth):
        if found is not None or ancestor is None or ancestor <= 1:
            break
        ancestor = parents.get(ancestor)
        found = container_id_from_runtime(argvs.get(ancestor or 0, []))
    return found


def _has_ancestor_in(pid: int, parents: dict[int, int], candidates: Mapping[int, object], depth: int = 4) -> bool:
    ancestor = parents.get(pid)
    for _ in range(depth):
        if ancestor is None or ancestor <= 1:
            return False
        if ancestor in candidates:
            return True
        ancestor = parents.get(ancestor)
    return False
