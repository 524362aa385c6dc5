"""One server (a config entry, a process or a container) → a finding: identity, secrets, status, risk.
Everything it needs (registry index, managed URLs) is passed in; the only I/O is reading the side env
files an entry names.

mcpctl's own proxy credentials (``credentials.is_proxy_token``, written by `mcpctl client connect`) are told
apart before any secret pattern runs: they open one local proxy of this user, not a third-party account, so
they are reported as an ``info`` reason (``proxy-credential``), never as a leaked secret, and `--fix` does not
move them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from toolhive_py import detectors
from toolhive_py.clients.catalog import URL_KEYS
from toolhive_py.credentials import is_proxy_token
from toolhive_py.scan.identify import Identity, from_command, from_url, program_name
from toolhive_py.scan.model import Reason, SecretFinding, ServerFinding

__all__ = ["PROXY_CREDENTIAL", "Context", "Located", "add_secret", "analyze_command", "args_secrets", "analyze_entry",
           "command_line", "entry_secrets", "secrets_in_env_file"]

PROXY_CREDENTIAL = "mcpctl-proxy-credential"
"""The provider name of a located mcpctl proxy credential (kept out of a finding's secrets)."""

_URL_KEYS = URL_KEYS
_ENV_KEYS = ("env", "envs", "environment")
_ENV_FILE_KEYS = ("envFile", "env_file", "envfile")
_REFERENCE_KEY = re.compile(r"(?i)(_env_var|envvar|_env)$")


@dataclass(frozen=True)
class Context:
    """What identification needs: registry entries by package/image, and the URLs of managed proxies."""

    registry: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (kind, package) -> registry name
    managed_urls: frozenset[str] = frozenset()


Located = list[tuple[str, detectors.SecretMatch]]  # (location, match): env:NAME, arg:3, header:NAME, …


def _proxy_token_in(value: str) -> str | None:
    """The mcpctl proxy credential a value is (``Bearer mcpctl_pxy_…``, ``Authorization: Bearer …`` or the bare
    token), checked first: its random part could contain another provider's prefix."""
    words = value.split()
    return words[-1] if words and is_proxy_token(words[-1]) else None


def _check(found: Located, value: Any, name: str | None, location: str) -> None:
    if isinstance(value, str):
        proxy_token = _proxy_token_in(value)
        if proxy_token is not None:
            found.append((location, detectors.SecretMatch(PROXY_CREDENTIAL, proxy_token)))
            return
        match = detectors.detect(value, name)
        if match is not None:
            found.append((location, match))


def add_secret(findings: list[SecretFinding], value: Any, name: str | None, location: str) -> None:
    located: Located = []
    _check(located, value, name, location)
    findings.extend(_redacted(located))


def _redacted(located: Located) -> list[SecretFinding]:
    """What a report may hold about a secret: never the value. mcpctl's proxy credentials are no secret finding
    (see :func:`_proxy_reasons`)."""
    return [SecretFinding(match.provider, location, match.redacted, match.fingerprint) for location, match in located
            if match.provider != PROXY_CREDENTIAL]


def _proxy_reasons(located: Located) -> list[Reason]:
    return [Reason("proxy-credential", "info", f"mcpctl proxy credential in {location} ({match.redacted}): it opens "
                   "only one local mcpctl proxy of this user, it is not an upstream key")
            for location, match in located if match.provider == PROXY_CREDENTIAL]


def _scan_args(args: list[str], found: Located) -> None:
    previous: str | None = None
    for index, arg in enumerate(args):
        name = previous if previous and previous.startswith("-") else None
        if arg.startswith("-") and "=" in arg:
            name, _, value = arg.partition("=")
            _check(found, value, name, f"arg:{index}")
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", arg):
            key, _, value = arg.partition("=")
            _check(found, value, key, f"arg:{index}")
        else:
            _check(found, arg, name, f"arg:{index}")
        previous = arg


def _scan_url(url: str, found: Located) -> None:
    parts = urlsplit(url)
    for key, value in parse_qsl(parts.query):
        _check(found, value, key, f"url-query:{key}")
    password = detectors.userinfo_password(url)
    if password is not None:
        match = detectors.detect(password) or detectors.SecretMatch(detectors.CONNECTION_STRING, password)
        found.append(("url-userinfo", match))


_MAX_ENV_FILE = 1024 * 1024


def secrets_in_env_file(path: Path) -> Located:
    """Secrets in a side env file; raises OSError for anything that is not a small regular file, so an
    ``envFile`` pointing at /dev/zero or a FIFO is a scan error instead of a scan that never ends."""
    if not path.is_file():
        raise OSError("not a regular file" if path.exists() else "no such file")
    with path.open("rb") as fh:
        raw = fh.read(_MAX_ENV_FILE + 1)
    if len(raw) > _MAX_ENV_FILE:
        raise OSError(f"larger than {_MAX_ENV_FILE} bytes, not read")
    found: Located = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not key.startswith("#"):
            _check(found, value.strip().strip("'\""), key.strip(), f"file:{path}:{key.strip()}")
    return found


def _flat(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """Zed's older shape nests the command: ``"command": {"path", "args", "env"}``; read it like the flat one."""
    nested = entry.get("command")
    if not isinstance(nested, Mapping):
        return entry
    return {**entry, "command": nested.get("path", ""), "args": nested.get("args") or [],
            "env": {**(entry.get("env") or {}), **(nested.get("env") or {})}}


def _command_of(entry: Mapping[str, Any]) -> tuple[str, list[str]]:
    command = entry.get("command", entry.get("cmd"))
    args = [str(a) for a in entry.get("args") or [] if isinstance(a, str | int | float)]
    if isinstance(command, list):  # opencode: the whole command line as one list
        return (str(command[0]), [str(a) for a in command[1:]]) if command else ("", [])
    return (command, args) if isinstance(command, str) else ("", args)


def command_line(entry: Mapping[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """(program name, arguments) of a stdio entry, the way a process running it would show them."""
    command, args = _command_of(_flat(entry))
    return (program_name(command), tuple(args)) if command else None


def entry_secrets(entry: Mapping[str, Any], base_dir: Path | None) -> tuple[Located, list[str]]:
    """Every plaintext secret in a config entry with where it sits, and side files that could not be read.

    The one place that knows where secrets hide in an entry: the scan redacts what this returns, and
    `--fix --apply` re-reads the live value from here when it moves a secret into the backend.
    """
    entry = _flat(entry)
    found: Located = []
    problems: list[str] = []
    for key in _ENV_KEYS:
        env = entry.get(key)
        if isinstance(env, Mapping):
            for name, value in env.items():
                if not _REFERENCE_KEY.search(str(name)):
                    _check(found, value, str(name), f"env:{name}")
    headers = entry.get("headers") or entry.get("http_headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            _check(found, value, str(name), f"header:{name}")
    for key, value in entry.items():
        if key not in (*_ENV_KEYS, "headers", "http_headers", "args", "command", "cmd", *_URL_KEYS) \
                and isinstance(value, str) and not _REFERENCE_KEY.search(key):
            _check(found, value, key, f"field:{key}")
    for key in _ENV_FILE_KEYS:
        if isinstance(entry.get(key), str) and base_dir is not None:
            # VS Code and Cursor write ${workspaceFolder}/.env: the folder that holds .vscode/ or .cursor/.
            workspace = base_dir.parent if base_dir.name.startswith(".") else base_dir
            raw = entry[key].replace("${workspaceFolder}", str(workspace))
            if "${" in raw:
                continue  # a variable only the client can resolve
            path = (base_dir / raw).expanduser()
            try:
                found.extend(secrets_in_env_file(path))
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror or exc}")
    url = next((entry[k] for k in _URL_KEYS if isinstance(entry.get(k), str)), None)
    if url is not None:
        _scan_url(url, found)
    else:
        _scan_args(_command_of(entry)[1], found)
    return found, problems


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _broad_paths(args: Iterable[str], home: str | None) -> list[str]:
    broad = []
    for arg in args:
        value = arg.split(":", 1)[0] if arg.count(":") == 1 and arg.startswith("/") else arg
        if value in ("/", "~", "~/", "C:\\", "C:/") or (home and value.rstrip("/") == home.rstrip("/")):
            broad.append(arg)
    return broad


def _identity_status(identity: Identity, context: Context, finding: ServerFinding) -> None:
    finding.kind, finding.package, finding.version = identity.kind, identity.package, identity.version
    finding.pinned, finding.target = identity.pinned, identity.target
    if identity.kind == "url" and identity.target in context.managed_urls:
        finding.status = "managed"
        return
    if identity.package and (identity.kind, identity.package) in context.registry:
        finding.status = "vetted"
        finding.registry_match = context.registry[(identity.kind, identity.package)]


def analyze_command(finding: ServerFinding, command: str, args: list[str], context: Context,
                    home: str | None = None) -> None:
    """A running process's command line: what it runs, the secrets in its arguments, and its risks."""
    located: Located = []
    _scan_args(args, located)
    finding.secrets.extend(_redacted(located))
    finding.reasons.extend(_proxy_reasons(located))
    _judge_command(finding, command, args, context, home)


def args_secrets(args: list[str]) -> list[SecretFinding]:
    """Secrets in a command line (a process's, or a container's command), redacted."""
    located: Located = []
    _scan_args(args, located)
    return _redacted(located)


_HOST_NAMESPACE_FLAGS = ("--network", "--net", "--pid", "--ipc", "--uts", "--userns")


def _privileged(args: list[str]) -> bool:
    """`docker run --privileged`, or one of the host's namespaces (`--network host`, `--pid=host`, …)."""
    for index, arg in enumerate(args):
        flag, sep, value = arg.partition("=")
        if arg == "--privileged" or (flag in _HOST_NAMESPACE_FLAGS and (
                value if sep else (args[index + 1] if index + 1 < len(args) else "")) == "host"):
            return True
    return False


def _judge_command(finding: ServerFinding, command: str, args: list[str], context: Context, home: str | None) -> None:
    identity = from_command(command, args)
    _identity_status(identity, context, finding)
    if "connect" in args and (Path(command).name in ("mcpctl", "mcpctl.exe") or "toolhive_py" in args):
        finding.status = "managed"
    for arg in _broad_paths(args, home):
        finding.reasons.append(Reason("broad-filesystem", "medium", f"broad filesystem access: {arg}"))
    if identity.kind == "image" and _privileged(args):
        finding.reasons.append(Reason("privileged-container", "high", "container runs privileged or on the "
                                      "host network"))


def analyze_entry(finding: ServerFinding, entry: Mapping[str, Any], context: Context, *, base_dir: Path | None,
                  home: str | None) -> list[str]:
    """Fill ``finding`` from a config entry; returns side-file problems (unreadable env files)."""
    located, problems = entry_secrets(entry, base_dir)
    entry = _flat(entry)
    url = next((entry[k] for k in _URL_KEYS if isinstance(entry.get(k), str)), None)
    if url is not None:
        finding.transport = "sse" if url.rstrip("/").endswith("/sse") or entry.get("type") == "sse" else "http"
        _identity_status(from_url(url), context, finding)
        parts = urlsplit(url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            finding.reasons.append(Reason("insecure-remote", "high", f"remote server over plain http: "
                                          f"{parts.netloc.rpartition('@')[2]}"))
    else:
        command, args = _command_of(entry)
        if command:
            _judge_command(finding, command, args, context, home)
    finding.secrets.extend(_redacted(located))
    finding.reasons.extend(_proxy_reasons(located))
    return problems
