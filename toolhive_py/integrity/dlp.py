"""Keyed fingerprints of the secrets injected into a workload, so its proxy can recognise them in what the
server returns without ever holding them.

Policy: ``run`` calls ``write_fingerprints`` with the values it resolved, before the container starts; the
file (``<workload state>/dlp-fingerprints.json``, 0600, written atomically) holds a random per-workload key
and, per secret, HMAC-SHA256 digests and lengths, never a value. Whoever can read the file can test a guess
against it, which is why it is as private as the audit log beside it; nobody can read a value out of it.

Matching is by token (``detectors.split_tokens``): a secret that is one token (``ghp_…``, ``sk-…``) is found
wherever it stands whole in a text; one with punctuation in it (a base64 key, a password) is found by its
longest token, then confirmed by hashing the text around it. Lengths let the proxy hash only the tokens that
could be a secret, so a check is linear in the text's size. A copy glued to other letters, split, or encoded
(base64, JSON escapes of a non-ASCII value) is not recognised: this stops accidents (``get_env``, a stack
trace, ``env`` output), not a server set on smuggling its own credentials out.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from toolhive_py.config import atomic_write
from toolhive_py.detectors import split_tokens, token_spans
from toolhive_py.errors import ConfigError

__all__ = ["FINGERPRINTS_FILE", "MIN_ANCHOR_LENGTH", "MIN_VALUE_LENGTH", "FingerprintsError", "SecretFingerprint",
           "SecretFingerprints", "fingerprint_secret", "fingerprints_path", "load_fingerprints",
           "write_fingerprints"]

FINGERPRINTS_FILE: Final = "dlp-fingerprints.json"
_VERSION: Final = 1
# Shorter values (a port, "true", a PIN) would make the proxy refuse results for ordinary text; they are not
# fingerprinted. A value needs a token of at least MIN_ANCHOR_LENGTH bytes to be looked for.
MIN_VALUE_LENGTH: Final = 8
MIN_ANCHOR_LENGTH: Final = 4
_HINT: Final = "Run the workload again (`mcpctl rm NAME`, then `mcpctl run … --secret …`) to write them afresh."


class FingerprintsError(ConfigError):
    """The fingerprints file exists but cannot be read: the proxy cannot tell whether a result holds a secret."""


@dataclass(frozen=True)
class SecretFingerprint:
    """One injected secret, as the proxy knows it: lengths in UTF-8 bytes, digests keyed."""

    env: str                # the variable it was injected as (a name, never the value)
    length: int
    digest: bytes           # HMAC-SHA256 of the whole value
    anchor_offset: int      # where the value's longest token starts in it
    anchor_length: int
    anchor_digest: bytes    # HMAC-SHA256 of that token

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "length": self.length, "digest": self.digest.hex(),
                "anchor_offset": self.anchor_offset, "anchor_length": self.anchor_length,
                "anchor_digest": self.anchor_digest.hex()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretFingerprint:
        return cls(str(data["env"]), int(data["length"]), bytes.fromhex(data["digest"]), int(data["anchor_offset"]),
                   int(data["anchor_length"]), bytes.fromhex(data["anchor_digest"]))


def _digest(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def fingerprint_secret(key: bytes, env: str, value: str) -> SecretFingerprint | None:
    """The fingerprint of ``value`` under ``key``, or None for a value too short to look for safely."""
    data = value.encode("utf-8", "surrogatepass")
    tokens = token_spans(data)
    if len(data) < MIN_VALUE_LENGTH or not tokens:
        return None
    start, end = max(tokens, key=lambda span: span[1] - span[0])  # the first of the longest
    if end - start < MIN_ANCHOR_LENGTH:
        return None
    return SecretFingerprint(env, len(data), _digest(key, data), start, end - start, _digest(key, data[start:end]))


def fingerprints_path(state_dir: Path) -> Path:
    return state_dir / FINGERPRINTS_FILE


def write_fingerprints(state_dir: Path, values: Mapping[str, str]) -> None:
    """Record keyed fingerprints of a workload's injected secrets (env name → value), replacing any earlier
    ones, under a fresh random key. Values too short to look for (``MIN_VALUE_LENGTH``) are left out."""
    key = secrets.token_bytes(32)
    found = (fingerprint_secret(key, env, value) for env, value in sorted(values.items()))
    document = {"version": _VERSION, "key": key.hex(), "secrets": [f.to_json() for f in found if f is not None]}
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(fingerprints_path(state_dir), json.dumps(document, indent=2).encode(), mode=0o600)


@dataclass(frozen=True)
class SecretFingerprints:
    """A workload's fingerprints, indexed for the proxy: by token length, then by the token's digest."""

    key: bytes
    secrets: tuple[SecretFingerprint, ...]
    _by_anchor: dict[int, dict[bytes, list[SecretFingerprint]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[int, dict[bytes, list[SecretFingerprint]]] = {}
        for fingerprint in self.secrets:
            index.setdefault(fingerprint.anchor_length, {}).setdefault(fingerprint.anchor_digest, []).append(fingerprint)
        object.__setattr__(self, "_by_anchor", index)

    @property
    def anchor_lengths(self) -> frozenset[int]:
        return frozenset(self._by_anchor)

    @property
    def min_length(self) -> int:
        """The shortest text that can hold one of the secrets (0 when there are none)."""
        return min((f.length for f in self.secrets), default=0)

    def find(self, data: bytes, tokens: Sequence[bytes] | None = None,
             lengths: Collection[int] | None = None) -> str | None:
        """The env name of a secret whose exact value is in UTF-8 ``data``, or None. ``tokens`` and
        ``lengths`` (``split_tokens(data)`` and their lengths) save the work when the caller has it."""
        if not self._by_anchor or len(data) < self.min_length:
            return None
        if tokens is None:
            tokens = split_tokens(data)
        if lengths is None:
            lengths = set(map(len, tokens))
        if self._by_anchor.keys().isdisjoint(lengths):
            return None
        confirmed: set[bytes] = set()  # anchors whose every occurrence was checked: a repeat costs nothing
        for token in tokens:
            candidates = self._by_anchor.get(len(token))
            if candidates is None or token in confirmed:
                continue
            for fingerprint in candidates.get(_digest(self.key, token), ()):
                if fingerprint.length == fingerprint.anchor_length or self._confirm(data, token, fingerprint):
                    return fingerprint.env
                confirmed.add(token)
        return None

    def find_text(self, text: str) -> str | None:
        return self.find(text.encode("utf-8", "surrogatepass"))

    def _confirm(self, data: bytes, token: bytes, fingerprint: SecretFingerprint) -> bool:
        """The anchor matched somewhere: is the whole value around one of its occurrences?"""
        at = data.find(token)
        while at >= 0:
            start = at - fingerprint.anchor_offset
            if start >= 0 and hmac.compare_digest(
                    _digest(self.key, data[start:start + fingerprint.length]), fingerprint.digest):
                return True
            at = data.find(token, at + 1)
        return False


def load_fingerprints(state_dir: Path) -> SecretFingerprints | None:
    """The workload's fingerprints, None when it has no file (no secrets, or started by hand); raises
    FingerprintsError for a file that is there but unreadable or malformed."""
    path = fingerprints_path(state_dir)
    try:
        document = json.loads(path.read_bytes())
        if document.get("version") != _VERSION:
            raise ValueError(f"version {document.get('version')!r}, expected {_VERSION}")
        return SecretFingerprints(bytes.fromhex(document["key"]),
                                  tuple(SecretFingerprint.from_json(item) for item in document["secrets"]))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FingerprintsError(f"The DLP fingerprints in {path} cannot be read ({exc.strerror}).",
                                hint=_HINT, code="dlp-fingerprints-unreadable") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FingerprintsError(f"The DLP fingerprints in {path} are malformed ({exc}).",
                                hint=_HINT, code="dlp-fingerprints-unreadable") from exc
