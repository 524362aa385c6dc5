"""The egress filter's host/port matcher: the decision every outbound connection of a server goes through."""

from __future__ import annotations

import pytest

from toolhive_py.egress.filter import allowed

HOSTS = ["api.github.com", ".githubusercontent.com", "Example.ORG"]


@pytest.mark.parametrize(("host", "port"), [
    ("api.github.com", 443),
    ("API.GitHub.com", 443),  # names are case-insensitive
    ("api.github.com.", 443),  # the absolute form (trailing dot) is the same name
    ("raw.githubusercontent.com", 443),  # a leading dot allows subdomains
    ("a.b.githubusercontent.com", 80),
    ("githubusercontent.com", 443),  # … and the domain itself
    ("example.org", 80),
    ("[example.org]", 443),
])
def test_allowed_hosts_on_default_ports(host: str, port: int) -> None:
    assert allowed(host, port, HOSTS, set())


@pytest.mark.parametrize(("host", "port"), [
    ("github.com", 443),  # only the named host, not its parent
    ("evil-api.github.com", 443),
    ("api.github.com.evil.example", 443),
    ("notgithubusercontent.com", 443),  # a suffix match must start at a label boundary
    ("api.github.com", 22),  # empty ports mean 80 and 443 only
    ("api.github.com", 8443),
    ("", 443),
])
def test_refused(host: str, port: int) -> None:
    assert not allowed(host, port, HOSTS, set())


def test_explicit_ports_replace_the_defaults() -> None:
    assert allowed("api.github.com", 8443, HOSTS, {8443})
    assert not allowed("api.github.com", 443, HOSTS, {8443})


def test_a_pattern_written_with_a_trailing_dot_still_matches() -> None:
    assert allowed("api.example.com", 443, ["api.example.com."], set())
    assert allowed("x.example.com", 443, [".example.com."], set())
