"""Running processes whose command lines look like MCP servers, attributed to the client that started
them when a parent process tells. Reads the process table only."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import psutil

__all__ = ["RunningServer", "find_processes", "looks_like_mcp_server"]

_MCP_COMMAND = re.compile(
    r"(?:^|[\s/\\])(?:npx|bunx|pnpx|uvx|pipx)(?:\.cmd|\.exe)?\s.*(?:mcp|@modelcontextprotocol/)"
    r"|@modelcontextprotocol/server-|mcp-server[-\w]*|server-mcp|[\\/]mcp[-_]server"
    r"|(?:docker|podman)\s+run\s.*\bmcp[/-]", re.I)
# parent process name (lower-case substring) → client id; first match wins, most specific first
_CLIENT_PROCESSES = (("code - insiders", "vscode-insiders"), ("code-insiders", "vscode-insiders"),
                     ("cursor", "cursor"), ("windsurf", "windsurf"), ("claude-code", "claude-code"),
                     ("claude", "claude-desktop"), ("zed", "zed"), ("goose", "goose"), ("gemini", "gemini"),
                     ("codex", "codex"), ("lm studio", "lmstudio"), ("lmstudio", "lmstudio"),
                     ("opencode", "opencode"), ("kiro", "kiro"), ("amp", "amp"), ("code", "vscode"))


@dataclass(frozen=True)
class RunningServer:
    pid: int
    command: str
    args: list[str]
    client: str | None


def looks_like_mcp_server(argv: list[str]) -> bool:
    line = " ".join(argv)
    return bool(_MCP_COMMAND.search(line)) and "toolhive_py.proxy" not in line and "mcpctl" not in line


_LAUNCHERS = ("npx", "bunx", "pnpx", "uvx", "pipx", "docker", "podman")


def _launcher(argv: list[str]) -> tuple[str, list[str]]:
    """Start at the launcher: `node /usr/bin/npx -y pkg` and `python /opt/x/uvx pkg` are npx and uvx."""
    for index, arg in enumerate(argv):
        name = re.split(r"[\\/]", arg)[-1].lower().removesuffix(".cmd").removesuffix(".exe")
        if name in _LAUNCHERS:
            return arg, list(argv[index + 1:])
    return argv[0], list(argv[1:])


def _client_of(process: psutil.Process) -> str | None:
    try:
        parents = process.parents()[:6]
    except psutil.Error:
        return None
    for parent in parents:
        try:
            label = (parent.name() + " " + " ".join(parent.cmdline()[:2])).lower()
        except psutil.Error:
            continue
        for needle, client in _CLIENT_PROCESSES:
            if needle in label:
                return client
    return None


def find_processes() -> list[RunningServer]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            argv = process.info["cmdline"] or []
        except psutil.Error:
            continue
        if process.pid == os.getpid() or not argv or not looks_like_mcp_server(argv):
            continue
        command, args = _launcher(argv)
        found.append(RunningServer(process.pid, command, args, _client_of(process)))
    return found
