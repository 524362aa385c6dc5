"""Secret detection: every provider pattern, entropy under secret-looking names, references never flagged,
settings about secrets never flagged, and redaction that never shows enough to use. In free text (the proxy's
DLP): every pattern found wherever it stands, exactly as the patterns alone find it, behind the prefilter."""

from __future__ import annotations

import re

import pytest

from tests.unit.scan_homes import PROVIDER_TOKENS
from toolhive_py.detectors import (
    PATTERNS,
    SecretSpan,
    detect,
    find_secrets,
    fingerprint,
    is_reference,
    redact,
    split_tokens,
    token_spans,
)

PROVIDER_SAMPLES = {
    **dict(PROVIDER_TOKENS),
    "private-key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
}


@pytest.mark.parametrize(("provider", "value"), sorted(PROVIDER_SAMPLES.items()))
def test_each_provider_pattern_is_found_under_any_name(provider: str, value: str) -> None:
    match = detect(value, "SOME_SETTING")
    assert match is not None
    assert match.provider == provider
    assert value.startswith(match.value) or match.value in value


@pytest.mark.parametrize("wrapped", ["Bearer {}", "token {}", "https://x.example/mcp?key={}", "--token={}"])
def test_patterns_are_found_inside_larger_values(wrapped: str) -> None:
    token = PROVIDER_SAMPLES["github-token"]
    match = detect(wrapped.format(token), None)
    assert match is not None
    assert (match.provider, match.value) == ("github-token", token)


@pytest.mark.parametrize("reference", [
    "${input:github-token}", "${env:GITHUB_TOKEN}", "${GITHUB_TOKEN}", "$GITHUB_TOKEN", "{{ github_token }}",
    "{{secrets.GH}}", "${{ secrets.GH }}", "%GITHUB_TOKEN%", "<YOUR_TOKEN>", "op://vault/github/token",
    "Bearer ${input:gh}", "Bearer $GH_TOKEN", "  ${env:X}  ", "{env:GITHUB_TOKEN}", "{file:~/.secrets/gh}",
    "Bearer {env:TAVILY_API_KEY}", "${GITHUB_TOKEN:-}", "${GITHUB_TOKEN:-none}",
])
def test_reference_forms_are_never_findings(reference: str) -> None:
    assert detect(reference, "GITHUB_PERSONAL_ACCESS_TOKEN") is None


def test_a_secret_as_the_default_of_a_reference_is_found() -> None:
    token = PROVIDER_SAMPLES["github-token"]
    match = detect("${GITHUB_TOKEN:-" + token + "}", "GITHUB_TOKEN")
    assert match is not None
    assert (match.provider, match.value) == ("github-token", token)
    assert not is_reference("{env:X} and more")


@pytest.mark.parametrize(("name", "value"), [
    ("DB_PASSWORD", "Xq9!vL2#pR7wZ4tB"),
    ("apiKey", "4f9c2e7a1b8d3f6e0a5c"),
    ("Authorization", "Bearer 9aF3kL0pQ7zX2mN8"),
    ("--secret", "kz8Qw3Lm9Rt2Vy6P"),
])
def test_entropy_flags_unknown_formats_under_secret_names(name: str, value: str) -> None:
    match = detect(value, name)
    assert match is not None
    assert match.provider == "high-entropy"


@pytest.mark.parametrize(("name", "value"), [
    ("LOG_LEVEL", "Xq9!vL2#pR7wZ4tB"),  # not a secret-looking name
    ("AUTH_TYPE", "oauth2-client-credentials"),  # a setting about auth
    ("authType", "oauth2-client-credentials"),
    ("TOKEN_URL", "login.example.com/oauth2/token"),
    ("API_KEY_FILE", "secrets/github-token.txt"),
    ("CLIENT_ID", "9aF3kL0pQ7zX2mN8"),
    ("GITHUB_TOKEN", "GITHUB_TOKEN_VALUE"),  # a variable name
    ("GITHUB_TOKEN", "short"),
    ("GITHUB_TOKEN", "aaaaaaaaaaaaaaaaaaaa"),  # no entropy
    ("API_KEY", "https://example.com/key"),
    ("SESSION_DIR", "/home/me/.sessions"),
    ("PASSWORD", "correct horse battery staple"),  # a phrase with spaces is not taken for a token
])
def test_non_secrets_are_not_flagged(name: str, value: str) -> None:
    assert detect(value, name) is None


def test_redaction_shows_a_prefix_and_four_characters_only() -> None:
    token = PROVIDER_SAMPLES["github-token"]
    assert redact(token) == "ghp_…a1B2"
    assert redact(PROVIDER_SAMPLES["github-fine-grained-token"]) == "github_…x9Y8"
    assert redact("Xq9!vL2#pR7wZ4tB") == "…", "a password without a provider prefix under 20 shows nothing"
    assert redact("Xq9!vL2#pR7wZ4tBk8Lm3") == "…8Lm3"
    assert redact("short-secret") == "…", "a value of 12 characters or fewer shows nothing"
    for value in PROVIDER_SAMPLES.values():
        shown = redact(value).replace("…", "")
        assert len(shown) <= 11
        assert shown != value


def test_fingerprint_is_stable_and_distinguishes_secrets() -> None:
    a, b = PROVIDER_SAMPLES["github-token"], PROVIDER_SAMPLES["npm-token"]
    assert fingerprint(a) == fingerprint(a)
    assert fingerprint(a) != fingerprint(b)
    assert len(fingerprint(a)) == 12
    assert a not in fingerprint(a)


@pytest.mark.parametrize(("name", "value", "password"), [
    (None, "postgresql://app:s3cr3t@db/app", "s3cr3t"),
    ("DATABASE_URL", "postgres://u:hunter2@db.internal:5432/app?sslmode=require", "hunter2"),
    ("MONGO_URI", "mongodb://admin:Tr0ub4dor@mongo:27017", "Tr0ub4dor"),
    ("MONGO_URI", "mongodb+srv://svc:p%40ss@cluster0.example.net/db", "p%40ss"),
    ("REDIS_URL", "redis://:redispw@cache:6379/0", "redispw"),
    ("BROKER", "amqp://guest:guest@rabbit//", "guest"),
    ("--dsn", "mysql://root:p@ss@127.0.0.1/db", "p@ss"),  # a raw @ in the password: the last @ ends it
    (None, "DATABASE_URL=postgres://u:pw@db/app", "pw"),
])
def test_the_password_of_a_connection_string_is_found_under_any_name(
        name: str | None, value: str, password: str) -> None:
    match = detect(value, name)
    assert match is not None
    assert (match.provider, match.value) == ("connection-string-password", password)
    assert password not in match.redacted


@pytest.mark.parametrize("value", [
    "postgres://app@db/app", "postgres://app:${DB_PASSWORD}@db/app", "postgres://app:$DB_PASSWORD@db/app",
    "mongodb://u:<password>@mongo", "https://example.com:8443/path@x", "redis://cache:6379", "git@github.com:o/r",
    "postgres://app:@db/app",
])
def test_connection_strings_without_a_literal_password_are_not_findings(value: str) -> None:
    assert detect(value, "DATABASE_URL") is None


# ----- free text -----------------------------------------------------------------------------------------

WRAPPINGS = ["{}", "token: {}", "GITHUB_TOKEN={}\nPATH=/usr/bin", '{{"value": "{}"}}', "Bearer {}.", "x-{}",
             "https://api.example/v1?key={}&page=2", "été {} été", "(({}))", "line one\n\t{}\n"]


def _pattern_spans(text: str) -> list[tuple[str, int, int]]:
    """What the patterns alone find in ``text`` (no prefilter), in priority order, overlaps dropped."""
    spans: list[tuple[str, int, int]] = []
    for name, pattern in PATTERNS:
        for match in pattern.finditer(text):
            if all(match.end() <= s or match.start() >= e for _, s, e in spans):
                spans.append((name, match.start(), match.end()))
    return sorted(spans, key=lambda span: span[1])


@pytest.mark.parametrize("wrapping", WRAPPINGS)
@pytest.mark.parametrize(("provider", "value"), sorted(PROVIDER_TOKENS))
def test_free_text_finds_each_pattern_as_the_patterns_alone_do(provider: str, value: str, wrapping: str) -> None:
    text = wrapping.format(value)
    found = find_secrets(text)
    assert [(s.provider, s.start, s.end) for s in found] == _pattern_spans(text)
    assert [(s.provider, text[s.start:s.end]) for s in found] == [(provider, value)]


def test_free_text_finds_every_secret_of_a_longer_text_in_order() -> None:
    text = " | ".join([value for _, value in PROVIDER_TOKENS] * 3)
    found = find_secrets(text)
    assert [(s.provider, s.start, s.end) for s in found] == _pattern_spans(text)
    assert len(found) == 3 * len(PROVIDER_TOKENS)


def test_a_private_key_is_found_as_its_whole_block() -> None:
    block = PROVIDER_SAMPLES["private-key"]
    text = f"key:\n{block}\nend"
    (span,) = find_secrets(text)
    assert (span.provider, text[span.start:span.end]) == ("private-key", block)
    unterminated = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert find_secrets(unterminated) == [SecretSpan("private-key", 0, len(unterminated))]


def test_connection_string_passwords_are_found_in_free_text_but_references_are_not() -> None:
    text = "connect with postgres://app:Tr0ub4dor@db/app or redis://:${REDIS_PASSWORD}@cache, mail me@example.com"
    (span,) = find_secrets(text)
    assert (span.provider, text[span.start:span.end]) == ("connection-string-password", "Tr0ub4dor")


@pytest.mark.parametrize("text", [
    "", "short", "The quick brown fox jumps over the lazy dog. " * 20, "123e4567-e89b-12d3-a456-426614174000",
    "sha256:" + "ab" * 32, "disk-usage-report-for-task-queue", "ghp_tooshort", "eyJ but not a token",
    "see https://example.com/docs and write to user@example.com", "sk-" + "a" * 10, "/usr/lib/python3/ghp_/x",
])
def test_free_text_without_secrets_has_no_findings(text: str) -> None:
    assert find_secrets(text) == []
    assert _pattern_spans(text) == []


def test_tokens_split_on_everything_but_letters_digits_underscore_and_dash() -> None:
    data = "GITHUB_TOKEN=ghp_x1 a/b+c=d\u00e9t\u00e9-x".encode()
    assert split_tokens(data) == [b"GITHUB_TOKEN", b"ghp_x1", b"a", b"b", b"c", b"d", b"t", b"-x"]
    assert [data[start:end] for start, end in token_spans(data)] == split_tokens(data)
    assert all(re.fullmatch(rb"[A-Za-z0-9_-]+", token) for token in split_tokens(bytes(range(256))))
