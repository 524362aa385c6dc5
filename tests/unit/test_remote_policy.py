"""The pure rules for reaching a remote MCP server: URLs, resolved addresses, origins, header templates."""

from __future__ import annotations

import pytest

from toolhive_py.errors import UsageError
from toolhive_py.remote.policy import (
    HeaderTemplate,
    check_addresses,
    fill_headers,
    is_forbidden_address,
    is_remote_url,
    is_same_origin,
    parse_header,
    parse_remote_url,
    workload_name_for,
)


def test_an_https_url_is_accepted_with_its_origin() -> None:
    url = parse_remote_url("https://API.GitHubCopilot.com/mcp/")
    assert (url.scheme, url.host, url.port, url.url) == ("https", "api.githubcopilot.com", 443,
                                                         "https://API.GitHubCopilot.com/mcp/")
    assert parse_remote_url("https://127.0.0.1:8443/mcp").origin == ("https", "127.0.0.1", 8443)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/mcp", "http://localhost/mcp", "http://[::1]:9/mcp"])
def test_plain_http_is_accepted_only_for_this_machine(url: str) -> None:
    assert parse_remote_url(url).scheme == "http"


@pytest.mark.parametrize(("url", "code"), [
    ("http://example.com/mcp", "insecure-remote-url"),
    ("http://10.0.0.1/mcp", "insecure-remote-url"),
    ("http://localhost.evil.com/mcp", "insecure-remote-url"),
    ("ftp://example.com/mcp", "insecure-remote-url"),
    ("https:///mcp", "invalid-remote-url"),
    ("https://user:pw@example.com/mcp", "credential-in-url"),
    ("https://example.com/mcp#frag", "invalid-remote-url"),
    ("https://example.com:99999/mcp", "invalid-remote-url"),
    ("https://169.254.169.254/latest/meta-data", "forbidden-remote-address"),
    ("https://[fd00:ec2::254]/mcp", "forbidden-remote-address"),
    ("https://[fe80::1]/mcp", "forbidden-remote-address"),
    ("https://metadata.google.internal/computeMetadata/v1", "forbidden-remote-address"),
    ("https://metadata.google.internal./x", "forbidden-remote-address"),
    ("https://100.100.100.200/mcp", "forbidden-remote-address"),
])
def test_a_url_outside_the_policy_is_refused_with_its_code(url: str, code: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_remote_url(url)
    assert caught.value.code == code


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.0.1", "fd00:ec2::254", "fe80::1%eth0",
                                     "::ffff:169.254.169.254", "0.0.0.0", "::", "100.100.100.200"])  # noqa: S104 - data, not a bind
def test_link_local_and_metadata_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.5", "192.168.1.1", "140.82.112.21",
                                     "2606:50c0:8000::153", "fd00:ec2::253", "169.255.0.1"])
def test_routable_private_and_loopback_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(address)


def test_a_host_is_refused_when_any_of_its_addresses_is_forbidden() -> None:
    check_addresses("good.example", ["140.82.112.21", "2606:50c0:8000::153"])
    with pytest.raises(UsageError) as caught:
        check_addresses("rebind.example", ["140.82.112.21", "169.254.169.254"])
    assert caught.value.code == "forbidden-remote-address"
    with pytest.raises(UsageError):
        check_addresses("nothing.example", [])


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://a.example/mcp", "https://a.example:443/other", True),
    ("https://a.example/mcp", "https://A.EXAMPLE/x", True),
    ("https://a.example/mcp", "https://b.example/mcp", False),
    ("https://a.example/mcp", "https://a.example:8443/mcp", False),
    ("https://a.example/mcp", "http://a.example/mcp", False),
    ("https://a.example/mcp", "https://a.example.evil.com/mcp", False),
])
def test_same_origin_means_scheme_host_and_port(a: str, b: str, same: bool) -> None:
    assert is_same_origin(a, b) is same


def test_a_header_template_names_its_secrets_and_fills_them() -> None:
    header = parse_header("Authorization: Bearer {GITHUB_PAT}")
    assert header == HeaderTemplate("Authorization", "Bearer {GITHUB_PAT}")
    assert header.secrets == ("GITHUB_PAT",)
    both = parse_header("X-Keys: {A}:{B}:{A}")
    assert both.secrets == ("A", "B")
    assert fill_headers([header, both], {"GITHUB_PAT": "v1", "A": "x", "B": "y"}) == {
        "Authorization": "Bearer v1", "X-Keys": "x:y:x"}
    with pytest.raises(KeyError):
        fill_headers([header], {})


@pytest.mark.parametrize("value", ["no colon", ": empty", "Bad Name: x", "Host: evil", "Mcp-Session-Id: 1",
                                   "Content-Length: 3", "X-A: one\r\ntwo"])
def test_a_malformed_or_reserved_header_is_refused(value: str) -> None:
    with pytest.raises(UsageError):
        parse_header(value)


def test_a_header_with_a_plaintext_secret_is_refused_without_echoing_it() -> None:
    token = "ghp_" + "a1B2" * 9
    with pytest.raises(UsageError) as caught:
        parse_header(f"Authorization: Bearer {token}")
    assert caught.value.code == "plaintext-header-secret"
    assert token not in caught.value.message + (caught.value.hint or "")
    assert parse_header("Accept-Language: en").template == "en"


def test_remote_urls_and_default_names() -> None:
    assert is_remote_url("https://x/mcp")
    assert is_remote_url("HTTP://x")
    assert not is_remote_url("github")
    assert workload_name_for(parse_remote_url("https://api.githubcopilot.com/mcp")) == "api-githubcopilot-com"
