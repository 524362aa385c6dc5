"""Plaintext credentials in config values: provider patterns first, then entropy for values under
secret-looking names. References (``${input:x}``, ``$VAR``, ``{{x}}``…) are how secrets *should* be
written and are never findings. Output is always redacted."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass

__all__ = ["CONNECTION_STRING", "SecretMatch", "detect", "fingerprint", "is_reference", "redact", "userinfo_password"]

# (provider, pattern): anchored inside the value, so "Bearer ghp_…" and URLs with tokens match too.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(pattern)) for name, pattern in (
    ("github-token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),
    ("github-fine-grained-token", r"\bgithub_pat_[A-Za-z0-9_]{60,}\b"),
    ("anthropic-api-key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai-api-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("aws-access-key-id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("huggingface-token", r"\bhf_[A-Za-z]{34}\b"),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("stripe-secret-key", r"\b[sr]k_live_[A-Za-z0-9]{20,}"),
    ("private-key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
))

_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw(or)?d|pwd|auth|credential|bearer|cookie|session)")
# Names that *mention* a secret but hold a setting about it (AUTH_TYPE, TOKEN_URL, KEY_FILE, CLIENT_ID…).
_SETTING_NAME = re.compile(r"(?i)(^|[_.-])(type|mode|method|url|uri|endpoint|host|port|file|path|dir|id|name|scope"
                           r"|region|header|format|version|enabled|expiry|ttl)$")
# ${input:x} (VS Code), ${env:X} (VS Code, Cursor), ${X} / $X (shells, Gemini CLI, Claude Code), {{x}} and
# ${{ secrets.X }} (templates, Continue), %X% (Windows), {env:X} / {file:path} (opencode), <PLACEHOLDER>,
# op:// (1Password), vault: references.
_REFERENCE = re.compile(
    r"^\s*(?:\$\{input:[^}]+\}|\$\{env:[^}]+\}|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*"
    r"|\{\{[^}]+\}\}|\$\{\{[^}]+\}\}|%[A-Za-z_][A-Za-z0-9_]*%|\{(?:env|file):[^}]+\}|<[^<>]+>|op://\S+"
    r"|vault:\S+)\s*$")
# Claude Code's ${VAR:-default}: a reference, but its default is a literal and may itself be a secret.
_DEFAULTED = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*:-(?P<default>[^}]*)\}\s*$")
_BEARER = re.compile(r"(?i)^\s*(?:bearer|token|basic)\s+")
# scheme://[user]:PASSWORD@host… anywhere in a value: postgresql://, mongodb+srv://, redis://, amqp://, https://…
# The authority ends at the first / ? # or blank; its last @ ends the userinfo (a raw @ in a password is common).
_AUTHORITY = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^\s/?#]+)")
CONNECTION_STRING = "connection-string-password"


@dataclass(frozen=True)
class SecretMatch:
    provider: str  # a pattern name, or "high-entropy" for a value found by entropy
    value: str

    @property
    def redacted(self) -> str:
        return redact(self.value)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.value)


def is_reference(value: str) -> bool:
    """True for the ways to *refer* to a secret: ${input:x}, ${env:X}, $VAR, {{x}}, %VAR%, <PLACEHOLDER>…"""
    return bool(_REFERENCE.match(_BEARER.sub("", value)))


def userinfo_password(value: str) -> str | None:
    """The password in the userinfo of a URL inside ``value`` (``postgres://app:PASS@db/app`` → ``PASS``).

    Any such password is a credential whatever its entropy or the field's name (``DATABASE_URL`` names a
    setting, yet its value carries the password); only a reference (``${DB_PASSWORD}``) is not.
    """
    for match in _AUTHORITY.finditer(value):
        userinfo, at, _ = match.group("authority").rpartition("@")
        _, colon, password = userinfo.partition(":")
        if at and colon and password and not is_reference(password):
            return password
    return None


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def _is_secret_name(name: str) -> bool:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)  # authType -> auth_Type
    return bool(_SECRET_NAME.search(name)) and not _SETTING_NAME.search(snake)


def detect(value: str, name: str | None = None) -> SecretMatch | None:
    """The secret in ``value`` (the value of a field or header called ``name``), or None."""
    defaulted = _DEFAULTED.match(_BEARER.sub("", value))
    if defaulted:
        return detect(defaulted.group("default"), name)
    if not value or is_reference(value):
        return None
    for provider, pattern in PATTERNS:
        match = pattern.search(value)
        if match:
            return SecretMatch(provider, match.group())
    password = userinfo_password(value)
    if password is not None:
        return SecretMatch(CONNECTION_STRING, password)
    candidate = _BEARER.sub("", value).strip()
    if (name and _is_secret_name(name) and len(candidate) >= 12 and " " not in candidate
            and not candidate.startswith(("http://", "https://", "/", "./", "~"))
            and not re.fullmatch(r"[A-Z][A-Z0-9_]*", candidate)  # the name of a variable, not a value
            and _entropy(candidate) >= 3.0):
        return SecretMatch("high-entropy", candidate)
    return None


def redact(value: str) -> str:
    """``ghp_…9f2c``: enough to recognise, never enough to use.

    A provider prefix (``ghp_``, ``sk-``, ``xoxb-``) is shown because it names the kind, not the secret.
    A value without one (a password found by entropy) shows its last four characters only when it is
    20 or more long, so a short password never loses a large share of itself to the report.
    """
    prefix = re.match(r"[A-Za-z]+[_-]", value)
    head = prefix.group() if prefix and len(prefix.group()) <= 8 else ""
    if len(value) <= 12 or (not head and len(value) < 20):
        return "…"
    return f"{head}…{value[-4:]}"


def fingerprint(value: str) -> str:
    """A short keyed hash: the same secret seen in two places (or on two machines) has the same
    fingerprint, and a generic table of SHA-256 hashes does not reverse it."""
    return hashlib.blake2b(value.encode(), digest_size=6, person=b"mcpctl-scan-v1").hexdigest()
