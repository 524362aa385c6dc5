"""The pure rules for talking to a remote MCP server: which URLs are allowed, which resolved addresses are
refused, what counts as the same origin, and header templates (``Bearer {GITHUB_PAT}``) whose secrets are
named, never written.

Why after resolution: a hostname is only a name; ``evil.example`` may resolve to 169.254.169.254. The
proxy resolves the host itself and checks every address it got with ``check_addresses`` before a request
goes out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from toolhive_py.errors import UsageError

__all__ = ["FORBIDDEN_HOSTNAMES", "HeaderTemplate", "RemoteURL", "check_addresses", "fill_headers",
           "frame_key", "is_forbidden_address", "is_loopback_host", "is_remote_url", "is_same_origin", "parse_header", "parse_remote_url",
           "workload_name_for"]

# Names of instance-metadata services that answer on a link-local address or an internal DNS name.
FORBIDDEN_HOSTNAMES: Final = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "metadata.azure.internal", "instance-data",
    "instance-data.ec2.internal",
})
# Link-local (where the metadata services live), AWS's IPv6 metadata address, Alibaba's and Oracle's, and
# addresses that mean "this host, any interface" (a different service than the URL names).
_FORBIDDEN_NETWORKS: Final = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "192.0.0.192/32",
    "0.0.0.0/8", "::/128",
))
# Headers the transport owns: a template may not set them.
_RESERVED_HEADERS: Final = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer",
    "mcp-session-id", "mcp-protocol-version", "last-event-id",
})
_HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
# {SECRET}: a secret name as the backends take it (letters, digits, '_', '.', '-').
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]{0,127})\}")


@dataclass(frozen=True)
class RemoteURL:
    """A remote server's endpoint, checked: https, a host, no credentials in it."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def is_remote_url(value: str) -> bool:
    """Whether `run`'s argument names a remote server rather than a registry name or an image."""
    return value.lower().startswith(("https://", "http://"))


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine (plain http to it never crosses a network)."""
    if host.rstrip(".").lower() == "localhost":
        return True
    literal = _literal_address(host)
    return literal is not None and literal.is_loopback


def parse_remote_url(value: str) -> RemoteURL:
    """The URL of a remote server, or a UsageError saying why it is refused. Plain http is accepted only for a
    loopback host (a server on this machine: its traffic never leaves it)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{value!r} is not a valid URL: {exc}.", hint="Give https://HOST[:PORT]/PATH.",
                         code="invalid-remote-url") from None
    host = (parts.hostname or "").rstrip(".").lower()
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and host and is_loopback_host(host)):
        raise UsageError(f"{value} is not an https URL: a remote server is reached over TLS only.",
                         hint="Use the server's https:// URL.", code="insecure-remote-url")
    if not host:
        raise UsageError(f"{value} names no host.", hint="Give https://HOST[:PORT]/PATH.", code="invalid-remote-url")
    if parts.username or parts.password:
        raise UsageError("A remote URL must not carry a user name or password.",
                         hint="Store the credential with `mcpctl secret set NAME` and pass "
                              "--header 'Authorization: Bearer {NAME}'.", code="credential-in-url")
    if parts.fragment:
        raise UsageError(f"{value} has a fragment (#…), which is never sent to a server.",
                         hint="Leave out the part after #.", code="invalid-remote-url")
    if host in FORBIDDEN_HOSTNAMES:
        raise UsageError(f"{host} is a cloud metadata service, not an MCP server.", hint="Check the URL.",
                         code="forbidden-remote-address")
    literal = _literal_address(host)
    if literal is not None and is_forbidden_address(literal):
        raise UsageError(f"{host} is a link-local or metadata address.", hint="Check the URL.",
                         code="forbidden-remote-address")
    return RemoteURL(value, scheme, host, port or (443 if scheme == "https" else 80))


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_forbidden_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the proxy refuses to connect to ``address`` (IPv4-mapped and NAT64-free IPv6 forms included)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _FORBIDDEN_NETWORKS if network.version == ip.version)


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Refuse ``host`` when any address it resolved to is forbidden (one bad answer is enough: the
    connection may pick it), or when it resolved to nothing."""
    found = list(addresses)
    if not found:
        raise UsageError(f"{host} did not resolve to any address.", hint="Check the URL and your DNS.",
                         code="remote-unresolved")
    for address in found:
        if is_forbidden_address(address):
            raise UsageError(f"{host} resolves to {address}, a link-local or cloud-metadata address: refused.",
                             hint="A remote MCP server must be on a routable address.",
                             code="forbidden-remote-address", host=host, address=address)


def is_same_origin(a: str, b: str) -> bool:
    """Whether two absolute URLs share scheme, host and port (the only redirects that keep the token)."""
    first, second = urlsplit(a), urlsplit(b)
    default = {"https": 443, "http": 80}

    def origin(parts: object) -> tuple[str, str, int | None]:
        scheme = getattr(parts, "scheme", "").lower()
        return (scheme, (getattr(parts, "hostname", None) or "").lower(),
                getattr(parts, "port", None) or default.get(scheme))

    return origin(first) == origin(second)


@dataclass(frozen=True)
class HeaderTemplate:
    """One header sent to the remote: its value with ``{SECRET_NAME}`` placeholders, never a value."""

    name: str
    template: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_PLACEHOLDER.findall(self.template)))

    def to_flag(self) -> str:
        return f"{self.name}: {self.template}"


def parse_header(value: str) -> HeaderTemplate:
    """``Name: template`` (as curl spells it). A value that holds a literal secret is refused: it would end up
    in the workload's record and the proxy's argv; the secret goes in the backend and its name in ``{…}``."""
    from toolhive_py.detectors import detect

    name, sep, template = value.partition(":")
    name, template = name.strip(), template.strip()
    if not sep or not name or not _HEADER_NAME.match(name):
        raise UsageError(f"--header {value!r}: give 'Name: value', e.g. 'Authorization: Bearer {{GITHUB_PAT}}'.",
                         code="invalid-header")
    if name.lower() in _RESERVED_HEADERS:
        raise UsageError(f"--header {name}: the transport sets this header itself.", code="invalid-header")
    if any(ch in template for ch in "\r\n\0"):
        raise UsageError(f"--header {name}: a value must be one line.", code="invalid-header")
    literal = _PLACEHOLDER.sub("", template)
    for word in re.split(r"\s+", literal):
        if word and detect(word, name) is not None:
            raise UsageError(f"--header {name} holds what looks like a secret in plain text.",
                             hint=f"Store it with `mcpctl secret set NAME` and put {{NAME}} in its place: "
                                  f"--header '{name}: Bearer {{NAME}}'.",
                             code="plaintext-header-secret")
    return HeaderTemplate(name, template)


def frame_key(secret: str) -> str:
    """The name a header secret travels under in the proxy's secrets frame (variable-name characters only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", secret)


def fill_headers(templates: Iterable[HeaderTemplate], values: Mapping[str, str]) -> dict[str, str]:
    """The headers of one request, each placeholder replaced by its secret, ``values`` keyed by ``frame_key``
    (KeyError names a missing one)."""
    filled = {}
    for header in templates:
        filled[header.name] = _PLACEHOLDER.sub(lambda m: values[frame_key(m.group(1))], header.template)
    return filled


def workload_name_for(url: RemoteURL) -> str:
    """A workload name from a remote's host when no --name is given: ``api.githubcopilot.com`` →
    ``api-githubcopilot-com``."""
    return re.sub(r"[^a-z0-9-]+", "-", url.host).strip("-")[:63] or "remote"
