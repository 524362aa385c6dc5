"""Every MCP server configured for every catalog client: user, project and managed scopes, Claude Code's
per-project sections, VS Code profiles, and project trees. Reads only; never launches anything."""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from toolhive_py.clients.catalog import CLIENTS, OS, Client, Format, Location, expand
from toolhive_py.clients.documents import load_text, parse_text, servers_of
from toolhive_py.errors import ConfigError
from toolhive_py.scan.model import ScanError

__all__ = ["MAX_SERVERS_PER_FILE", "ConfiguredServer", "LineIndex", "discover", "line_of"]

EXCLUDED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", "dist",
                           "build", "target", ".cache", ".next", ".gradle", "vendor", ".terraform"})
MAX_DEPTH = 8
# More servers than any real client config holds: a file past it is read only that far (and says so),
# so a generated or hostile config cannot make one scan take minutes.
MAX_SERVERS_PER_FILE: Final = 10_000
_SYSTEMS: tuple[OS, ...] = ("macos", "linux", "windows")


@dataclass(frozen=True)
class ConfiguredServer:
    client: Client
    scope: str
    path: Path
    name: str
    entry: Any
    line: int | None = None  # 1-based line of the entry's name, for SARIF regions and editors


_JSON_KEY = re.compile(r'"((?:[^"\\\n]|\\.)*)"\s*:')
_TOML_HEADER = re.compile(r"(?m)^[ \t]*\[\[?([^\]\n]*)\]")
_TOML_SEGMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^.]+')
_YAML_KEY = re.compile(r"""(?m)^[ \t]*(?:-[ \t]+name:[ \t]*["']?(?P<listed>[^"'\n]*?)["']?[ \t]*$"""
                       r"""|(?P<key>[^\n:#]+?)[ \t]*:)""")


def _candidates(text: str, fmt: str) -> Iterator[tuple[str, int]]:
    """(name, offset) of everything in ``text`` that could declare a server, in file order."""
    if fmt == "toml":
        for match in _TOML_HEADER.finditer(text):
            segments = [seg.strip().strip("\"'") for seg in _TOML_SEGMENT.findall(match.group(1))]
            for segment in segments[1:]:
                yield segment, match.start()
    elif fmt == "yaml":
        for match in _YAML_KEY.finditer(text):
            name = match.group("listed") if match.group("listed") is not None else match.group("key")
            yield name.strip().strip("\"'"), match.start()
    else:
        for match in _JSON_KEY.finditer(text):
            yield match.group(1), match.start()


class LineIndex:
    """Where each server name is declared in one file's text, read once and only as far as asked.

    Looking each name up with its own search from the top of the file made a scan quadratic in the
    servers per file (100,000 servers took minutes). This walks the text's key declarations once, in
    order, counting lines as it goes, and stops as soon as the name asked for is reached, so a file cut
    off at the server cap is not indexed past the last server kept.
    """

    def __init__(self, text: str, fmt: str) -> None:
        self._text = text
        self._pending = _candidates(text, fmt)
        self._at: dict[str, list[tuple[int, int]]] = {}  # name -> [(offset, 1-based line)] in file order
        self._line, self._last, self._done = 1, 0, False

    def line_of(self, name: str, start: int = 0) -> int | None:
        """The line of the first declaration of ``name`` at or after offset ``start``."""
        found = self._at.get(name, [])
        index = bisect.bisect_left(found, (start, 0))
        if index == len(found) and not self._done:
            self._read_to(name, start)
            found = self._at.get(name, [])
            index = bisect.bisect_left(found, (start, 0))
        return found[index][1] if index < len(found) else None

    def _read_to(self, name: str, start: int) -> None:
        for candidate, offset in self._pending:
            self._line += self._text.count("\n", self._last, offset)
            self._last = offset
            self._at.setdefault(candidate, []).append((offset, self._line))
            if candidate == name and offset >= start:
                return
        self._done = True


def line_of(text: str, name: str, fmt: str, start: int = 0) -> int | None:
    """The line where server ``name`` is declared in ``text`` (searching from offset ``start``), if found."""
    return LineIndex(text, fmt).line_of(name, start)


@dataclass
class _Collector:
    servers: list[ConfiguredServer]
    errors: list[ScanError]
    seen: set[Path]
    max_per_file: int = MAX_SERVERS_PER_FILE
    texts: dict[Path, tuple[str, LineIndex]] = field(default_factory=dict)
    per_file: dict[Path, int] = field(default_factory=dict)
    blocked: set[Path] = field(default_factory=set)  # unreadable directories already reported

    def read(self, client: Client, location: Location, path: Path, scope: str) -> Any:
        """The parsed file (None when absent); problems become scan errors, never exceptions."""
        try:
            try:
                os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except PermissionError as exc:  # a directory on the way cannot be searched
                self.unreadable(path, exc)
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
            data = _parse(path, text, location.format)
        except ConfigError as exc:
            self.errors.append(ScanError(str(path), exc.message))
            return None
        except RecursionError:  # [[[[…: every parser here recurses on nesting
            self.errors.append(ScanError(str(path), "nested too deeply to be a config file"))
            return None
        except (OSError, RuntimeError) as exc:  # permission denied, symlink loop (ELOOP / RuntimeError)
            self.errors.append(ScanError(str(path), str(getattr(exc, "strerror", None) or exc)))
            return None
        index = LineIndex(text, location.format)
        self.texts[path] = (text, index)
        servers = servers_of(data, location)
        for name, entry in itertools.islice(servers.items(), self.max_per_file + 1):
            self.add(ConfiguredServer(client, scope, path, name, entry, index.line_of(name)))
        return data

    def unreadable(self, path: Path, exc: OSError) -> None:
        """Report the directory that could not be searched or listed, once, however many paths lie below it."""
        blocked = next((parent for parent in reversed(path.parents)
                        if os.path.isdir(parent) and not os.access(parent, os.R_OK | os.X_OK)), path)
        if blocked not in self.blocked:
            self.blocked.add(blocked)
            self.errors.append(ScanError(str(blocked), f"directory not readable: {exc.strerror or exc}; "
                                         "what it holds was not scanned"))

    def add(self, server: ConfiguredServer) -> None:
        """Keep ``server`` unless its file already gave ``max_per_file``; the first one over says so."""
        count = self.per_file.get(server.path, 0) + 1
        self.per_file[server.path] = count
        if count <= self.max_per_file:
            self.servers.append(server)
        elif count == self.max_per_file + 1:  # later ones are neither kept nor reported again
            self.errors.append(ScanError(str(server.path), f"truncated: more than {self.max_per_file} servers in "
                                         f"one file; only the first {self.max_per_file} were scanned"))


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _parse(path: Path, text: str, fmt: Format) -> Any:
    """Most JSON configs are strict JSON: the C parser reads them ~30x faster than the lenient one
    (100,000 servers: seconds instead of a minute); comments, trailing commas or NaN fall back to it."""
    if fmt in ("json", "jsonc"):
        try:
            return json.loads(text.removeprefix("\ufeff"), parse_constant=_no_constant)
        except ValueError:
            pass
    return parse_text(path, text, fmt)


def _user_files(collector: _Collector, home: Path, system: OS) -> Iterator[tuple[Client, Location, Path, str]]:
    for client in CLIENTS:
        for location in client.locations:
            if location.scope == "user":
                path = location.resolve(system, home)
                for found in _files(collector, path) if path is not None else []:
                    yield client, location, found, "user"
        if client.id in ("vscode", "vscode-insiders"):
            user = client.locations[0]
            profiles = Path(expand(user.paths[system], system, home)).parent / "profiles"
            for profile in _listed(collector, profiles):
                if profile.is_dir():
                    yield client, user, profile / "mcp.json", f"user (profile {profile.name})"


def _listed(collector: _Collector, directory: Path) -> list[Path]:
    """The entries of ``directory``, sorted; none when it is absent, and a scan error when it is unreadable."""
    try:
        return sorted(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        collector.unreadable(directory / "*", exc)
        return []


def _files(collector: _Collector, path: Path) -> list[Path]:
    """The file a location names, or each file a folder pattern (``mcpServers/*.yaml``) matches."""
    if "*" not in path.name:
        return [path]
    return [found for found in _listed(collector, path.parent) if fnmatch.fnmatchcase(found.name, path.name)
            and (not found.name.startswith(".") or path.name.startswith("."))]  # as glob: * skips dotfiles


def _claude_code_projects(collector: _Collector, client: Client, location: Location, path: Path,
                          data: Any) -> None:
    projects = data.get("projects") if isinstance(data, dict) else None
    text, index = collector.texts.get(path, ("", LineIndex("", location.format)))
    after = 0  # sections come in file order: each is searched for after the one before, never from the top
    for directory, section in (projects or {}).items():
        servers = section.get("mcpServers") if isinstance(section, dict) else None
        if not servers:
            continue
        if collector.per_file.get(path, 0) > collector.max_per_file:
            return
        section_at = max(text.find(json.dumps(directory, ensure_ascii=False), after),
                         text.find(json.dumps(directory), after))
        after = max(after, section_at)
        for name, entry in itertools.islice(servers.items(), collector.max_per_file + 1):
            line = index.line_of(name, section_at) if section_at >= 0 else None
            collector.add(ConfiguredServer(client, f"local ({directory})", path, name, entry, line))


def _project_files() -> list[tuple[Client, Location, str]]:
    """(client, location, path relative to a project dir) for every project-scope config."""
    found = []
    for client in CLIENTS:
        for location in client.locations:
            template = location.paths.get("linux", "")
            if location.scope == "project" and template.startswith("{project}/"):
                found.append((client, location, template.removeprefix("{project}/")))
    return found


def _walk(collector: _Collector, root: Path) -> Iterator[tuple[Path, frozenset[str]]]:
    """Directories under ``root`` with the names they hold, skipping dependency and build trees;
    symlinks are not followed; a directory that cannot be listed is a scan error."""
    def failed(exc: OSError) -> None:
        collector.unreadable(Path(exc.filename or root) / "*", exc)

    for directory, subdirs, files in os.walk(root, onerror=failed, followlinks=False):
        depth = len(Path(directory).relative_to(root).parts)
        names = frozenset(subdirs) | frozenset(files)
        subdirs[:] = sorted(d for d in subdirs if d not in EXCLUDED_DIRS and depth < MAX_DEPTH)
        yield Path(directory), names


def _under(root: Path, system_path: str) -> Path:
    """A system-wide path (``/etc/…``, ``C:/ProgramData/…``) inside ``root``, e.g. a mounted disk."""
    return root / re.sub(r"^(?:[A-Za-z]:)?/", "", system_path)


def discover(home: Path, project_dirs: Sequence[Path] = (), *, managed_root: Path | None = None,
             systems: Sequence[OS] = _SYSTEMS,
             max_per_file: int = MAX_SERVERS_PER_FILE) -> tuple[list[ConfiguredServer], list[ScanError]]:
    """All configured servers under ``home`` (laid out as any of ``systems``) and the project trees, plus
    managed (system-wide) configs under ``managed_root`` when given (``/`` for this machine)."""
    collector = _Collector([], [], set(), max_per_file)
    for system in systems:
        for client, location, path, scope in _user_files(collector, home, system):
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
        for directory, names in _walk(collector, root):
            for client, location, relative in project_files:
                # os.walk already listed the directory: only look where the first path part exists.
                if relative.split("/", 1)[0] in names:
                    for found in _files(collector, directory / relative):
                        collector.read(client, location, found, f"project ({directory})")
    return collector.servers, collector.errors
