"""The audit log: one JSON line per MCP request, never an argument or result value."""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ["AuditLog", "AuditRecord", "EventLog", "FindingsRecord", "Outcome", "outcome_of", "refusal_outcome",
           "target_of"]

# ok: answered. tool_error: a tools/call whose result says isError (the tool ran and failed). error: a
# JSON-RPC error from the server, or the server went away. cancelled: the client cancelled the request, or the
# proxy did when a tool call outlived its timeout (recorded then; the server's late answer is dropped).
# denied, rate_limited: the tool policy.
# invalid: a request the proxy refused as malformed (JSON-RPC -32600/-32602/-32700, HTTP 4xx).
# refused: a foreign Host (421) or Origin (403), or a peer of another local user (403, proxy.auth).
# unauthorized: no valid client credential (401, proxy.auth). too_large: a body over the limit (413).
# unapproved: a call to a tool (prompt, resource) withheld by pinning until `mcpctl tools approve`.
# pin_new, pin_changed, pin_removed: not a request but a change pinning saw in a list (one record per change,
# target the tool's name or the resource's URI; method the list it was seen in).
# dlp_withheld: a result refused because it held a secret injected into this workload. dlp_blocked: a call
# or result refused for a provider-pattern secret (--dlp block). dlp_redacted, dlp_warned: not a request's
# outcome but what DLP did to one that went on (the secret replaced by a marker, or let through under
# --dlp warn); one such record beside the request's own, target the tool, prompt or resource.
# screen_withheld: not a request but a tool that screening withheld from a list (one record per tool and
# definition, with its finding codes in ``findings``). screen_refused: a call to such a tool.
Outcome = Literal["ok", "tool_error", "error", "cancelled", "denied", "rate_limited", "invalid", "refused",
                  "unauthorized", "too_large",
                  "unapproved", "pin_new", "pin_changed", "pin_removed",
                  "dlp_withheld", "dlp_blocked", "dlp_redacted", "dlp_warned", "screen_withheld", "screen_refused"]

# The params key that names what a request acts on, per method.
_TARGET_KEYS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri",
                "resources/subscribe": "uri", "resources/unsubscribe": "uri"}


def target_of(method: str, params: Any) -> str | None:
    """The tool, prompt or resource a request names (its identifier only, never its arguments)."""
    key = _TARGET_KEYS.get(method)
    if key is None or not isinstance(params, dict):
        return None
    value = params.get(key)
    return value if isinstance(value, str) else None


def outcome_of(method: str, response: dict[str, Any]) -> Outcome:
    """The outcome of a request the server answered: a tool that reports failure is not ``ok``."""
    if "error" in response:
        return "error"
    result = response.get("result")
    if method == "tools/call" and isinstance(result, dict) and result.get("isError") is True:
        return "tool_error"
    return "ok"


def refusal_outcome(status: int) -> Outcome:
    """The outcome of a request the proxy's HTTP front refused with ``status``."""
    if status in (403, 421):
        return "refused"
    if status == 401:
        return "unauthorized"
    if status == 413:
        return "too_large"
    return "invalid" if status < 500 else "error"


@dataclass(frozen=True)
class AuditRecord:
    time: str
    server: str
    client_name: str | None
    client_version: str | None
    session: str
    method: str
    target: str | None
    duration_ms: float
    outcome: Outcome
    trace_id: str
    # The client credential the request carried (toolhive_py.credentials), "-" for none: no bearer check, the
    # migration mode of a workload started before credentials, or a refusal before the check.
    client: str = "-"

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends records to a JSON-lines file that only the owner can read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, record: AuditRecord) -> None:
        line = json.dumps(asdict(record), separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class FindingsRecord(AuditRecord):
    """An event record with the finding codes behind it (screening's withheld tools): codes only, never text."""

    findings: tuple[str, ...] = ()


class EventLog:
    """Records that are not a request's own (a change pinning saw, a tool screening withheld, what DLP did to a
    request), written by the guards to a workload's audit log. The file is opened at the first record: most
    proxies never write one."""

    def __init__(self, path: Path, server: str) -> None:
        self.path = path
        self.server = server
        self._log: AuditLog | None = None

    def write(self, method: str, target: str | None, outcome: Outcome, findings: tuple[str, ...] = ()) -> None:
        if self._log is None:
            self._log = AuditLog(self.path)
        fields: dict[str, Any] = {"time": AuditRecord.now(), "server": self.server, "client_name": None,
                                  "client_version": None, "session": "", "method": method, "target": target,
                                  "duration_ms": 0.0, "outcome": outcome, "trace_id": secrets.token_hex(16)}
        self._log.write(FindingsRecord(**fields, findings=findings) if findings else AuditRecord(**fields))

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
