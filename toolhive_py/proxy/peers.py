"""Which local user is on the other end of a loopback TCP connection (Linux), so the proxy can refuse the
processes of other users before they reach a server that acts with its owner's credentials.

The peer's socket is the one whose local address is the peer's (host, port) and whose remote address is
the proxy's own; its owner is the uid that created it. Two ways to find it, both answering from the
kernel's socket table, not from anything the peer says:

- ``sock_diag`` (netlink ``SOCK_DIAG_BY_FAMILY`` with the exact 4-tuple): one lookup in the kernel's hash,
  ~10 µs whatever the number of sockets. Used whenever the kernel offers it.
- ``/proc/net/tcp`` and ``/proc/net/tcp6``: the whole table as text (IPv4-mapped IPv6 rows included). Its
  cost grows with the machine's sockets (≈0.2 ms for 3,500), so it is only the fallback.

Neither answer is cached: a cache keyed by the peer's port could be taken over by another user who binds
that port right after the owner's connection closes (every user can read the table and pick the port).
A row with inode 0 (TIME_WAIT, a request socket) has no owner and is never an answer: uid 0 there is not root.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "Address",
    "DiagUnavailable",
    "PeerOwners",
    "SocketRow",
    "encode_address",
    "find_row",
    "is_allowed_uid",
    "owner_from_diag",
    "owner_from_proc",
    "parse_address",
    "parse_table",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[Address, int]
ByteOrder = Literal["little", "big"]

_NETLINK_SOCK_DIAG: Final = 4
_SOCK_DIAG_BY_FAMILY: Final = 20
_NLM_F_REQUEST: Final = 1
_NLMSG_ERROR: Final = 2
_NLMSG_HEADER: Final = struct.Struct("=IHHII")
_DIAG_REQUEST: Final = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states
_NO_COOKIE: Final = 0xFFFFFFFF
_UID_INODE_OFFSET: Final = 16 + 64  # nlmsghdr, then inet_diag_msg's fields before idiag_uid
_ALL_STATES: Final = 0xFFFFFFFF


@dataclass(frozen=True)
class SocketRow:
    """One row of /proc/net/tcp{,6}: addresses as the kernel printed them, decoded."""

    local: Endpoint
    remote: Endpoint
    state: int
    uid: int
    inode: int


def _plain(address: Address) -> Address:
    """IPv4-mapped IPv6 (``::ffff:127.0.0.1``) as the IPv4 address it is, so both tables compare alike."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(field: str, byteorder: ByteOrder = sys.byteorder) -> Endpoint:
    """``0100007F:1F90`` (IPv4) or 32 hex digits ``:PORT`` (IPv6): each 32-bit word of the address is printed
    in the host's byte order, the port as a number."""
    host, _, port = field.partition(":")
    if len(host) not in (8, 32) or not port:
        raise ValueError(f"not a /proc/net/tcp address: {field!r}")
    raw = b"".join(int(host[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(host), 8))
    return ipaddress.ip_address(raw), int(port, 16)


def encode_address(address: Address, port: int, *, byteorder: ByteOrder = sys.byteorder) -> str:
    """The inverse of :func:`parse_address`: the text a row shows for ``address:port``."""
    raw = address.packed
    words = (int.from_bytes(raw[i:i + 4], byteorder) for i in range(0, len(raw), 4))
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"


def parse_table(text: str, byteorder: ByteOrder = sys.byteorder) -> list[SocketRow]:
    """Every row of a /proc/net/tcp or /proc/net/tcp6 text (the header line and malformed lines skipped)."""
    rows = []
    for line in text.splitlines():
        row = _parse_line(line, byteorder)
        if row is not None:
            rows.append(row)
    return rows


def _parse_line(line: str, byteorder: ByteOrder) -> SocketRow | None:
    fields = line.split()
    if len(fields) < 10 or not fields[0].endswith(":") or not fields[0][:-1].isdigit():
        return None
    try:
        return SocketRow(parse_address(fields[1], byteorder), parse_address(fields[2], byteorder),
                         int(fields[3], 16), int(fields[7]), int(fields[9]))
    except ValueError:
        return None


def find_row(rows: Iterable[SocketRow], peer: Endpoint, server: Endpoint) -> SocketRow | None:
    """The live socket whose local end is ``peer`` and remote end ``server`` (IPv4-mapped forms alike)."""
    want_local = (_plain(peer[0]), peer[1])
    want_remote = (_plain(server[0]), server[1])
    for row in rows:
        if row.inode and (_plain(row.local[0]), row.local[1]) == want_local \
                and (_plain(row.remote[0]), row.remote[1]) == want_remote:
            return row
    return None


def _forms(address: Address) -> tuple[Address | None, ipaddress.IPv6Address]:
    """How ``address`` can appear: in the IPv4 table (if it is IPv4 at all) and in the IPv6 table."""
    plain = _plain(address)
    if isinstance(plain, ipaddress.IPv4Address):
        return plain, ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + plain.packed)
    return None, plain


def _read(path: Path) -> str:
    """The whole file in one read: reading a /proc table in small chunks makes the kernel walk it again per
    chunk (4.5 ms instead of 0.2 ms for 3,500 sockets through a buffered file object)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks).decode("ascii", "replace")
    finally:
        os.close(fd)


def _matching_lines(text: str, needle: str) -> Iterator[str]:
    """Lines containing ``needle``, found by substring search rather than parsing every row."""
    start = text.find(needle)
    while start != -1:
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        line_end = len(text) if line_end == -1 else line_end
        yield text[line_start:line_end]
        start = text.find(needle, line_end)


def owner_from_proc(peer: Endpoint, server: Endpoint, *, proc: Path = Path("/proc"),
                    byteorder: ByteOrder = sys.byteorder) -> int | None:
    """The uid owning the peer's socket, from /proc/net/tcp and tcp6; None when no live row matches."""
    peer_v4, peer_v6 = _forms(peer[0])
    server_v4, server_v6 = _forms(server[0])
    tables: list[tuple[str, Address, Address]] = []
    if peer_v4 is not None and server_v4 is not None:
        tables.append(("tcp", peer_v4, server_v4))
    tables.append(("tcp6", peer_v6, server_v6))
    for name, local, remote in tables:
        try:
            text = _read(proc / "net" / name)
        except FileNotFoundError:  # a kernel without IPv6
            continue
        needle = f"{encode_address(local, peer[1], byteorder=byteorder)} " \
                 f"{encode_address(remote, server[1], byteorder=byteorder)} "
        for line in _matching_lines(text, needle):
            row = _parse_line(line, byteorder)
            if row is not None and row.inode:
                return row.uid
    return None


class DiagUnavailable(OSError):
    """The kernel offers no sock_diag for TCP here (no netlink, or the inet_diag module is not loaded)."""


def owner_from_diag(peer: Endpoint, server: Endpoint, *, channel: socket.socket | None = None) -> int | None:
    """The uid owning the peer's socket, by the kernel's exact lookup of its 4-tuple; None when there is no
    such live socket. Raises DiagUnavailable when sock_diag cannot answer at all."""
    local, remote = _plain(peer[0]), _plain(server[0])
    if type(local) is not type(remote):
        return None
    family = socket.AF_INET if isinstance(local, ipaddress.IPv4Address) else socket.AF_INET6
    sockid = struct.pack("!HH", peer[1], server[1]) + local.packed.ljust(16, b"\0") \
        + remote.packed.ljust(16, b"\0") + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    body = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
    message = _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + body
    own = channel is None
    try:
        sock = channel or socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as exc:  # AttributeError: no AF_NETLINK on this platform
        raise DiagUnavailable(errno.EPROTONOSUPPORT, f"no netlink sock_diag: {exc}") from exc
    try:
        sock.send(message)
        answer = sock.recv(8192)
    except OSError as exc:
        raise DiagUnavailable(exc.errno or 0, f"sock_diag failed: {exc}") from exc
    finally:
        if own:
            sock.close()
    if len(answer) < _NLMSG_HEADER.size:
        raise DiagUnavailable(errno.EPROTO, "sock_diag gave a short answer")
    _, kind, _, _, _ = _NLMSG_HEADER.unpack_from(answer)
    if kind == _NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", answer, _NLMSG_HEADER.size)
        if -code == errno.ENOENT:
            return None
        raise DiagUnavailable(-code, f"sock_diag refused the lookup: {os.strerror(-code)}")
    if kind != _SOCK_DIAG_BY_FAMILY or len(answer) < _UID_INODE_OFFSET + 8:
        raise DiagUnavailable(errno.EPROTO, "sock_diag gave an unexpected answer")
    uid, inode = struct.unpack_from("=II", answer, _UID_INODE_OFFSET)
    return int(uid) if inode else None


def is_allowed_uid(uid: int | None, *, own: int, allowed: Iterable[int] = ()) -> bool:
    """Only the proxy's own user, root and the uids given with --allow-uid; an unknown owner is refused."""
    return uid is not None and (uid in (own, 0) or uid in set(allowed))


def _working_diag_channel() -> socket.socket | None:
    """A netlink channel if sock_diag finds a connection of ours. A probe, because a kernel without the
    inet_diag module answers ENOENT, as it does for a socket that does not exist."""
    try:
        channel = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except (OSError, AttributeError):
        return None
    try:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            with socket.create_connection(listener.getsockname(), timeout=2) as probe:
                accepted, _ = listener.accept()
                accepted.close()
                host, port = probe.getsockname()
                found = owner_from_diag((ipaddress.ip_address(host), port),
                                        (ipaddress.ip_address("127.0.0.1"), listener.getsockname()[1]),
                                        channel=channel)
        if found == os.getuid():
            return channel
    except OSError:
        pass
    channel.close()
    return None


class PeerOwners:
    """Finds the owner of a peer's socket with sock_diag while the kernel offers it, else /proc/net/tcp{,6}.
    ``supported`` is False off Linux (the caller logs that the check is off)."""

    def __init__(self, *, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self.supported = sys.platform.startswith("linux") and (proc / "net" / "tcp").exists()
        self.method = "none"
        self._channel: socket.socket | None = None
        if self.supported:
            self._channel = _working_diag_channel()
            self.method = "proc" if self._channel is None else "sock_diag"

    def owner(self, peer: tuple[str, int], server: tuple[str, int]) -> int | None:
        """The uid of the process side owning ``peer`` (as ASGI's ``scope["client"]`` gives it), connected to
        ``server`` (``scope["server"]``); None when it cannot be told."""
        try:
            peer_end = (ipaddress.ip_address(peer[0]), int(peer[1]))
            server_end = (ipaddress.ip_address(server[0]), int(server[1]))
        except ValueError:
            return None
        if self._channel is not None:
            try:
                return owner_from_diag(peer_end, server_end, channel=self._channel)
            except DiagUnavailable:
                self._channel.close()
                self._channel, self.method = None, "proc"
        return owner_from_proc(peer_end, server_end, proc=self._proc)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __del__(self) -> None:  # the middleware that holds it lives as long as the app: no explicit close
        self.close()
