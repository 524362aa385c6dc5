"""Finding the local user behind a loopback connection: the /proc/net/tcp{,6} text format (fixtures in both
byte orders), and real connections looked up in the real /proc tables and through sock_diag, including one
opened by another uid."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from toolhive_py.proxy.peers import (
    PeerOwners,
    encode_address,
    find_row,
    is_allowed_uid,
    owner_from_diag,
    owner_from_proc,
    parse_address,
    parse_table,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/net/tcp is Linux's")

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address

# The proxy listens on 127.0.0.1:8080 (1F90); the peer is 127.0.0.1:54321 (D431), owned by uid 1000.
# Other rows: the listener, the proxy's accepted socket, a TIME_WAIT row of the same 4-tuple (inode 0,
# uid 0: not root), and another user's connection to a different server port.
TCP_FIXTURE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:1F90 06 00000000:00000000 03:00000FA0 00000000     0        0 0 3 0000000000000000
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 22222 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 33333 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:D432 0100007F:1F91 01 00000000:00000000 00:00000000 00000000  2000        0 44444 1 0000000000000000 20 4 30 10 -1
garbage line
"""
# An IPv6 client socket that connected to ::ffff:127.0.0.1:8080 from port 40000 (9C40), uid 3000, and one on
# ::1 port 40001 (9C41) to [::1]:8080, uid 4000.
TCP6_FIXTURE = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  3000        0 55555 1 0000000000000000 20 4 30 10 -1
   1: 00000000000000000000000001000000:9C41 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000  4000        0 66666 1 0000000000000000 20 4 30 10 -1
"""
LOCALHOST = V4("127.0.0.1")


@pytest.fixture
def fixture_proc(tmp_path: Path) -> Path:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(TCP_FIXTURE)
    (tmp_path / "net" / "tcp6").write_text(TCP6_FIXTURE)
    return tmp_path


def test_addresses_decode_in_the_hosts_word_order() -> None:
    assert parse_address("0100007F:1F90", "little") == (LOCALHOST, 8080)
    assert parse_address("7F000001:1F90", "big") == (LOCALHOST, 8080)
    assert parse_address("00000000000000000000000001000000:0016", "little") == (V6("::1"), 22)
    assert parse_address("00000000000000000000000000000001:0016", "big") == (V6("::1"), 22)
    assert parse_address("0000000000000000FFFF00000100007F:1F90", "little") == (V6("::ffff:127.0.0.1"), 8080)
    for bad in ("0100007F", "0100:1F90", "zz00007F:1F90"):
        with pytest.raises(ValueError):  # noqa: PT011 - int()'s and ours are both ValueError
            parse_address(bad, "little")


@pytest.mark.parametrize("byteorder", ["little", "big"])
@pytest.mark.parametrize("address", [LOCALHOST, V4("10.1.2.3"), V6("::1"), V6("::ffff:127.0.0.1"), V6("fe80::1:2")])
def test_encoding_is_the_inverse_of_decoding(address: V4 | V6, byteorder: str) -> None:
    order: Literal["little", "big"] = "little" if byteorder == "little" else "big"
    assert parse_address(encode_address(address, 443, byteorder=order), order) == (address, 443)


def test_the_table_parses_rows_and_skips_the_header_and_junk() -> None:
    rows = parse_table(TCP_FIXTURE, "little")
    assert len(rows) == 5
    assert rows[3].local == (LOCALHOST, 0xD431)
    assert rows[3].remote == (LOCALHOST, 8080)
    assert (rows[3].state, rows[3].uid, rows[3].inode) == (1, 1000, 33333)


def test_the_peer_is_the_live_row_with_its_address_local_and_the_proxy_remote() -> None:
    rows = parse_table(TCP_FIXTURE, "little")
    found = find_row(rows, (LOCALHOST, 0xD431), (LOCALHOST, 8080))
    assert found is not None
    assert (found.uid, found.inode) == (1000, 33333)  # not the TIME_WAIT row before it, not the accepted socket
    assert find_row(rows, (LOCALHOST, 0xD432), (LOCALHOST, 8080)) is None  # same peer port, other server port
    assert find_row(rows, (V6("::ffff:127.0.0.1"), 0xD431), (V6("::ffff:127.0.0.1"), 8080)) == found


def test_a_time_wait_row_alone_has_no_owner(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    only_time_wait = "\n".join(TCP_FIXTURE.splitlines()[:3]) + "\n"
    (tmp_path / "net" / "tcp").write_text(only_time_wait)
    peer, server = (LOCALHOST, 0xD431), (LOCALHOST, 8080)
    assert find_row(parse_table(only_time_wait, "little"), peer, server) is None
    assert owner_from_proc(peer, server, proc=tmp_path, byteorder="little") is None


def test_owner_from_proc_reads_both_tables(fixture_proc: Path) -> None:
    def owner(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
        return owner_from_proc((ipaddress.ip_address(peer[0]), peer[1]), (ipaddress.ip_address(server[0]), server[1]),
                               proc=fixture_proc, byteorder="little")

    assert owner(("127.0.0.1", 0xD431), ("127.0.0.1", 8080)) == 1000
    assert owner(("127.0.0.1", 0xD432), ("127.0.0.1", 0x1F91)) == 2000
    assert owner(("127.0.0.1", 40000), ("127.0.0.1", 8080)) == 3000  # an IPv6 socket to the IPv4-mapped address
    assert owner(("::ffff:127.0.0.1", 40000), ("::ffff:127.0.0.1", 8080)) == 3000
    assert owner(("::ffff:127.0.0.1", 0xD431), ("::ffff:127.0.0.1", 8080)) == 1000
    assert owner(("::1", 40001), ("::1", 8080)) == 4000
    assert owner(("127.0.0.1", 1), ("127.0.0.1", 8080)) is None


def test_only_the_owner_root_and_allowed_uids_pass() -> None:
    assert is_allowed_uid(1000, own=1000)
    assert is_allowed_uid(0, own=1000)
    assert not is_allowed_uid(65534, own=1000)
    assert is_allowed_uid(65534, own=1000, allowed=[65534])
    assert not is_allowed_uid(None, own=1000, allowed=[0, 1000])


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A real loopback connection: (the client's socket, the accepted one)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname(), timeout=5)
        accepted, _ = listener.accept()
    yield client, accepted
    client.close()
    accepted.close()


def _ends(client: socket.socket, accepted: socket.socket) -> tuple[tuple[str, int], tuple[str, int]]:
    peer = accepted.getpeername()
    server = accepted.getsockname()
    return (peer[0], peer[1]), (server[0], server[1])


@linux_only
def test_a_real_connection_is_found_in_the_real_proc_table(connection: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = connection
    peer, server = _ends(client, accepted)
    rows = parse_table(Path("/proc/net/tcp").read_text())
    row = find_row(rows, (ipaddress.ip_address(peer[0]), peer[1]), (ipaddress.ip_address(server[0]), server[1]))
    assert row is not None
    assert row.uid == os.getuid()
    assert row.inode == os.fstat(client.fileno()).st_ino
    found = owner_from_proc((ipaddress.ip_address(peer[0]), peer[1]), (ipaddress.ip_address(server[0]), server[1]))
    assert found == os.getuid()


@linux_only
def test_sock_diag_and_proc_agree_on_a_real_connection(connection: tuple[socket.socket, socket.socket]) -> None:
    client, accepted = connection
    peer, server = _ends(client, accepted)
    owners = PeerOwners()
    assert owners.method == "sock_diag"
    assert owners.owner(peer, server) == os.getuid()
    assert owner_from_diag((LOCALHOST, peer[1]), (LOCALHOST, server[1])) == os.getuid()
    assert owners.owner(peer, (server[0], server[1] + 1 if server[1] < 65535 else 1)) is None
    assert owners.owner(("not an address", 1), server) is None
    owners.close()


@linux_only
def test_an_ipv6_socket_on_the_ipv4_mapped_address_is_found() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.socket(socket.AF_INET6) as client:
            client.connect(("::ffff:127.0.0.1", port))
            accepted, (host, peer_port) = listener.accept()
            with accepted:
                assert host == "127.0.0.1"
                owners = PeerOwners()
                assert owners.owner((host, peer_port), ("127.0.0.1", port)) == os.getuid()
                owners.close()
                proc_only = PeerOwners(proc=Path("/proc"))
                proc_only.close()  # drop its sock_diag channel: /proc from here on
                assert proc_only.owner((host, peer_port), ("127.0.0.1", port)) == os.getuid()


@linux_only
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_connection_of_another_uid_is_found_as_that_uid() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        script = (f"import socket, sys; s = socket.create_connection(('127.0.0.1', {port})); "
                  "print(s.getsockname()[1], flush=True); sys.stdin.read()")
        child = subprocess.Popen(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",  # noqa: S607 - test tool on PATH
                                  sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert child.stdout is not None
            peer_port = int(child.stdout.readline())
            accepted, _ = listener.accept()
            with accepted:
                owners = PeerOwners()
                assert owners.owner(("127.0.0.1", peer_port), ("127.0.0.1", port)) == 65534
                assert owner_from_proc((LOCALHOST, peer_port), (LOCALHOST, port)) == 65534
                assert not is_allowed_uid(owners.owner(("127.0.0.1", peer_port), ("127.0.0.1", port)), own=os.getuid())
                owners.close()
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)
            assert child.stdout is not None
            child.stdout.close()


@linux_only
@pytest.mark.skipif(not socket.has_ipv6 or not Path("/proc/net/tcp6").exists(), reason="no IPv6 here")
def test_a_real_ipv6_loopback_connection_is_found_in_the_real_tcp6_table() -> None:
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no ::1 here: {exc}")
    with listener:
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("::1", port), timeout=5) as client:
            accepted, peer = listener.accept()
            with accepted:
                peer_end, server_end = (V6(peer[0]), peer[1]), (V6("::1"), port)
                row = find_row(parse_table(Path("/proc/net/tcp6").read_text()), peer_end, server_end)
                assert row is not None
                assert (row.uid, row.inode) == (os.getuid(), os.fstat(client.fileno()).st_ino)
                assert owner_from_proc(peer_end, server_end) == os.getuid()
                assert owner_from_diag(peer_end, server_end) == os.getuid()
