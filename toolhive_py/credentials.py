"""Per (client, workload) bearer credentials for the local proxy: minting, storing, revoking, matching.

Policy: the token itself lives only in the secret store (the configured backend, the OS keyring by
default), under a reserved name ``mcpctl secret list`` does not show; the proxy's credentials file holds
its SHA-256 only (mode 0600 in a 0700 directory, written atomically). This module is the only writer
and reader of that file. A credentials file that exists but is empty lets nobody in; a missing one is
the migration mode of a workload started before credentials existed (the proxy decides what that means).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.config import atomic_write
from toolhive_py.errors import ConfigError, SecretBackendError, UsageError

if TYPE_CHECKING:
    from toolhive_py.config import Paths
    from toolhive_py.secrets import SecretProvider

__all__ = [
    "MCPCTL_CLIENT",
    "SECRET_PREFIX",
    "TOKEN_PREFIX",
    "CredentialTable",
    "clients_of",
    "credentials_file",
    "ensure_file",
    "is_credential_secret",
    "is_proxy_token",
    "load",
    "mint",
    "new_token",
    "revoke",
    "secret_name",
    "token",
    "token_hash",
]

TOKEN_PREFIX: Final = "mcpctl_pxy_"  # noqa: S105 - a prefix, not a credential
MCPCTL_CLIENT: Final = "mcpctl"
"""The client id of mcpctl's own MCP client (``mcpctl tools``, scan --fix's check)."""
SECRET_PREFIX: Final = "_mcpctl-credential."  # noqa: S105 - a name space, not a credential
"""The reserved name space of proxy tokens in the secret store: ``_mcpctl-credential.<workload>.<client>``."""

_VERSION: Final = 1
_TOKEN_BYTES: Final = 32  # secrets.token_urlsafe(32) is 43 characters
_TOKEN: Final = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")
_WORKLOAD: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
# No '.' in a client id, so the secret name splits back unambiguously at its last '.'; at most 45 characters
# keep the longest secret name (prefix, a 63-character workload, '.', client) within the store's 128.
_CLIENT: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,44}")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def is_proxy_token(value: str) -> bool:
    """Whether ``value`` has the shape of an mcpctl proxy credential (so scan does not report it as leaked)."""
    return _TOKEN.fullmatch(value) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_workload(workload: str) -> str:
    if not _WORKLOAD.fullmatch(workload):
        raise UsageError(f"Invalid workload name {workload!r}.", hint="Use the name shown by `mcpctl list`.",
                         code="invalid-workload-name")
    return workload


def _check_client(client: str) -> str:
    if not _CLIENT.fullmatch(client):
        raise UsageError(f"Invalid client id {client!r}.",
                         hint="Use a client id from `mcpctl client list` (lower-case letters, digits, '-', '_').",
                         code="invalid-client-id")
    return client


def secret_name(workload: str, client: str) -> str:
    """Where the token of (client, workload) lives in the secret store."""
    return f"{SECRET_PREFIX}{_check_workload(workload)}.{_check_client(client)}"


def is_credential_secret(name: str) -> bool:
    """Whether a secret-store name is one of mcpctl's own proxy tokens, not a user secret."""
    return name.startswith(SECRET_PREFIX)


def credentials_file(paths: Paths, workload: str) -> Path:
    return paths.state_dir / "credentials" / f"{_check_workload(workload)}.json"


@dataclass(frozen=True)
class CredentialTable:
    """The hashed credentials of one workload: client id → SHA-256 hex of its token."""

    hashes: Mapping[str, str]
    created: Mapping[str, str] = field(default_factory=dict)

    def match(self, presented_token: str) -> str | None:
        """The client whose token this is, else None. Every entry is compared, each in constant time."""
        presented = token_hash(presented_token).encode()
        found: str | None = None
        for client, digest in self.hashes.items():
            if hmac.compare_digest(presented, digest.encode()):
                found = client
        return found

    def to_json(self) -> bytes:
        clients = {c: {"sha256": self.hashes[c], "created": self.created.get(c, "")} for c in sorted(self.hashes)}
        return (json.dumps({"version": _VERSION, "clients": clients}, indent=2) + "\n").encode()


def _parse(path: Path, raw: bytes) -> CredentialTable:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"The credentials file {path} is unusable: {why}.",
                           hint="Run `mcpctl client connect CLIENT SERVER` again to rewrite it.",
                           code="credentials-unreadable", path=str(path))

    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("clients"), dict):
        raise bad(f"expected {{'version': {_VERSION}, 'clients': {{…}}}}")
    hashes: dict[str, str] = {}
    created: dict[str, str] = {}
    for client, entry in data["clients"].items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise bad(f"client {client!r} has no valid sha256")
        hashes[str(client)] = digest
        created[str(client)] = str(entry.get("created", ""))
    return CredentialTable(hashes, created)


def load(path: Path) -> CredentialTable | None:
    """The table in ``path``; None when there is no file (migration mode); ConfigError when it is unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"The credentials file {path} cannot be read: {exc}", code="credentials-unreadable",
                          path=str(path)) from exc
    return _parse(path, raw)


def _write(path: Path, table: CredentialTable) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        atomic_write(path, table.to_json(), mode=0o600)
    except OSError as exc:
        raise ConfigError(f"The credentials file {path} cannot be written: {exc}", code="credentials-unwritable",
                          path=str(path)) from exc


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of one workload's file (two `client connect` at once lose no entry)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the rename still keeps the file whole
        yield
        return
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _provider(paths: Paths) -> SecretProvider:
    from toolhive_py.secrets import open_provider

    return open_provider(paths)


def ensure_file(paths: Paths, workload: str) -> Path:
    """The workload's credentials file, created empty if missing: nobody is let in until a client connects."""
    path = credentials_file(paths, workload)
    with _locked(path):
        if load(path) is None:
            _write(path, CredentialTable({}))
    return path


def mint(paths: Paths, workload: str, client: str) -> str:
    """A new token for (client, workload), replacing any earlier one; the token goes to the secret store,
    its hash to the credentials file. Returns the token."""
    name = secret_name(workload, client)
    provider = _provider(paths)
    if not provider.capabilities.can_write:
        raise SecretBackendError(
            f"The {provider.name} secret backend is read-only, so a client credential cannot be stored.",
            hint="Use the keyring or Vault (`mcpctl secret backend keyring`) and connect the client again.",
            code="secret-backend-read-only")
    value = new_token()
    provider.set(name, value)
    path = credentials_file(paths, workload)
    with _locked(path):
        table = load(path) or CredentialTable({})
        created = datetime.now(UTC).isoformat(timespec="seconds")
        _write(path, CredentialTable({**table.hashes, client: token_hash(value)},
                                     {**table.created, client: created}))
    return value


def token(paths: Paths, workload: str, client: str) -> str | None:
    """The stored token of (client, workload), or None when it was never minted or has been revoked."""
    return _provider(paths).get(secret_name(workload, client))


def clients_of(paths: Paths, workload: str) -> list[str]:
    table = load(credentials_file(paths, workload))
    return sorted(table.hashes) if table else []


def revoke(paths: Paths, workload: str, client: str | None = None) -> list[str]:
    """Invalidate the credential of ``client`` (every client of the workload when None); returns the
    clients revoked. The hash entries go first, so the proxy refuses the token even if the secret store
    then fails."""
    path = credentials_file(paths, workload)
    if client is not None:
        _check_client(client)
    with _locked(path):
        table = load(path)
        known = set(table.hashes) if table else set()
        doomed = known if client is None else known & {client}
        if table is not None and doomed:
            _write(path, CredentialTable({c: h for c, h in table.hashes.items() if c not in doomed},
                                         {c: t for c, t in table.created.items() if c not in doomed}))
    provider = _provider(paths)
    candidates = set(doomed) if client is None else {client}
    if client is None and provider.capabilities.can_list:
        prefix = f"{SECRET_PREFIX}{_check_workload(workload)}."
        candidates |= {n[len(prefix):] for n in provider.list_names()
                       if n.startswith(prefix) and _CLIENT.fullmatch(n[len(prefix):])}
    revoked = set(doomed)
    if provider.capabilities.can_write:
        for name in sorted(candidates):
            if provider.delete(secret_name(workload, name)):
                revoked.add(name)
    return sorted(revoked)
