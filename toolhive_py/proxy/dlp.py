"""Data-loss prevention in the proxy: secrets kept out of what a server returns and out of what the model sends.

Results (every method's; ``tools/call`` text, ``structuredContent`` and resource contents included: the
guard walks every string, keys too): the exact value of a secret injected into this workload
(``integrity.dlp`` fingerprints) refuses the whole result with a JSON-RPC error naming the variable, never the
value, under every ``--dlp`` mode but ``off``. A provider-pattern secret (``detectors.find_secrets``) in a
``tools/call``, ``resources/read``, ``prompts/get`` or ``tasks/result`` result, and in ``tools/call``
arguments before they reach the server, is treated per ``--dlp``: ``redact`` (the default) replaces it with
``[REDACTED:PROVIDER]``, ``block`` refuses, ``warn`` lets it through, ``off`` does not look.

Each refusal is the request's audit outcome (``dlp_withheld``, ``dlp_blocked``); a redaction or a warning is
one more audit record (``dlp_redacted``, ``dlp_warned``) beside the request's. The finding is in the outcome
and the message; a value never is. Fingerprints that cannot be read refuse every result (the proxy cannot
tell whether one holds a secret). A string shorter than the shortest secret is skipped, and the rest cost a
translate and a split in C before anything is hashed, so a 1 KB result adds a few microseconds.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from toolhive_py.detectors import MIN_SECRET_LENGTH, SecretSpan, find_secrets, split_tokens
from toolhive_py.integrity.dlp import FingerprintsError, SecretFingerprints, fingerprints_path, load_fingerprints
from toolhive_py.proxy.audit import Outcome
from toolhive_py.proxy.jsonrpc import SECRET_WITHHELD
from toolhive_py.proxy.policy import Refusal, ToolPolicy
from toolhive_py.proxy.watched import StateGuard, WatchedFile

__all__ = ["CONTENT_METHODS", "DlpAuditSink", "DlpGuard", "redact_spans"]

logger = logging.getLogger(__name__)

# Called with (method, target, outcome) for each redaction or warning.
DlpAuditSink = Callable[[str, str | None, Outcome], None]

# Results that carry content a tool, resource or prompt produced: where provider patterns are looked for.
CONTENT_METHODS: Final = frozenset({"tools/call", "resources/read", "prompts/get", "tasks/result"})
_NAME_LIMIT: Final = 80


def redact_spans(text: str, spans: list[SecretSpan]) -> str:
    """``text`` with each span (in order, not overlapping) replaced by ``[REDACTED:PROVIDER]``."""
    pieces, last = [], 0
    for span in spans:
        pieces += [text[last:span.start], f"[REDACTED:{span.provider}]"]
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces)


class _OwnSecret(Exception):  # noqa: N818 - a signal out of the walk, not an error
    def __init__(self, env: str) -> None:
        self.env = env


class _Scan:
    """One walk over a JSON value: finds, and (``redact``) replaces, copying only what changes."""

    def __init__(self, fingerprints: SecretFingerprints | None, *, providers: bool, redact: bool) -> None:
        self.fingerprints = fingerprints if fingerprints is not None and fingerprints.secrets else None
        self.providers = providers
        self.redact = redact
        self.found: list[str] = []
        lengths = [MIN_SECRET_LENGTH] if providers else []
        if self.fingerprints is not None:
            lengths.append(self.fingerprints.min_length)
        self.min_length = min(lengths) if lengths else -1  # -1: nothing to look for

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            changed: dict[Any, Any] | None = None
            for index, (key, item) in enumerate(value.items()):
                new_key = self.text(key) if isinstance(key, str) else key
                new_item = self.value(item)
                if changed is None and (new_key is not key or new_item is not item):
                    changed = dict(itertools.islice(value.items(), index))
                if changed is not None:
                    changed[new_key] = new_item
            return value if changed is None else changed
        if isinstance(value, list):
            items = [self.value(item) for item in value]
            return value if all(new is old for new, old in zip(items, value, strict=True)) else items
        return value

    def text(self, text: str) -> str:
        if len(text) < self.min_length or self.min_length < 0:
            return text
        data = text.encode("utf-8", "surrogatepass")
        tokens = split_tokens(data)
        lengths = set(map(len, tokens))
        if self.fingerprints is not None:
            env = self.fingerprints.find(data, tokens, lengths)
            if env is not None:
                raise _OwnSecret(env)
        if not self.providers:
            return text
        spans = find_secrets(text, tokens, lengths)
        if not spans:
            return text
        self.found += [span.provider for span in spans]
        return redact_spans(text, spans) if self.redact else text


class DlpGuard(StateGuard):
    """The DLP guard of one workload: ``state_dir`` holds its fingerprints (None: provider patterns only)."""

    def __init__(self, state_dir: Path | None, policy: ToolPolicy | None = None, *,
                 audit: DlpAuditSink | None = None) -> None:
        self.policy = policy or ToolPolicy()
        self.mode = self.policy.dlp
        self.audit = audit
        self._fingerprints = None if state_dir is None else WatchedFile(
            fingerprints_path(state_dir), lambda: load_fingerprints(state_dir), error=FingerprintsError,
            unreadable=lambda exc: FingerprintsError(f"The DLP fingerprints in {fingerprints_path(state_dir)} "
                                                     f"cannot be read ({exc.strerror})."),
            consequence="every result is withheld until it can be read")

    def _current(self) -> SecretFingerprints | None:
        """The fingerprints as the file holds them now (re-read when it changes); raises FingerprintsError."""
        return None if self._fingerprints is None else self._fingerprints.current()

    # ----- the guard ---------------------------------------------------------------------------------

    def check_request(self, method: str, params: Any) -> Refusal | Any:
        if method != "tools/call" or self.mode == "off" or not isinstance(params, dict):
            return params
        arguments = params.get("arguments")
        if not arguments:
            return params
        scan = _Scan(None, providers=True, redact=self.mode == "redact")
        checked = scan.value(arguments)
        if not scan.found:
            return params
        name = params.get("name")
        tool = name if isinstance(name, str) else None
        kinds = ", ".join(sorted(set(scan.found)))
        if self.mode == "block":
            return Refusal(SECRET_WITHHELD, f"The call to tool {_quoted(tool)} was refused: its arguments hold a "
                           f"secret ({kinds}). This server's mcpctl policy blocks secrets in tool arguments "
                           "(--dlp block); give a server its credentials with `mcpctl run --secret`, not through "
                           "the model.", "dlp_blocked")
        self._record(method, tool, "dlp_redacted" if self.mode == "redact" else "dlp_warned")
        return {**params, "arguments": checked} if checked is not arguments else params

    def check_result(self, method: str, target: str | None, result: dict[str, Any]) -> Refusal | dict[str, Any]:
        if self.mode == "off":
            return result
        what = f"{method} {_quoted(target)}" if target is not None else method
        try:
            fingerprints = self._current()
        except FingerprintsError as exc:
            return Refusal(SECRET_WITHHELD, f"The result of {what} was withheld: {exc.message} The proxy cannot "
                           "tell whether it holds one of this server's secrets.", "dlp_withheld")
        scan = _Scan(fingerprints, providers=method in CONTENT_METHODS, redact=self.mode == "redact")
        try:
            checked = scan.value(result)
        except _OwnSecret as own:
            return Refusal(SECRET_WITHHELD, f"The result of {what} was withheld: it holds the value of {own.env}, "
                           "a secret mcpctl injected into this server. A server's own secrets never reach its "
                           "clients through mcpctl's proxy.", "dlp_withheld")
        if not scan.found:
            return result
        kinds = ", ".join(sorted(set(scan.found)))
        if self.mode == "block":
            return Refusal(SECRET_WITHHELD, f"The result of {what} was withheld: it holds a secret ({kinds}). "
                           "This server's mcpctl policy blocks secrets in results (--dlp block).", "dlp_blocked")
        self._record(method, target, "dlp_redacted" if self.mode == "redact" else "dlp_warned")
        return checked if isinstance(checked, dict) else result

    def check_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Error responses, notifications (log messages, progress) and server requests (sampling, elicitation)
        carry text a server chose too: its own secrets withhold the message, provider-pattern secrets are
        treated as in results."""
        if self.mode == "off":
            return message
        method = str(message.get("method") or "error")
        try:
            scan = _Scan(self._current(), providers=True, redact=self.mode == "redact")
            checked = scan.value(message)
        except (FingerprintsError, _OwnSecret):
            self._record(method, None, "dlp_withheld")
            return None
        if not scan.found:
            return message
        if self.mode == "block":
            self._record(method, None, "dlp_blocked")
            return None
        self._record(method, None, "dlp_redacted" if self.mode == "redact" else "dlp_warned")
        return checked if isinstance(checked, dict) else message

    def _record(self, method: str, target: str | None, outcome: Outcome) -> None:
        if self.audit is not None:
            self.audit(method, target, outcome)


def _quoted(name: str | None) -> str:
    return repr(name[:_NAME_LIMIT]) if name is not None else "(unnamed)"
