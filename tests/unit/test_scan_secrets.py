"""Secret detection: every provider pattern, entropy under secret-looking names, references never flagged,
settings about secrets never flagged, and redaction that never shows enough to use."""

from __future__ import annotations

import pytest

from tests.unit.scan_homes import PROVIDER_TOKENS
from toolhive_py.scan.secrets import detect, fingerprint, is_reference, redact

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
