"""Every MCP server configured for every catalog client: user, project and managed scopes, Claude Code's
per-project sections, VS Code profiles, and project trees. Reads only; never launches anything."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolhive_py.clients.catalog import CLIENTS, OS, Client, Location, expand
from toolhive_py.clients.documents import load_text, parse_text, servers_of
from toolhive_py.errors import ConfigError
from toolhive_py.scan.model import ScanError

__all__ = ["ConfiguredServer", "discover"]

EXCLUDED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", "dist",
                           "build", "target", ".cache", ".next", ".gradle", "vendor", ".terraform"})
MAX_DEPTH = 8
_SYSTEMS: tuple[OS, ...] = ("macos", "linux", "windows")


@dataclass(frozen=True)
class ConfiguredServer:
    client: Client
    scope: str
    path: Path
    name: str
    entry: Any
    line: int | None = None  # 1-based line of the entry's name, for SARIF regions and editors


def line_of(text: str, name: str, fmt: str, start: int = 0) -> int | None:
    """The line where server ``name`` is declared in ``text`` (searching from offset ``start``), if found."""
    key = re.escape(name)
    if fmt == "toml":
        pattern = rf'(?m)^[ \t]*\[[^\]\n]*\.(?:"{key}"|{key})[ \t]*[\].]'
    elif fmt == "yaml":
        pattern = rf"""(?m)^[ \t]*(?:-[ \t]+name:[ \t]*["']?{key}["']?[ \t]*$|["']?{key}["']?[ \t]*:)"""
    else:
        pattern = rf'"{key}"\s*:'
    match = re.compile(pattern).search(text, start)
    return None if match is None else text.count("\n", 0, match.start()) + 1


@dataclass
class _Collector:
    servers: list[ConfiguredServer]
    errors: list[ScanError]
    seen: set[Path]
    texts: dict[Path, str] = field(default_factory=dict)

    def read(self, client: Client, location: Location, path: Path, scope: str) -> Any:
        """The parsed file (None when absent); problems become scan errors, never exceptions."""
        try:
            if not os.path.lexists(path):
                return None
            if not path.is_file():
                path.stat()  # raises for a symlink loop or a dangling link: report those
                return None
            real = path.resolve(strict=True)
            if real in self.seen:
                return None
            self.seen.add(real)
            text = load_text(path)
            if text is None:
                return None
            if not text.removeprefix("\ufeff").strip():
                self.errors.append(ScanError(str(path), "empty file"))
                return None
            data = parse_text(path, text, location.format)
        except ConfigError as exc:
            self.errors.append(ScanError(str(path), exc.message))
            return None
        except RecursionError:  # [[[[…: every parser here recurses on nesting
            self.errors.append(ScanError(str(path), "nested too deeply to be a config file"))
            return None
        except (OSError, RuntimeError) as exc:  # permission denied, symlink loop (ELOOP / RuntimeError)
            self.errors.append(ScanError(str(path), str(getattr(exc, "strerror", None) or exc)))
            return None
        servers = servers_of(data, location)
        for name, entry in servers.items():
            self.servers.append(ConfiguredServer(client, scope, path, name, entry, line_of(text, name, location.format)))
        self.texts[path] = text
        return data


def _user_files(home: Path, system: OS) -> Iterator[tuple[Client, Location, Path, str]]:
    for client in CLIENTS:
        for location in client.locations:
            if location.scope == "user":
                path = location.resolve(system, home)
                for found in _files(path) if path is not None else []:
                    yield client, location, found, "user"
        if client.id in ("vscode", "vscode-insiders"):
            user = client.locations[0]
            profiles = Path(expand(user.paths[system], system, home)).parent / "profiles"
            try:
                for profile in sorted(p for p in profiles.iterdir() if p.is_dir()):
                    yield client, user, profile / "mcp.json", f"user (profile {profile.name})"
            except OSError:
                pass


def _files(path: Path) -> list[Path]:
    """The file a location names, or each file a folder pattern (``mcpServers/*.yaml``) matches."""
    if "*" not in path.name:
        return [path]
    try:
        return sorted(path.parent.glob(path.name))
    except OSError:
        return []


def _claude_code_projects(collector: _Collector, client: Client, location: Location, path: Path,
                          data: Any) -> None:
    projects = data.get("projects") if isinstance(data, dict) else None
    text = collector.texts.get(path, "")
    for directory, section in (projects or {}).items():
        servers = section.get("mcpServers") if isinstance(section, dict) else None
        section_at = text.find(json.dumps(directory))
        for name, entry in (servers or {}).items():
            line = line_of(text, name, location.format, section_at) if section_at >= 0 else None
            collector.servers.append(ConfiguredServer(client, f"local ({directory})", path, name, entry, line))


def _project_files() -> list[tuple[Client, Location, str]]:
    """(client, location, path relative to a project dir) for every project-scope config."""
    found = []
    for client in CLIENTS:
        for location in client.locations:
            template = location.paths.get("linux", "")
            if location.scope == "project" and template.startswith("{project}/"):
                found.append((client, location, template.removeprefix("{project}/")))
    return found


def _walk(root: Path) -> Iterator[tuple[Path, frozenset[str]]]:
    """Directories under ``root`` with the names they hold, skipping dependency and build trees;
    symlinks are not followed."""
    for directory, subdirs, files in os.walk(root, followlinks=False):
        depth = len(Path(directory).relative_to(root).parts)
        names = frozenset(subdirs) | frozenset(files)
        subdirs[:] = sorted(d for d in subdirs if d not in EXCLUDED_DIRS and depth < MAX_DEPTH)
        yield Path(directory), names


def _under(root: Path, system_path: str) -> Path:
    """A system-wide path (``/etc/…``, ``C:/ProgramData/…``) inside ``root``, e.g. a mounted disk."""
    return root / re.sub(r"^(?:[A-Za-z]:)?/", "", system_path)


def discover(home: Path, project_dirs: Sequence[Path] = (), *, managed_root: Path | None = None,
             systems: Sequence[OS] = _SYSTEMS) -> tuple[list[ConfiguredServer], list[ScanError]]:
    """All configured servers under ``home`` (laid out as any of ``systems``) and the project trees, plus
    managed (system-wide) configs under ``managed_root`` when given (``/`` for this machine)."""
    collector = _Collector([], [], set())
    for system in systems:
        for client, location, path, scope in _user_files(home, system):
            data = collector.read(client, location, path, scope)
            if client.id == "claude-code" and data is not None:
                _claude_code_projects(collector, client, location, path, data)
        if managed_root is not None:
            for client in CLIENTS:
                managed = client.location("managed")
                if managed is not None and system in managed.paths:
                    collector.read(client, managed, _under(managed_root, managed.paths[system]), "managed")
    project_files = _project_files()
    for root in project_dirs:
        if not root.is_dir():
            collector.errors.append(ScanError(str(root), "not a directory"))
            continue
        for directory, names in _walk(root):
            for client, location, relative in project_files:
                # os.walk already listed the directory: only look where the first path part exists.
                if relative.split("/", 1)[0] in names:
                    for found in _files(directory / relative):
                        collector.read(client, location, found, f"project ({directory})")
    return collector.servers, collector.errors
