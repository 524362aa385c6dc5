"""Connect managed servers to clients and take them away again: locked, atomic, backed up, and
limited to entries mcpctl itself wrote.

Which entries are mcpctl's is recorded in a ledger in mcpctl's state directory rather than by a
marker inside the entry: strict-schema clients (VS Code, Zed) flag unknown keys, and a JSON file has no
comments to carry a marker. An entry is removed only while it still matches what the ledger says was
written, so a user's later edit is never deleted silently.

A file the user made read-only (no write bit, or one this process may not write, such as an immutable
file) is refused unless the caller passes ``force``. A write that fails leaves the file, the ledger
and the backups as they were: the backup made for it is deleted again, and the error names the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

from toolhive_py.clients.catalog import (
    CLIENTS,
    OS,
    URL_KEYS,
    Client,
    Location,
    Scope,
    current_os,
    expand,
    get_client,
)
from toolhive_py.clients.documents import (
    Edit,
    add_input,
    add_server,
    load_text,
    parse_text,
    remove_input,
    remove_server,
    replace_server,
    servers_in,
    servers_of,
)
from toolhive_py.config import Paths, atomic_write
from toolhive_py.errors import ConfigError, ConflictError, MCPCTLError, NotFoundError, UsageError

__all__ = ["ClientStatus", "LedgerRecord", "ManagedServer", "OriginalState", "Target", "backups_holding", "connect",
           "credential_input", "detect", "disconnect", "entry_for", "describe_entry", "disconnect_everywhere",
           "has_credential", "input_id", "is_read_only", "ledger_records", "mcpctl_command", "resolve_target", "restore",
           "status", "written_urls"]


@dataclass(frozen=True)
class ManagedServer:
    """A managed server as a client entry: ``name`` is the entry's key in the client's config, ``url`` its
    proxy. ``workload`` names the workload a `mcpctl connect` entry runs when that is not ``name`` (`scan
    --fix` keeps the user's entry name ``time`` while pointing it at the workload ``time-2``)."""

    name: str
    url: str
    workload: str = ""
    # The client's proxy credential for this workload (`credentials.mint`); None writes an entry without one,
    # which works only while the workload's proxy is in migration mode. Only the `headers` mode writes the
    # value itself; the others only need to know there is one.
    token: str | None = None

    @property
    def workload_name(self) -> str:
        return self.workload or self.name


@dataclass(frozen=True)
class Target:
    client: Client
    location: Location
    path: Path

    @property
    def scope(self) -> str:
        return self.location.scope


def resolve_target(client_id: str, *, project: Path | None = None, home: Path | None = None,
                   os_name: OS | None = None) -> Target:
    client = get_client(client_id)
    scope: Literal["user", "project"] = "project" if project else "user"
    if client.location(scope) is None:
        raise UsageError(f"{client.name} has no {scope}-scope MCP config.",
                         hint="Leave out --project." if project else "Use --project DIR.")
    system, root = os_name or current_os(), home or Path.home()
    writable = [location for location in client.locations if location.scope == scope and not location.is_pattern]
    candidates = [(location, path) for location in writable
                  if (path := location.resolve(system, root, project.resolve() if project else None)) is not None]
    if not candidates:
        raise UsageError(f"{client.name} has no MCP config file on this OS.")
    location, path = _preferred_file(candidates)
    return Target(client, location, path)


def _preferred_file(candidates: Sequence[tuple[Location, Path]]) -> tuple[Location, Path]:
    """Where to write when a client reads one of several files (Claude Desktop's MSIX and pre-MSIX copies on
    Windows, Cline's VS Code storage and its shared settings): the one that exists, else the one whose
    directory exists (the client is installed that way), else the catalog's first."""
    return (next((c for c in candidates if c[1].is_file()), None)
            or next((c for c in candidates if c[1].parent.is_dir()), None)
            or candidates[0])


def mcpctl_command() -> tuple[str, list[str]]:
    """An absolute command that runs this mcpctl, for clients that spawn processes."""
    beside = Path(sys.executable).with_name("mcpctl")
    found = str(beside) if beside.exists() else shutil.which("mcpctl")
    return (str(Path(found).resolve()), []) if found else (sys.executable, ["-m", "toolhive_py"])


def input_id(workload: str, token: str) -> str:
    """The id of the VS Code input that holds a workload's credential (``${input:ID}`` in its headers). VS Code
    keeps an input's value by its id, so the id names the token (8 hex digits of its SHA-256): a rotated
    credential is a new input, which VS Code asks for, instead of a stale cached value that gets 401."""
    from toolhive_py.credentials import token_hash

    return f"mcpctl-{workload}-{token_hash(token)[:8]}"


def credential_input(client: Client, server: ManagedServer) -> dict[str, Any]:
    """The `"password": true` input VS Code asks for once and keeps in its secret storage."""
    workload = server.workload_name
    return {"type": "promptString", "id": input_id(workload, server.token or ""),
            "description": f"mcpctl credential for {workload} (paste: mcpctl client token {client.id} {workload} "
                           "--show)", "password": True}


def entry_for(client: Client, server: ManagedServer, location: Location | None = None) -> dict[str, Any]:
    """The client's own entry shape (or the file's, where it has one): the proxy URL with the credential the way
    the catalog says this client carries it, or `mcpctl connect NAME` for stdio-only clients and the stdio bridge.
    """
    command, prefix = mcpctl_command()
    workload = server.workload_name
    mode = client.credential if server.token else None
    remote = location.remote_entry if location is not None and location.remote_entry else client.remote
    if remote is None or mode == "stdio-bridge":
        bridge = [*prefix, "connect", workload] + (["--client", client.id] if server.token else [])
        if location is not None and location.remote_entry is not None:  # a file in another client's shape
            return {"command": command, "args": bridge}
        return client.stdio(server.name, command, bridge)
    entry = remote(server.name, server.url)
    if mode == "headers":
        entry[client.headers_key] = {"Authorization": f"Bearer {server.token}"}
    elif mode == "vscode-inputs":
        entry[client.headers_key] = {"Authorization": "Bearer ${input:" + input_id(workload, server.token or "") + "}"}
    elif mode == "headers-helper":
        # A shell command line (Claude Code runs it through the shell): quoted, so a path with blanks holds.
        entry["headersHelper"] = shlex.join([command, *prefix, "client", "token", client.id, workload,
                                             "--header-json"])
    return entry


def has_credential(client: Client, entry: Any) -> bool:
    """Whether a written entry carries a proxy credential (`doctor` lists those that do not)."""
    if not isinstance(entry, dict):
        return False
    if client.remote is None or client.credential == "stdio-bridge":
        command = entry.get("command")
        args = entry.get("args") or (command[1:] if isinstance(command, list) else [])
        return "--client" in [str(a) for a in args]
    if client.credential == "headers-helper":
        return bool(entry.get("headersHelper"))
    headers = entry.get(client.headers_key)
    return isinstance(headers, dict) and any(str(k).lower() == "authorization" for k in headers)


# ----- ledger, locks, backups --------------------------------------------------------------------------

class OriginalState(StrEnum):
    """What the config was before mcpctl first wrote to it: how `disconnect` leaves it when nothing else is left."""

    MISSING = "missing"  # no file: it is deleted again (and the directories mcpctl created)
    EMPTY = "empty"  # an empty or blank file: its exact text comes back
    PRESENT = "present"  # a file with content: only mcpctl's entries are taken out

    @classmethod
    def of(cls, text: str | None) -> OriginalState:
        return cls.MISSING if text is None else (cls.EMPTY if not text.strip() else cls.PRESENT)


@dataclass(frozen=True)
class LedgerRecord:
    """One entry mcpctl wrote into one client config. On disk a JSON object per record, in a list; the
    field names are the JSON keys, so ledgers written before this type existed read unchanged."""

    client: str
    scope: Scope
    path: str
    name: str
    entry: dict[str, Any]
    edit: Edit
    original: OriginalState
    original_text: str | None = None  # the blank text to put back (only for OriginalState.EMPTY)
    created_dirs: tuple[str, ...] = ()
    input: dict[str, Any] | None = None  # the VS Code input mcpctl added beside the entry (its credential)
    created_inputs_key: bool = False  # the file had no `inputs` before that input

    def is_for(self, path: Path, name: str | None = None) -> bool:
        return self.path == str(path) and (name is None or self.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client, "scope": self.scope, "path": self.path, "name": self.name,
                "entry": self.entry, "edit": asdict(self.edit), "original": self.original.value,
                "original_text": self.original_text, "created_dirs": list(self.created_dirs), "input": self.input,
                "created_inputs_key": self.created_inputs_key}

    @classmethod
    def from_json(cls, data: Any) -> LedgerRecord | None:
        """The record, or None for one that is not a record (a damaged or hand-edited ledger)."""
        try:
            scope = data["scope"]
            if scope not in get_args(Scope):
                return None
            return cls(client=str(data["client"]), scope=scope, path=str(data["path"]),
                       name=str(data["name"]), entry=dict(data["entry"]), edit=Edit(**data.get("edit") or {}),
                       original=OriginalState(data.get("original", OriginalState.PRESENT)),
                       original_text=data.get("original_text"),
                       created_dirs=tuple(str(d) for d in data.get("created_dirs") or ()),
                       input=dict(data["input"]) if isinstance(data.get("input"), dict) else None,
                       created_inputs_key=bool(data.get("created_inputs_key")))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _ledger_file(paths: Paths) -> Path:
    return paths.state_dir / "clients" / "ledger.json"


def _backup_dir(paths: Paths, client_id: str) -> Path:
    return paths.state_dir / "clients" / "backups" / client_id


@contextmanager
def _locked(paths: Paths, path: Path) -> Iterator[None]:
    """One writer per config file, across processes: read, change and write happen under the lock."""
    directory = paths.state_dir / "clients" / "locks"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = directory / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_ledger(paths: Paths) -> list[LedgerRecord]:
    try:
        data = json.loads(_ledger_file(paths).read_text())
    except (OSError, ValueError):
        return []
    records = (LedgerRecord.from_json(item) for item in data) if isinstance(data, list) else ()
    return [record for record in records if record is not None]


def _update_ledger(paths: Paths, path: Path, name: str, record: LedgerRecord | None) -> None:
    with _locked(paths, _ledger_file(paths)):
        records = [r for r in _read_ledger(paths) if not r.is_for(path, name)]
        if record is not None:
            records.append(record)
        atomic_write(_ledger_file(paths), (json.dumps([r.to_json() for r in records], indent=1) + "\n").encode())


def _replace_ledger_of(paths: Paths, path: Path, records: Sequence[LedgerRecord]) -> None:
    """Make ``records`` the ledger's whole account of ``path`` (a restored file's own records)."""
    with _locked(paths, _ledger_file(paths)):
        kept = [r for r in _read_ledger(paths) if not r.is_for(path)]
        kept += [r for r in records if r.is_for(path)]
        atomic_write(_ledger_file(paths), (json.dumps([r.to_json() for r in kept], indent=1) + "\n").encode())


def ledger_records(paths: Paths) -> list[LedgerRecord]:
    """Every entry mcpctl wrote, as its ledger records them (`client upgrade` and `doctor` read them)."""
    return _read_ledger(paths)


def _ledger_entry(paths: Paths, path: Path, name: str) -> LedgerRecord | None:
    return next((r for r in _read_ledger(paths) if r.is_for(path, name)), None)


def written_urls(paths: Paths) -> set[str]:
    """Every URL mcpctl wrote into a client config (so `scan` can tell its own entries from others')."""
    return {value for record in _read_ledger(paths) for key, value in record.entry.items()
            if key in URL_KEYS and isinstance(value, str)}


def backups_holding(paths: Paths, client_id: str, needle: str) -> list[Path]:
    """This client's backups whose saved file text contains ``needle`` (a secret `scan --fix` moved out of the
    file), oldest first: deleting them is how that plaintext leaves mcpctl's state too."""
    found = []
    for backup in sorted(_backup_dir(paths, client_id).glob("*.json")):
        try:
            text = json.loads(backup.read_text()).get("text")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(text, str) and needle and needle in text:
            found.append(backup)
    return found


def _backup_name(ns: int) -> str:
    """From one clock reading, in UTC, so names sort in the order backups were made (`restore` takes the
    last): seconds and nanoseconds read separately could straddle a second, and local time jumps at DST."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(ns // 10**9))}-{ns % 10**9:09d}.json"


def _backup(paths: Paths, target: Target, text: str | None) -> Path:
    """Save the file's text and, with it, the ledger's records for that file as they stand: `restore` puts
    both back, so the entries mcpctl wrote in that text are again known as mcpctl's."""
    directory = _backup_dir(paths, target.client.id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time_ns()
    while (backup := directory / _backup_name(now)).exists():  # two changes within the clock's resolution
        now += 1
    ledger = [record.to_json() for record in _read_ledger(paths) if record.is_for(target.path)]
    atomic_write(backup, json.dumps({"path": str(target.path), "existed": text is not None,
                                     "text": text, "ledger": ledger}).encode())
    return backup


def _missing_dirs(path: Path) -> list[Path]:
    """Parent directories that do not exist yet, deepest first (so they can be removed in that order)."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def is_read_only(mode: int, *, writable: bool) -> bool:
    """A config the user locked: no write bit for anyone (0444), or one this process may not write
    (another user's file, an immutable one). Replacing it by rename would work, and silently undo that."""
    return not mode & 0o222 or not writable


def _check_writable(path: Path, *, force: bool) -> None:
    real = path.resolve()
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.", path=str(path)) from exc
    if not force and is_read_only(mode, writable=os.access(real, os.W_OK)):
        why = ("is read-only" if not mode & 0o222 else "is not writable by this user (another user's file, "
               "or immutable)")
        raise ConfigError(
            f"{path} {why} (mode {mode & 0o7777:04o}): mcpctl will not replace it.",
            hint=f"Make it writable (`chmod u+w {path}`) and run the command again, or pass --force to replace "
            "it anyway (it keeps its mode).",
            code="read-only", path=str(path))


def _write(path: Path, text: str | None) -> None:
    """Atomically replace ``path`` (through symlinks), keeping mode and ownership; None deletes it."""
    real = path.resolve()
    if text is None:
        real.unlink(missing_ok=True)
        return
    existing = real.stat() if real.exists() else None
    atomic_write(real, text.encode())
    if existing is not None and os.geteuid() == 0:
        os.chown(real, existing.st_uid, existing.st_gid)


def _write_error(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"Cannot write {path}: {exc.strerror or exc}.",
        hint="Check that the file and its directory are writable (and not immutable: `lsattr`); nothing was "
        "changed and no backup was kept.",
        code="write-failed", path=str(path))


def _replace_file(paths: Paths, target: Target, original: str | None, text: str | None, *, force: bool,
                  created_dirs: Sequence[Path] = ()) -> Path:
    """Back up, then write: a refused or failed write changes nothing and leaves no backup behind, so
    retrying a write that cannot succeed does not pile up backups."""
    _check_writable(target.path, force=force)
    try:
        backup = _backup(paths, target, original)
    except OSError as exc:
        raise ConfigError(f"Cannot back up {target.path} before changing it: {exc.strerror or exc}.",
                          hint=f"Check that {_backup_dir(paths, target.client.id)} is writable.",
                          code="write-failed", path=str(target.path)) from exc
    try:
        _write(target.path, text)
    except OSError as exc:
        backup.unlink(missing_ok=True)
        for directory in created_dirs:  # deepest first: only the ones this write created, if still empty
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise _write_error(target.path, exc) from exc
    return backup


# ----- operations ----------------------------------------------------------------------------------

def connect(paths: Paths, target: Target, servers: Sequence[ManagedServer], *, replace: bool = False,
            force: bool = False, mint: Callable[[ManagedServer], str] | None = None) -> Path:
    """Write one entry per server into the target's config; returns the backup of the previous file.

    ``mint`` gives each server its credential (the server's ``token``), called only once the file is known to be
    writable and free of a foreign entry of that name, so a refused connect rotates no credential.
    ``force`` writes a config the user made read-only (see :func:`is_read_only`); without it, that is refused.
    """
    location, path = target.location, target.path
    with _locked(paths, path):
        _check_writable(path, force=force)
        original = load_text(path)
        text = original or ""
        created_dirs = _missing_dirs(path)
        data = parse_text(path, text, location.format)
        key_path = location.servers_path(data)
        present = servers_in(data, key_path, location.servers_kind)
        records: list[LedgerRecord] = []
        for server in servers:
            mine = _ledger_entry(paths, path, server.name)
            if server.name in present and mine is None and not replace:
                raise ConflictError(f"{path} already has a server named {server.name!r} that mcpctl did not "
                                    "write.", hint="Pass --replace to point it at the managed server (the "
                                    "file is backed up first).", path=str(path))
        for server in servers:
            mine = _ledger_entry(paths, path, server.name)
            if mint is not None:
                server = _with_token(server, mint(server))
            entry = entry_for(target.client, server, location)
            previous = None if mine is None else mine.edit
            if mine is not None and mine.input is not None:  # the old input goes first, as it was added last
                text = remove_input(path, text, mine.input, created_key=mine.created_inputs_key)
            if server.name in present and (previous is None or previous.in_place):
                # The user's own entry, replaced where it stands: nothing else in the file moves.
                text = replace_server(path, text, location.format, key_path, location.servers_kind,
                                      server.name, entry)
                edit = Edit(in_place=True)
            else:
                if server.name in present:
                    text = remove_server(path, text, location.format, key_path, location.servers_kind,
                                         server.name, previous)
                text, edit = add_server(path, text, location.format, key_path, location.servers_kind,
                                        server.name, entry)
            added_input, created_key = None, False
            if server.token and target.client.credential == "vscode-inputs" and location.format in ("json", "jsonc"):
                wanted = credential_input(target.client, server)
                text, added, created_key = add_input(path, text, wanted)
                added_input = wanted if added else None
            # A rewrite (a rotated credential, a moved port) keeps what the file was before mcpctl first wrote it.
            state = mine.original if mine is not None else OriginalState.of(original)
            blank = mine.original_text if mine is not None else (original if state is OriginalState.EMPTY else None)
            dirs = mine.created_dirs if mine is not None else tuple(str(d) for d in created_dirs)
            records.append(LedgerRecord(target.client.id, location.scope, str(path), server.name, entry, edit,
                                        state, blank, dirs, added_input, created_key))
            present = servers_in(parse_text(path, text, location.format), key_path, location.servers_kind)
        backup = _replace_file(paths, target, original, text, force=force, created_dirs=created_dirs)
        for record in records:
            _update_ledger(paths, path, record.name, record)
    return backup


def _with_token(server: ManagedServer, token: str) -> ManagedServer:
    return replace(server, token=token)  # dataclasses.replace: `connect`'s own `replace` flag shadows it there


def disconnect(paths: Paths, target: Target, names: Sequence[str] | None = None, *, force: bool = False) -> list[str]:
    """Remove the entries mcpctl wrote (all of them, or ``names``); others are never touched. A read-only
    config is refused unless ``force``."""
    location, path = target.location, target.path
    with _locked(paths, path):
        ours = [r for r in _read_ledger(paths) if r.is_for(path) and (names is None or r.name in names)]
        original = load_text(path)
        if original is None:
            for record in ours:
                _update_ledger(paths, path, record.name, None)
            return []
        text = original
        data = parse_text(path, text, location.format)
        key_path = location.servers_path(data)
        present = servers_in(data, key_path, location.servers_kind)
        removed = []
        for record in ours:
            if record.name in present and present[record.name] != record.entry:
                continue  # edited by the user since: theirs now
            if record.input is not None:
                text = remove_input(path, text, record.input, created_key=record.created_inputs_key)
            text = remove_server(path, text, location.format, key_path, location.servers_kind,
                                 record.name, record.edit)
            removed.append(record.name)
        remaining = parse_text(path, text, location.format)
        first = ours[0] if ours else None
        if first and first.original is not OriginalState.PRESENT and not _has_content(remaining):
            final: str | None = None if first.original is OriginalState.MISSING else first.original_text
        else:
            final = text
        if final != original:
            _replace_file(paths, target, original, final, force=force)
        if final is None and first:
            for directory in first.created_dirs:
                with contextlib.suppress(OSError):  # not empty any more: someone else's files live there now
                    Path(directory).rmdir()
        for record in ours:
            _update_ledger(paths, path, record.name, None)
    return removed


def _has_content(data: Any) -> bool:
    if isinstance(data, dict):
        return any(_has_content(v) for v in data.values()) if data else False
    return data not in (None, [], "")


def restore(paths: Paths, client_id: str, *, force: bool = False) -> Path:
    """Put back the file as it was before mcpctl's last change to this client's config, and the ledger's
    records of the entries mcpctl had written in it (a read-only config is refused unless ``force``).

    Backups made before they carried ledger records restore the file alone; its entries then count as
    the user's, which is the safe reading.
    """
    client = get_client(client_id)
    backups = sorted(_backup_dir(paths, client.id).glob("*.json"))
    if not backups:
        raise NotFoundError(f"No backup for {client.name}.", hint="Backups are made by `mcpctl client connect` "
                            "and `disconnect`.")
    latest = backups[-1]
    saved = json.loads(latest.read_text())
    path = Path(saved["path"])
    with _locked(paths, path):
        _check_writable(path, force=force)
        try:
            _write(path, saved["text"] if saved["existed"] else None)
        except OSError as exc:
            raise _write_error(path, exc) from exc
        saved_records = (LedgerRecord.from_json(item) for item in saved.get("ledger") or ())
        _replace_ledger_of(paths, path, [r for r in saved_records if r is not None])
    latest.unlink()
    return path


@dataclass(frozen=True)
class ClientStatus:
    client: Client
    installed: bool
    path: Path | None
    exists: bool
    servers: dict[str, Any]
    managed: list[str]
    error: str | None = None


def detect(paths: Paths, *, home: Path | None = None, os_name: OS | None = None) -> list[ClientStatus]:
    """Every catalog client on this machine (user scope): installed?, its config, its servers."""
    home = home or Path.home()
    system = os_name or current_os()
    ledger = _read_ledger(paths)
    result = []
    for client in CLIENTS:
        marker = client.installed.get(system)
        installed = bool(marker) and Path(expand(marker, system, home)).exists()  # type: ignore[arg-type]
        location = client.location("user")
        path = location.resolve(system, home) if location else None
        servers: dict[str, Any] = {}
        error = None
        if path is not None and location is not None and path.exists():
            try:
                servers = servers_of(parse_text(path, load_text(path) or "", location.format), location)
            except Exception as exc:  # noqa: BLE001 - one unreadable config must not hide the others
                error = str(getattr(exc, "message", exc))
        managed = sorted(r.name for r in ledger if path is not None and r.is_for(path))
        result.append(ClientStatus(client, installed or (path is not None and path.exists()), path,
                                   path is not None and path.exists(), servers, managed, error))
    return result


def status(paths: Paths, target: Target) -> dict[str, Any]:
    location = target.location
    text = load_text(target.path)
    servers = {} if text is None else servers_of(parse_text(target.path, text, location.format), location)
    ours = {r.name: r for r in _read_ledger(paths) if r.is_for(target.path)}
    return {"client": target.client.id, "path": str(target.path), "exists": text is not None,
            "servers": [{"name": name, "managed": name in ours and ours[name].entry == entry,
                         "target": describe_entry(entry)} for name, entry in servers.items()]}


def describe_entry(entry: Any) -> str:
    """Where an entry points (URL or command), never its env or headers, which may hold secrets."""
    if not isinstance(entry, dict):
        return "?"
    for key in URL_KEYS:
        if isinstance(entry.get(key), str):
            return str(entry[key])
    command = entry.get("command") or entry.get("cmd")
    if isinstance(command, list):
        command = command[0] if command else None
    # Only the program: arguments can carry tokens (`--api-key …`), so they are not shown.
    return f"{command} …" if command else "?"


def disconnect_everywhere(paths: Paths, name: str) -> list[str]:
    """Remove ``name`` from every client config mcpctl wrote it to (on `mcpctl rm`); returns client ids.

    One config that cannot be changed (read-only, unparsable) does not stop the others; its error is
    raised once they are done.
    """
    done = []
    first_error: MCPCTLError | None = None
    for record in [r for r in _read_ledger(paths) if r.name == name]:
        client = get_client(record.client)
        location = client.location(record.scope) or client.locations[0]
        try:
            if disconnect(paths, Target(client, location, Path(record.path)), [name]):
                done.append(client.id)
        except MCPCTLError as error:
            first_error = first_error or error
    if first_error is not None:
        raise first_error
    return done
