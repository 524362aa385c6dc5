"""Every AI client mcpctl knows: where its MCP config lives on each OS and scope, its format, the key
that holds servers, and the shape of a server entry. One source of truth for `client` and `scan`.

Path templates use ``{home}`` (the user's home), ``{config}`` (the OS's per-user config root:
``~/Library/Application Support`` on macOS, ``~/.config`` on Linux, ``%APPDATA%`` on Windows),
``{xdg}`` (``~/.config`` on every OS, for tools that use it everywhere) and ``{project}``.
Resolution is a pure function of (OS, home, project), so scanning a mounted disk image works.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

__all__ = ["CLIENTS", "OS", "URL_KEYS", "Client", "CredentialMode", "Format", "Location", "Scope", "current_os",
           "expand", "get_client"]

OS = Literal["macos", "linux", "windows"]
Scope = Literal["user", "project", "managed"]
Format = Literal["json", "jsonc", "toml", "yaml"]
# How a client carries its proxy credential (`mcpctl client connect` mints one per client and server):
#   headers         the token itself in the entry's headers, where that is all the client has;
#   vscode-inputs   a `${input:ID}` reference to a `"password": true` input, which VS Code asks for once and keeps
#                   in its own secret storage;
#   headers-helper  Claude Code's `headersHelper`: a command (`mcpctl client token … --header-json`) whose stdout
#                   is the headers, run at each connection, so the token stays in the secret backend;
#   stdio-bridge    `mcpctl connect NAME --client ID`: the bridge reads the token from the secret backend and sends
#                   it on every request, so nothing is written.
# Env-var interpolation in headers (Cursor's and Windsurf's `${env:X}`) is not a mode: mcpctl cannot set a
# variable in the environment a desktop app starts with, except through a file (a shell profile), which is no
# safer than the config file and is read by every program the user starts.
CredentialMode = Literal["headers", "vscode-inputs", "headers-helper", "stdio-bridge"]

# Every key a client keeps a remote server's URL under (each `Client.entry_key` is one), in the order
# `describe_entry` and `scan` try them on an entry of unknown origin.
URL_KEYS: Final = ("url", "serverUrl", "httpUrl", "uri")

_ROOTS: Mapping[OS, Mapping[str, str]] = {
    "macos": {"config": "{home}/Library/Application Support", "xdg": "{home}/.config"},
    "linux": {"config": "{home}/.config", "xdg": "{home}/.config"},
    "windows": {"config": "{home}/AppData/Roaming", "xdg": "{home}/.config"},
}


def current_os() -> OS:
    return "macos" if sys.platform == "darwin" else "windows" if sys.platform == "win32" else "linux"


@dataclass(frozen=True)
class Location:
    scope: Scope
    paths: Mapping[OS, str]
    format: Format
    servers_key: tuple[str, ...]
    # Continue keeps servers as a YAML list of {name: …}; everyone else as a mapping name → entry.
    servers_kind: Literal["map", "list"] = "map"
    # OpenCode 2 keeps its servers one level down (`mcp.servers`) and still reads V1 files (servers right
    # under `mcp`): a document may use either layout.
    nested_key: str | None = None
    # This file's own remote entry shape, when it is not the client's (Continue's JSON folder files).
    remote_entry: Callable[[str, str], dict[str, Any]] | None = None

    @property
    def is_pattern(self) -> bool:
        """A folder of config files (Continue's `mcpServers/*.yaml`): `scan` reads each, mcpctl writes none."""
        return any("*" in template for template in self.paths.values())

    def servers_path(self, data: Any) -> tuple[str, ...]:
        """Where this document keeps its servers: ``servers_key``, or one level down when it uses the nested
        layout (a map under ``nested_key`` that is not itself a server entry)."""
        if self.nested_key is None:
            return self.servers_key
        node = data
        for key in self.servers_key:
            node = node.get(key) if isinstance(node, dict) else None
        nested = node.get(self.nested_key) if isinstance(node, dict) else None
        if isinstance(nested, dict) and not {"type", "command", "url"} & nested.keys():
            return (*self.servers_key, self.nested_key)
        return self.servers_key

    def resolve(self, os_name: OS, home: Path, project: Path | None = None) -> Path | None:
        """The file for a machine laid out as ``os_name`` whose home is ``home`` (which may be a mounted image)."""
        template = self.paths.get(os_name)
        if template is None or ("{project}" in template and project is None):
            return None
        return Path(expand(template, os_name, home, project))


def expand(template: str, os_name: OS, home: Path, project: Path | None = None) -> str:
    roots = {k: v.format(home=home.as_posix()) for k, v in _ROOTS[os_name].items()}
    return template.format(home=home.as_posix(), project=project.as_posix() if project else "", **roots)


def _everywhere(template: str) -> dict[OS, str]:
    return {"macos": template, "linux": template, "windows": template}


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    locations: tuple[Location, ...]
    remote: Callable[[str, str], dict[str, Any]] | None  # (name, url) -> entry; None: stdio only
    stdio: Callable[[str, str, list[str]], dict[str, Any]]  # (name, command, args) -> entry
    installed: Mapping[OS, str]  # this path existing means the client is installed
    sources: tuple[str, ...]
    notes: str = ""
    entry_key: str = "url"  # where a remote entry keeps its URL (for status and scan)
    remote_transport: str = "-"
    credential: CredentialMode = "headers"
    headers_key: str = "headers"  # where a remote entry keeps its HTTP headers (Codex: http_headers)

    @property
    def supports_remote(self) -> bool:
        return self.remote is not None

    def location(self, scope: Scope) -> Location | None:
        """The scope's config file, the one mcpctl writes (folder patterns are only read)."""
        return next((loc for loc in self.locations if loc.scope == scope and not loc.is_pattern), None)

    def location_of(self, scope: Scope, path: Path) -> Location | None:
        """The location a file found by `scan` came from: the scope's location whose file name matches."""
        return next((loc for loc in self.locations if loc.scope == scope
                     and any(fnmatch(path.name, PurePosixPath(t).name) for t in loc.paths.values())),
                    self.location(scope))


def _cmd(name: str, command: str, args: list[str]) -> dict[str, Any]:
    return {"command": command, "args": args}


def _vscode_dirs(product: str) -> dict[OS, str]:
    return _everywhere("{config}/" + product + "/User")


def _json_map(scope: Scope, paths: Mapping[OS, str], key: str = "mcpServers", fmt: Format = "json") -> Location:
    return Location(scope, paths, fmt, (key,))


def _continue_blocks(scope: Scope, root: str) -> tuple[Location, ...]:
    """Continue also loads every file in a `.continue/mcpServers` folder (global and per workspace): YAML
    blocks with an `mcpServers` list, and JSON configs copied from other clients (an `mcpServers` map in
    Claude Desktop's shape, comments allowed)."""
    folder = root + "/.continue/mcpServers/"
    return (Location(scope, _everywhere(folder + "*.yaml"), "yaml", ("mcpServers",), "list"),
            Location(scope, _everywhere(folder + "*.yml"), "yaml", ("mcpServers",), "list"),
            Location(scope, _everywhere(folder + "*.json"), "jsonc", ("mcpServers",),
                     remote_entry=lambda n, url: {"type": "http", "url": url}))


_CLAUDE_CODE_MANAGED: dict[OS, str] = {
    "macos": "/Library/Application Support/ClaudeCode/managed-mcp.json",
    "linux": "/etc/claude-code/managed-mcp.json",
    "windows": "C:/Program Files/ClaudeCode/managed-mcp.json",  # C:/ProgramData is no longer read (v2.1.75)
}
# Claude Desktop for Windows ships as an MSIX package: the app reads its config inside the package container.
_CLAUDE_DESKTOP_MSIX = "{home}/AppData/Local/Packages/Claude_pzs8sxrjxfjjc"
_GEMINI_SYSTEM: dict[OS, str] = {
    "macos": "/Library/Application Support/GeminiCli/settings.json",
    "linux": "/etc/gemini-cli/settings.json",
    "windows": "C:/ProgramData/gemini-cli/settings.json",
}


def _vscode(client_id: str, name: str, product: str) -> Client:
    user = _vscode_dirs(product)
    return Client(
        client_id, name,
        (Location("user", {k: v + "/mcp.json" for k, v in user.items()}, "jsonc", ("servers",)),
         Location("project", _everywhere("{project}/.vscode/mcp.json"), "jsonc", ("servers",))),
        remote=lambda n, url: {"type": "http", "url": url},
        stdio=lambda n, c, a: {"type": "stdio", "command": c, "args": a},
        installed=user,
        sources=("https://code.visualstudio.com/docs/copilot/reference/mcp-configuration",
                 "https://code.visualstudio.com/docs/copilot/customization/mcp-servers"),
        remote_transport="http", credential="vscode-inputs")


def _extension(client_id: str, name: str, publisher_dir: str, settings_file: str, remote_type: str,
               sources: tuple[str, ...], project: str | None, shared: str | None = None, notes: str = "") -> Client:
    storage = {k: v + "/globalStorage/" + publisher_dir for k, v in _vscode_dirs("Code").items()}
    locations = [_json_map("user", {k: v + "/settings/" + settings_file for k, v in storage.items()})]
    if shared:  # a second user file the extension also reads (scan looks at both; connect writes the first)
        locations.append(_json_map("user", _everywhere(shared)))
    if project:
        locations.append(_json_map("project", _everywhere("{project}/" + project)))
    return Client(
        client_id, name, tuple(locations),
        remote=lambda n, url: {"type": remote_type, "url": url},
        stdio=_cmd, installed=storage, sources=sources, notes=notes,
        remote_transport=remote_type)


CLIENTS: tuple[Client, ...] = (
    Client(
        "claude-desktop", "Claude Desktop",
        (_json_map("user", {"macos": "{config}/Claude/claude_desktop_config.json",
                            "windows": _CLAUDE_DESKTOP_MSIX + "/LocalCache/Roaming/Claude/claude_desktop_config.json",
                            "linux": "{config}/Claude/claude_desktop_config.json"}),
         _json_map("user", {"windows": "{config}/Claude/claude_desktop_config.json"})),
        remote=None, stdio=_cmd, credential="stdio-bridge",
        installed={"macos": "{config}/Claude", "linux": "{config}/Claude", "windows": _CLAUDE_DESKTOP_MSIX},
        sources=("https://modelcontextprotocol.io/docs/develop/connect-local-servers",
                 "https://support.claude.com/en/articles/11175166-getting-started-with-custom-connectors-using-remote-mcp",
                 "https://github.com/anthropics/claude-code/issues/26073"),
        notes="The config file takes local (stdio) servers only (remote servers are added as connectors in the app); "
              "mcpctl writes `mcpctl connect NAME`. On Windows the app is an MSIX package and reads the copy inside "
              "its package container; the documented %APPDATA% path is what pre-MSIX installs read (scan reads both). "
              "Linux has no official build; the path is the one community builds use."),
    Client(
        "claude-code", "Claude Code",
        (_json_map("user", _everywhere("{home}/.claude.json")),
         _json_map("project", _everywhere("{project}/.mcp.json")),
         _json_map("managed", _CLAUDE_CODE_MANAGED)),
        remote=lambda n, url: {"type": "http", "url": url}, stdio=lambda n, c, a: {"type": "stdio", "command": c,
                                                                                 "args": a},
        installed=_everywhere("{home}/.claude.json"),
        sources=("https://code.claude.com/docs/en/mcp", "https://code.claude.com/docs/en/managed-mcp"),
        notes="Also per-project entries in ~/.claude.json under projects.<dir>.mcpServers (local scope). Its "
              "headersHelper runs at every connection (a project's .mcp.json only after the trust dialog).",
        remote_transport="http", credential="headers-helper"),
    Client(
        "cursor", "Cursor",
        (_json_map("user", _everywhere("{home}/.cursor/mcp.json")),
         _json_map("project", _everywhere("{project}/.cursor/mcp.json"))),
        remote=lambda n, url: {"url": url}, stdio=_cmd, installed=_everywhere("{home}/.cursor"),
        sources=("https://cursor.com/docs/mcp",), remote_transport="streamable HTTP"),
    _vscode("vscode", "VS Code", "Code"),
    _vscode("vscode-insiders", "VS Code Insiders", "Code - Insiders"),
    Client(
        "windsurf", "Windsurf",
        (_json_map("user", _everywhere("{home}/.codeium/windsurf/mcp_config.json")),),
        remote=lambda n, url: {"serverUrl": url}, stdio=_cmd,
        installed=_everywhere("{home}/.codeium/windsurf"),
        sources=("https://docs.windsurf.com/windsurf/cascade/mcp",), entry_key="serverUrl",
        remote_transport="streamable HTTP"),
    _extension("cline", "Cline", "saoudrizwan.claude-dev", "cline_mcp_settings.json", "streamableHttp",
               ("https://docs.cline.bot/mcp/configuring-mcp-servers",
                "https://github.com/cline/cline/blob/main/apps/vscode/src/services/mcp/schemas.ts"), None,
               shared="{home}/.cline/data/settings/cline_mcp_settings.json",
               notes="The VS Code extension's legacy bundle reads the globalStorage file; the Cline CLI, JetBrains and "
                     "the SDK-based extension (staged rollout since 4.1) read ~/.cline/data/settings, into which the "
                     "SDK extension migrates the legacy servers once."),
    _extension("roo-code", "Roo Code", "rooveterinaryinc.roo-cline", "mcp_settings.json", "streamable-http",
               ("https://docs.roocode.com/features/mcp/using-mcp-in-roo",), ".roo/mcp.json"),
    Client(
        "continue", "Continue",
        (Location("user", _everywhere("{home}/.continue/config.yaml"), "yaml", ("mcpServers",), "list"),
         *_continue_blocks("user", "{home}"), *_continue_blocks("project", "{project}")),
        remote=lambda n, url: {"name": n, "type": "streamable-http", "url": url},
        stdio=lambda n, c, a: {"name": n, "command": c, "args": a},
        installed=_everywhere("{home}/.continue"),
        sources=("https://docs.continue.dev/customize/deep-dives/mcp",
                 "https://github.com/continuedev/continue/discussions/9475"),
        notes="Headers of streamable-http servers have been reported ignored, so a credential goes through the "
              "stdio bridge.",
        remote_transport="streamable-http", credential="stdio-bridge"),
    Client(
        "zed", "Zed",
        (Location("user", {"macos": "{xdg}/zed/settings.json", "linux": "{xdg}/zed/settings.json",
                           "windows": "{config}/Zed/settings.json"}, "jsonc", ("context_servers",)),
         Location("project", _everywhere("{project}/.zed/settings.json"), "jsonc", ("context_servers",))),
        remote=lambda n, url: {"url": url}, stdio=_cmd,
        installed={"macos": "{xdg}/zed", "linux": "{xdg}/zed", "windows": "{config}/Zed"},
        sources=("https://zed.dev/docs/ai/mcp",), remote_transport="streamable HTTP"),
    Client(
        "goose", "Goose",
        (Location("user", {"macos": "{xdg}/goose/config.yaml", "linux": "{xdg}/goose/config.yaml",
                           "windows": "{config}/Block/goose/config/config.yaml"}, "yaml", ("extensions",)),),
        remote=lambda n, url: {"enabled": True, "name": n, "type": "streamable_http", "uri": url, "description": "",
                               "timeout": 300},
        stdio=lambda n, c, a: {"enabled": True, "name": n, "type": "stdio", "cmd": c, "args": a, "timeout": 300},
        installed={"macos": "{xdg}/goose", "linux": "{xdg}/goose", "windows": "{config}/Block/goose"},
        sources=("https://github.com/aaif-goose/goose/blob/main/documentation/docs/guides/config-files.md",),
        notes="Older releases reject a streamable_http entry without `description`, so mcpctl writes an empty one.",
        entry_key="uri", remote_transport="streamable_http"),
    Client(
        "gemini", "Gemini CLI",
        (_json_map("user", _everywhere("{home}/.gemini/settings.json"), fmt="jsonc"),
         _json_map("project", _everywhere("{project}/.gemini/settings.json"), fmt="jsonc"),
         _json_map("managed", _GEMINI_SYSTEM, fmt="jsonc")),
        remote=lambda n, url: {"httpUrl": url}, stdio=_cmd, installed=_everywhere("{home}/.gemini"),
        sources=("https://github.com/google-gemini/gemini-cli/blob/main/docs/tools/mcp-server.md",
                 "https://github.com/google-gemini/gemini-cli/blob/main/docs/reference/configuration.md"),
        notes="Settings files may hold comments. The managed scope is the system settings file, which overrides "
              "user and project settings.",
        entry_key="httpUrl", remote_transport="streamable HTTP (httpUrl)"),
    Client(
        "codex", "OpenAI Codex CLI",
        (Location("user", _everywhere("{home}/.codex/config.toml"), "toml", ("mcp_servers",)),
         Location("project", _everywhere("{project}/.codex/config.toml"), "toml", ("mcp_servers",))),
        remote=lambda n, url: {"url": url}, stdio=_cmd, installed=_everywhere("{home}/.codex"),
        sources=("https://developers.openai.com/codex/config-reference",
                 "https://github.com/openai/codex/blob/main/docs/config.md"),
        notes="Codex reads a project's .codex/config.toml only once the project is trusted. Literal headers live "
              "in http_headers (a `headers` table is ignored).",
        remote_transport="streamable HTTP", headers_key="http_headers"),
    Client(
        "lmstudio", "LM Studio",
        (_json_map("user", _everywhere("{home}/.lmstudio/mcp.json")),),
        remote=lambda n, url: {"url": url}, stdio=_cmd, installed=_everywhere("{home}/.lmstudio"),
        sources=("https://lmstudio.ai/docs/app/mcp",),
        notes="LM Studio follows Cursor's mcp.json notation; its docs open the file from the app and do not print "
              "the path.", remote_transport="streamable HTTP"),
    Client(
        "amp", "Amp",
        (_json_map("user", _everywhere("{xdg}/amp/settings.json"), key="amp.mcpServers"),
         _json_map("project", _everywhere("{project}/.amp/settings.json"), key="amp.mcpServers")),
        remote=lambda n, url: {"url": url}, stdio=_cmd, installed=_everywhere("{xdg}/amp"),
        sources=("https://ampcode.com/manual",),
        notes="The servers key is the literal dotted name amp.mcpServers. Servers in a workspace's "
              ".amp/settings.json need approval before they run.",
        remote_transport="streamable HTTP"),
    Client(
        "kiro", "Kiro",
        (_json_map("user", _everywhere("{home}/.kiro/settings/mcp.json")),
         _json_map("project", _everywhere("{project}/.kiro/settings/mcp.json"))),
        remote=lambda n, url: {"url": url}, stdio=_cmd, installed=_everywhere("{home}/.kiro"),
        sources=("https://kiro.dev/docs/mcp/configuration/",), remote_transport="streamable HTTP"),
    Client(
        "opencode", "opencode",
        (Location("user", _everywhere("{xdg}/opencode/opencode.json"), "jsonc", ("mcp",), nested_key="servers"),
         Location("project", _everywhere("{project}/opencode.json"), "jsonc", ("mcp",), nested_key="servers"),
         Location("project", _everywhere("{project}/.opencode/opencode.json"), "jsonc", ("mcp",),
                  nested_key="servers")),
        remote=lambda n, url: {"type": "remote", "url": url},
        stdio=lambda n, c, a: {"type": "local", "command": [c, *a]},
        installed=_everywhere("{xdg}/opencode"),
        sources=("https://opencode.ai/v2/docs/mcp-servers/", "https://opencode.ai/v1/docs/mcp-servers/",
                 "https://opencode.ai/docs/migrate-v1/"),
        notes="Reads and writes both layouts: OpenCode 2's `mcp.servers` when the file uses it, else V1's servers "
              "directly under `mcp` (which OpenCode 2 still reads). Entries leave out `enabled` (V1) and "
              "`disabled` (V2): both default to on.",
        remote_transport="remote (streamable HTTP)"),
)

_BY_ID = {client.id: client for client in CLIENTS}


def get_client(client_id: str) -> Client:
    from toolhive_py.errors import NotFoundError

    try:
        return _BY_ID[client_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(client_id, list(_BY_ID), n=3)
        raise NotFoundError(f"Unknown client {client_id!r}.",
                            hint=(f"Did you mean: {', '.join(close)}? " if close else "")
                            + f"Known clients: {', '.join(_BY_ID)}.") from None
