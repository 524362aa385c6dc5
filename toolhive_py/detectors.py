"""Secret detectors: the one module that says what a plaintext credential looks like, shared by ``scan`` (config
values), ``run`` (``-e`` values it refuses) and the proxy's DLP (tool arguments and results).

Config values: provider patterns first, then entropy for values under secret-looking names. References
(``${input:x}``, ``$VAR``, ``{{x}}``…) are how secrets *should* be written and are never findings. Output is
always redacted. Free text (``find_secrets``): provider patterns and connection-string passwords only (no
entropy: a tool's output is full of hashes and ids), each with where it is, behind a prefilter that costs a
few microseconds per kilobyte of text with no candidate in it.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["CONNECTION_STRING", "MIN_SECRET_LENGTH", "PATTERNS", "SecretMatch", "SecretSpan", "detect",
           "find_secrets", "fingerprint", "is_reference", "redact", "split_tokens", "token_spans",
           "userinfo_password"]

# (provider, literals, pattern): every match of the pattern starts with one of its literals (after \b), which
# is what lets free text be prefiltered with plain substring searches. Anchored inside the value, so
# "Bearer ghp_…" and URLs with tokens match too.
_PROVIDERS: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),
    ("github-fine-grained-token", ("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{60,}\b"),
    ("anthropic-api-key", ("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai-api-key", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("slack-token", ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("aws-access-key-id", ("AKIA", "ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("google-api-key", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("huggingface-token", ("hf_",), r"\bhf_[A-Za-z]{34}\b"),
    ("npm-token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("gitlab-token", ("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("stripe-secret-key", ("sk_live_", "rk_live_"), r"\b[sr]k_live_[A-Za-z0-9]{20,}"),
    ("private-key", ("-----BEGIN",), r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    ("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)
PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern)) for name, _, pattern in _PROVIDERS)

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


# ----- free text: tool arguments and results -----------------------------------------------------------

# Bytes a token is made of. A secret in text is a run of these, or (a password with punctuation, a base64
# key with / and +) contains one: ``GITHUB_TOKEN=ghp_…``, ``"ghp_…"``, ``Bearer ghp_…`` and ``?key=ghp_…&``
# all split it out whole. Every other byte, including all of a non-ASCII character's, separates tokens.
_TOKEN_BYTES: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_TOKEN_TABLE: Final = bytes(c if c in _TOKEN_BYTES else 0x20 for c in range(256))
_TOKEN_RUN: Final = re.compile(b"[" + re.escape(_TOKEN_BYTES) + b"]+")
# Every match of a pattern but the private-key header and a JWT (both found by a direct substring search)
# lies inside one token at least this long: the shortest is a Slack token's 15.
_PATTERN_TOKEN: Final = 15
# The shortest text that can hold a finding: ``a://:pass@h`` less its password's length of 1.
MIN_SECRET_LENGTH: Final = 8
_DIRECT: Final = {"private-key": b"-----BEGIN", "jwt": b"eyJ"}
_COMPILED: Final = tuple((name, tuple(literal.encode() for literal in literals), re.compile(pattern))
                         for name, literals, pattern in _PROVIDERS)
# A match starts after \b: in a token, at its start or just after a "-" (the one non-word byte a token has).
# Tokens are cut after each "-" into pieces that start at those places, so a literal is looked for at the
# start of a piece, cut after its own first "-" (sk-ant- and sk- are both "sk-"): one startswith each.
def _stems() -> dict[bytes, frozenset[str]]:
    stems: dict[bytes, frozenset[str]] = {}
    for name, literals, _ in _COMPILED:
        for literal in literals if name not in _DIRECT else ():
            stem = literal[:literal.index(b"-") + 1] if b"-" in literal else literal
            stems[stem] = stems.get(stem, frozenset()) | {name}
    return stems


_STEMS: Final = _stems()
_STEM_PREFIXES: Final = tuple(_STEMS)
_HAS_STEM: Final = operator.methodcaller("startswith", _STEM_PREFIXES)
_KEY_END: Final = re.compile(r"-----END (?:[A-Z]+ )?PRIVATE KEY-----")


def split_tokens(data: bytes) -> list[bytes]:
    """The tokens of UTF-8 ``data``: maximal runs of ASCII letters, digits, ``_`` and ``-``.

    One ``bytes.translate`` and one ``split``, both in C: the cheap first look that the DLP guard's two
    checks (provider patterns, a workload's own secret values) share.
    """
    return data.translate(_TOKEN_TABLE).split()


def token_spans(data: bytes) -> list[tuple[int, int]]:
    """Where each of ``split_tokens(data)`` is in ``data``: (start, end) byte offsets."""
    return [match.span() for match in _TOKEN_RUN.finditer(data)]


@dataclass(frozen=True)
class SecretSpan:
    """Where a secret is in a text: ``text[start:end]`` is the secret (a whole private key block, the
    password of a connection string), ``provider`` what it is."""

    provider: str
    start: int
    end: int


def find_secrets(text: str, tokens: Sequence[bytes] | None = None,
                 lengths: Collection[int] | None = None) -> list[SecretSpan]:
    """Every provider-pattern secret and connection-string password in free ``text``, in order, never
    overlapping. ``tokens`` and ``lengths`` (``split_tokens`` of the text's UTF-8 and their lengths) save the
    work when the caller has it.

    The patterns only run when a token long enough to hold a match carries one of their literal prefixes, so
    text with no candidate costs a translate, a split and a few substring searches.
    """
    if len(text) < MIN_SECRET_LENGTH:
        return []
    data = text.encode("utf-8", "surrogatepass")
    if tokens is None:
        tokens = split_tokens(data)
    if lengths is None:
        lengths = set(map(len, tokens))
    names: set[str] = {name for name, literal in _DIRECT.items() if literal in data}
    if lengths and max(lengths) >= _PATTERN_TOKEN:
        long = b" ".join({token for token in tokens if len(token) >= _PATTERN_TOKEN})
        pieces = long.replace(b"-", b"- ").split()
        if any(map(_HAS_STEM, pieces)):  # the loop in C: most texts stop here
            for piece in pieces:
                for stem in _STEM_PREFIXES if piece.startswith(_STEM_PREFIXES) else ():
                    if piece.startswith(stem):
                        names.update(_STEMS[stem])
    spans: list[SecretSpan] = []
    # Pattern order is priority order (anthropic's sk-ant- before openai's sk-): an earlier pattern's match
    # keeps its place and a later one overlapping it is dropped.
    for name, _, pattern in _COMPILED if names else ():
        if name not in names:
            continue
        for match in pattern.finditer(text):
            end = match.end()
            if name == "private-key":
                block_end = _KEY_END.search(text, end)
                end = block_end.end() if block_end else len(text)
            _add_span(spans, SecretSpan(name, match.start(), end))
    if b"://" in data and b"@" in data:
        for match in _AUTHORITY.finditer(text):
            authority = match.group("authority")
            userinfo, at, _ = authority.rpartition("@")
            _, colon, password = userinfo.partition(":")
            if at and colon and password and not is_reference(password):
                start = match.start("authority") + len(userinfo) - len(password)
                _add_span(spans, SecretSpan(CONNECTION_STRING, start, start + len(password)))
    return sorted(spans, key=lambda span: span.start)


def _add_span(spans: list[SecretSpan], span: SecretSpan) -> None:
    if all(span.end <= other.start or span.start >= other.end for other in spans):
        spans.append(span)
