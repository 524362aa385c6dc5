"""Who may use the proxy: the ASGI middleware in front of the whole HTTP face.

Policy, in order, for every HTTP request:

1. **Peer uid** (Linux): the loopback socket on the other end must belong to the proxy's own user, root, or a
   uid given with ``--allow-uid``; anyone else gets 403 before anything else runs (``peers.py`` finds the
   owner in the kernel's socket table). Where that cannot be looked up (not Linux) the check is off, logged once.
2. **Bearer credential** on the MCP endpoints (``/mcp``, ``/mcp/``, ``/sse``, ``/messages``, ``/messages/``),
   when the proxy was given a credentials file: ``Authorization: Bearer <token>`` must match one of its
   entries (``toolhive_py.credentials``; SHA-256, constant-time compare), else 401 with a ``WWW-Authenticate``
   challenge as RFC 6750 §3 says. The file is re-read when its stat changes, so a revocation takes effect on
   the next request, and an open stream (GET /mcp, GET /sse) is ended within a second. A file that does not
   exist is the migration mode of a workload started before credentials: requests pass as client ``-``; once
   the proxy has seen the file, its removal lets nobody in. A file that cannot be used lets nobody in either
   (503), until it is fixed.
3. **Probes**: ``/health/live`` needs no credential; ``/health/ready`` tells a caller without one only its
   ``status`` (no server name, backend, argv or error text) and ``/metrics`` (tool names) needs one.

The matched client id goes into the ASGI scope under :data:`CLIENT_SCOPE_KEY` (``-`` for none) for the
front to put into each request's audit record.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from toolhive_py import credentials as creds
from toolhive_py.errors import ConfigError
from toolhive_py.proxy.peers import PeerOwners, is_allowed_uid
from toolhive_py.proxy.watched import WatchedFile

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CLIENT_SCOPE_KEY",
    "MCP_PATHS",
    "NO_CLIENT",
    "CredentialCheck",
    "PeerCheck",
    "Verdict",
    "bearer_token",
    "challenge",
    "client_of",
    "protect",
]

logger = logging.getLogger(__name__)

CLIENT_SCOPE_KEY: Final = "mcpctl.client"
NO_CLIENT: Final = "-"
REALM: Final = "mcpctl"
MCP_PATHS: Final = frozenset({"/mcp", "/mcp/", "/sse", "/messages", "/messages/"})
_READY: Final = "/health/ready"
_METRICS: Final = "/metrics"
_CONNECT_HINT: Final = ("Connect the client with `mcpctl client connect CLIENT SERVER`, which gives it its own "
                        "credential for this proxy.")


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of the request's one ``Authorization: Bearer …`` header (scheme case-insensitive); None when
    there is none, it uses another scheme, or there are several (which one would count is ambiguous)."""
    values = [value for key, value in headers if key.lower() == b"authorization"]
    if len(values) != 1:
        return None
    scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def client_of(request: Any) -> str:
    """The client id the middleware put into the scope of ``request`` (a starlette Request, or None as the
    SDK's message metadata may give), for the request's audit record; ``-`` when there is none."""
    scope = getattr(request, "scope", None)
    client = scope.get(CLIENT_SCOPE_KEY) if isinstance(scope, dict) else None
    return client if isinstance(client, str) else NO_CLIENT


def challenge(error: str | None) -> str:
    """The ``WWW-Authenticate`` value: no error code when no credential was sent (RFC 6750 §3.1)."""
    return f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")


class Verdict:
    """What the credential check says about one request: ``client`` (the id, or ``-``), or a refusal."""

    __slots__ = ("client", "error", "status")

    def __init__(self, client: str | None, status: int = 200, error: str | None = None) -> None:
        self.client = client
        self.status = status
        self.error = error

    @property
    def allowed(self) -> bool:
        return self.client is not None


class CredentialCheck:
    """Matches presented tokens against the workload's credentials file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: WatchedFile[creds.CredentialTable | None, ConfigError] = WatchedFile(
            path, lambda: creds.load(path), error=ConfigError,
            unreadable=lambda exc: ConfigError(f"The credentials file {path} cannot be read: {exc}",
                                               code="credentials-unreadable"),
            consequence="every MCP request is refused until the file is fixed")
        self._seen = False
        self._migration_logged = False

    def table(self) -> creds.CredentialTable | None:
        """The current table; None in migration mode; raises ConfigError while the file is unusable."""
        table = self._file.current()
        if table is not None:
            self._seen = True
            return table
        if self._seen:  # it existed while we ran: gone now means nobody, never "open"
            return creds.CredentialTable({})
        if not self._migration_logged:
            self._migration_logged = True
            logger.warning("no credentials file at %s: migration mode, MCP requests pass unauthenticated "
                           "(`mcpctl client connect` creates it)", self.path)
        return None

    def verdict(self, token: str | None) -> Verdict:
        try:
            table = self.table()
        except ConfigError:
            return Verdict(None, 503, "credentials_unavailable")
        if table is None:
            return Verdict(NO_CLIENT)
        if token is None:
            return Verdict(None, 401)
        client = table.match(token)
        return Verdict(client) if client is not None else Verdict(None, 401, "invalid_token")

    def authenticated(self, token: str | None) -> bool:
        """Whether ``token`` names a client now (never true in migration mode: there is no one to name)."""
        if token is None:
            return False
        try:
            table = self.table()
        except ConfigError:
            return False
        return table is not None and table.match(token) is not None


class PeerCheck:
    """The peer-uid rule: the proxy's own uid, root and ``allowed``. Off (everyone passes) where the owner of
    a socket cannot be looked up."""

    def __init__(self, allowed: Iterable[int] = (), *, owners: PeerOwners | None = None) -> None:
        self.owners = owners or PeerOwners()
        self.own = os.getuid() if hasattr(os, "getuid") else -1
        self.allowed = frozenset(allowed)
        self._refused_logged: set[int | None] = set()
        if not self.owners.supported:
            logger.warning("the peer-uid check is off: the owner of a loopback connection cannot be looked up on "
                           "this platform; only the bearer credential protects this proxy")

    def allows(self, scope: Scope) -> bool:
        if not self.owners.supported:
            return True
        client, server = scope.get("client"), scope.get("server")
        if not client or not server:
            return False
        uid = self.owners.owner((str(client[0]), int(client[1])), (str(server[0]), int(server[1])))
        if is_allowed_uid(uid, own=self.own, allowed=self.allowed):
            return True
        if uid not in self._refused_logged and len(self._refused_logged) < 100:
            self._refused_logged.add(uid)
            logger.warning("refused a connection of %s (allow it with --allow-uid)",
                           "an unknown user" if uid is None else f"uid {uid}")
        return False


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()) \
        -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


async def _unauthorized(send: Send, verdict: Verdict, *, status_only: bool = False) -> None:
    if verdict.status == 503:
        await _send_json(send, 503, {"status": "unavailable"} if status_only else {
            "error": "credentials_unavailable",
            "error_description": "The proxy cannot read its credentials file; see its log."})
        return
    body: dict[str, Any] = {"status": "unauthorized"} if status_only else {
        "error": verdict.error or "unauthorized",
        "error_description": ("This credential is not (or no longer) valid for this proxy. " if verdict.error
                              else "This proxy needs an Authorization: Bearer credential. ") + _CONNECT_HINT}
    await _send_json(send, 401, body, [(b"www-authenticate", challenge(verdict.error).encode())])


async def _status_only(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the readiness probe, then pass on its status code and ``status`` field, nothing else."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, keep)
    status = int(start.get("status", 500))
    try:
        answer = json.loads(b"".join(chunks))
        shown = answer.get("status") if isinstance(answer, dict) else None
    except ValueError:
        shown = None
    await _send_json(send, status, {"status": shown if isinstance(shown, str) else ("ok" if status < 400 else "error")})


async def _until_revoked(app: ASGIApp, scope: Scope, receive: Receive, send: Send, still_valid: Callable[[], bool],
                         every: float) -> None:
    """Serve a long-lived stream (GET /mcp, GET /sse) only while its credential stays valid: checked every
    ``every`` seconds (one ``stat``), and the stream is ended when the credential is revoked or rotated."""
    import anyio

    started = ended = revoked = False

    async def tracked(message: Message) -> None:
        nonlocal started, ended
        if message["type"] == "http.response.start":
            started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            ended = True
        await send(message)

    async with anyio.create_task_group() as tg:
        async def serve() -> None:
            await app(scope, receive, tracked)
            tg.cancel_scope.cancel()

        async def watch() -> None:
            nonlocal revoked
            while still_valid():
                await anyio.sleep(every)
            revoked = True
            tg.cancel_scope.cancel()

        tg.start_soon(serve)
        tg.start_soon(watch)
    if revoked:
        logger.info("ended a %s stream of client %s: its credential was revoked", scope["path"],
                    scope.get(CLIENT_SCOPE_KEY, NO_CLIENT))
        if not started:
            await _unauthorized(send, Verdict(None, 401, "invalid_token"))
        elif not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def protect(app: ASGIApp, *, credentials: Path | None, allowed_uids: Iterable[int] = (),
            peer_check: bool = True, owners: PeerOwners | None = None, recheck_every: float = 1.0) -> ASGIApp:
    """``app`` behind the peer-uid check and, when ``credentials`` is given, the bearer check (see the module
    docstring). ``peer_check=False`` is for callers that are not a loopback server (in-process tests).
    ``recheck_every``: how often an open stream's credential is checked again."""
    peers = PeerCheck(allowed_uids, owners=owners) if peer_check else None
    check = CredentialCheck(credentials) if credentials is not None else None

    async def protected(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        scope[CLIENT_SCOPE_KEY] = NO_CLIENT
        if peers is not None and not peers.allows(scope):
            await _send_json(send, 403, {"error": "forbidden",
                                         "error_description": "This proxy serves only its owner's processes."})
            return
        if check is None:
            await app(scope, receive, send)
            return
        path = scope["path"]
        if path in MCP_PATHS:
            token = bearer_token(scope["headers"])
            verdict = check.verdict(token)
            if not verdict.allowed:
                await _unauthorized(send, verdict)
                return
            scope[CLIENT_SCOPE_KEY] = client = verdict.client
            if scope["method"] == "GET":
                await _until_revoked(app, scope, receive, send, lambda: check.verdict(token).client == client,
                                     recheck_every)
                return
        elif path in (_READY, _METRICS) and not check.authenticated(bearer_token(scope["headers"])):
            if path == _READY:
                await _status_only(app, scope, receive, send)
            else:
                await _unauthorized(send, Verdict(None, 401), status_only=True)
            return
        await app(scope, receive, send)

    return protected
