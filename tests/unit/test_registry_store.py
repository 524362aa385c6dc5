"""The registry store's own guarantees: bounded reads of documents and signatures (files and downloads), and
which registry a bare server name resolves to when several list it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.unit.registry_fixtures import server, write_signed
from toolhive_py.config import Paths
from toolhive_py.errors import ExitCode, VerificationError
from toolhive_py.registry import RegistryStore, minisign
from toolhive_py.registry.store import (
    BUILTIN_REGISTRY,
    MAX_REGISTRY_BYTES,
    MAX_SIGNATURE_BYTES,
    RegistrySource,
    rank_candidates,
)

_CHUNK = b"x" * 65536


@pytest.fixture
def pair() -> minisign.KeyPair:
    return minisign.generate_keypair()


@pytest.fixture
def store() -> RegistryStore:
    return RegistryStore(Paths.from_env())


# ----- bounded reads: downloads -------------------------------------------------------------------

@dataclass
class _Site:
    """What a local registry server serves: fixed files, plus paths whose body never ends."""

    files: dict[str, bytes] = field(default_factory=dict)
    endless: set[str] = field(default_factory=set)
    sent: dict[str, int] = field(default_factory=dict)
    # The endless body is still bounded, so a regression fails the test instead of hanging it.
    endless_limit: int = 2 * MAX_REGISTRY_BYTES


def _handler(site: _Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

        def do_GET(self) -> None:
            if self.path in site.endless:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()  # no Content-Length: HTTP/1.0 reads until the connection closes
                sent = 0
                try:
                    while sent < site.endless_limit:
                        self.wfile.write(_CHUNK)
                        sent += len(_CHUNK)
                except OSError:
                    pass  # the client hung up: what the cap should make it do
                site.sent[self.path] = sent
                return
            body = site.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def site() -> Iterator[tuple[_Site, str]]:
    state = _Site()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _wait_for(site: _Site, path: str) -> int:
    deadline = time.monotonic() + 10
    while path not in site.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    return site.sent[path]


@pytest.mark.timeout(60)
def test_an_endless_registry_download_is_refused_at_the_cap(
    site: tuple[_Site, str], store: RegistryStore, pair: minisign.KeyPair
) -> None:
    state, base = site
    state.endless.add("/reg.json")
    with pytest.raises(VerificationError) as caught:
        store.add("web", f"{base}/reg.json", public_key=pair.public.to_base64())
    assert caught.value.code == "too-large"
    assert str(MAX_REGISTRY_BYTES) in caught.value.message
    assert caught.value.hint
    # The client hung up soon after the cap: the server did not get to send its whole (bounded) body.
    assert _wait_for(state, "/reg.json") < state.endless_limit
    assert not store.paths.registries_file.exists()


@pytest.mark.timeout(60)
def test_an_endless_signature_download_is_refused_at_a_few_kilobytes(
    tmp_path: Path, site: tuple[_Site, str], store: RegistryStore, pair: minisign.KeyPair
) -> None:
    state, base = site
    doc = write_signed(tmp_path / "reg.json", {"widget": server()}, None)
    state.files["/reg.json"] = doc.read_bytes()
    state.endless.add("/reg.json.minisig")
    with pytest.raises(VerificationError) as caught:
        store.add("web", f"{base}/reg.json", public_key=pair.public.to_base64())
    assert caught.value.code == "too-large"
    assert str(MAX_SIGNATURE_BYTES) in caught.value.message
    assert _wait_for(state, "/reg.json.minisig") < state.endless_limit


# ----- bounded reads: files --------------------------------------------------------------------------

def _signed_doc(tmp_path: Path, pair: minisign.KeyPair) -> tuple[Path, Path]:
    doc = write_signed(tmp_path / "acme.json", {"widget": server()}, pair.secret)
    pub = tmp_path / "acme.pub"
    pub.write_text(pair.public.to_file_text())
    return doc, doc.with_name(doc.name + ".minisig")


def test_a_signature_linked_to_dev_zero_is_refused_not_read(tmp_path: Path, pair: minisign.KeyPair) -> None:
    doc, sig = _signed_doc(tmp_path, pair)
    sig.unlink()
    sig.symlink_to("/dev/zero")
    result = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert result.exit_code == ExitCode.VERIFICATION
    assert "not a regular file" in result.stderr


def test_a_huge_signature_file_is_refused_at_the_cap(tmp_path: Path, pair: minisign.KeyPair) -> None:
    doc, sig = _signed_doc(tmp_path, pair)
    with sig.open("r+b") as handle:  # sparse: 1 GiB on paper, nothing on disk
        handle.truncate(1 << 30)
    result = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert result.exit_code == ExitCode.VERIFICATION
    assert f"larger than {MAX_SIGNATURE_BYTES} bytes" in result.stderr


def test_a_binary_signature_is_exit_3_with_a_message(tmp_path: Path, pair: minisign.KeyPair) -> None:
    doc, sig = _signed_doc(tmp_path, pair)
    sig.write_bytes(b"\xff\xfe\x00binary" * 10)
    result = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert result.exit_code == ExitCode.VERIFICATION
    assert "not text" in result.stderr


def test_a_directory_signature_is_exit_3_with_a_message(tmp_path: Path, pair: minisign.KeyPair) -> None:
    doc, sig = _signed_doc(tmp_path, pair)
    sig.unlink()
    sig.mkdir()
    result = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert result.exit_code == ExitCode.VERIFICATION
    assert "not a regular file" in result.stderr


@pytest.mark.timeout(20)
def test_a_fifo_signature_is_refused_without_waiting_for_a_writer(tmp_path: Path, pair: minisign.KeyPair) -> None:
    doc, sig = _signed_doc(tmp_path, pair)
    sig.unlink()
    os.mkfifo(sig)
    result = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert result.exit_code == ExitCode.VERIFICATION
    assert "not a regular file" in result.stderr


def test_a_registry_document_over_the_cap_is_refused(tmp_path: Path, pair: minisign.KeyPair) -> None:
    doc, _ = _signed_doc(tmp_path, pair)
    with doc.open("r+b") as handle:
        handle.truncate(MAX_REGISTRY_BYTES + 1)
    result = run_cli("registry", "add", "acme", str(doc), "--pubkey", str(tmp_path / "acme.pub"))
    assert result.exit_code == ExitCode.VERIFICATION
    assert f"larger than {MAX_REGISTRY_BYTES} bytes" in result.stderr


def test_a_key_file_linked_to_dev_zero_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "zero.key"
    key.symlink_to("/dev/zero")
    with pytest.raises(VerificationError, match="not a regular file"):
        minisign.read_text(key, "secret key")


# ----- name clashes --------------------------------------------------------------------------------

def _add(store: RegistryStore, tmp_path: Path, pair: minisign.KeyPair, name: str, servers: dict[str, object],
         **options: object) -> None:
    doc = write_signed(tmp_path / f"{name}.json", servers, pair.secret)
    store.add(name, str(doc), public_key=pair.public.to_base64(), **options)  # type: ignore[arg-type]


def _source(name: str, priority: int = 10, *, shadow: bool = False) -> RegistrySource:
    return RegistrySource(name, f"/{name}.json", None, priority, shadow_builtin=shadow)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        # An added registry with a higher priority still ranks below the built-in one ...
        ([_source("acme"), _source(BUILTIN_REGISTRY, 0)], [BUILTIN_REGISTRY, "acme"]),
        # ... unless it was added to shadow it; then priority decides again.
        ([_source("acme", shadow=True), _source(BUILTIN_REGISTRY, 0)], ["acme", BUILTIN_REGISTRY]),
        ([_source("acme", -1, shadow=True), _source(BUILTIN_REGISTRY, 0)], [BUILTIN_REGISTRY, "acme"]),
        ([_source("a", 5), _source("b", 20, shadow=True), _source("c", 30), _source(BUILTIN_REGISTRY, 0)],
         ["b", BUILTIN_REGISTRY, "c", "a"]),
        # Without the built-in one in the running, priority alone orders added registries.
        ([_source("low", 5), _source("high", 20)], ["high", "low"]),
    ],
)
def test_rank_candidates_keeps_the_builtin_ahead_of_registries_that_did_not_choose_to_shadow(
    candidates: list[RegistrySource], expected: list[str]
) -> None:
    assert [c.name for c in rank_candidates(candidates)] == expected


def test_an_added_registry_does_not_shadow_a_builtin_name_by_default(
    tmp_path: Path, store: RegistryStore, pair: minisign.KeyPair
) -> None:
    _add(store, tmp_path, pair, "acme", {"github": server(description="ACME's github")})
    found = store.find("github")
    assert (found.registry, found.preferred, found.also_in, found.shadows_builtin) == (
        BUILTIN_REGISTRY, True, ("acme",), False)
    qualified = store.find("acme/github")
    assert (qualified.registry, qualified.entry.description) == ("acme", "ACME's github")
    assert (qualified.preferred, qualified.also_in) == (False, (BUILTIN_REGISTRY,))
    assert store.names_shared_with_builtin("acme") == ["github"]


def test_shadow_builtin_is_an_explicit_choice_that_is_saved(
    tmp_path: Path, store: RegistryStore, pair: minisign.KeyPair
) -> None:
    _add(store, tmp_path, pair, "acme", {"github": server()}, shadow_builtin=True)
    found = RegistryStore(store.paths).find("github")  # a fresh store reads registries.toml
    assert (found.registry, found.also_in, found.shadows_builtin) == ("acme", (BUILTIN_REGISTRY,), True)
    assert RegistryStore(store.paths).find(f"{BUILTIN_REGISTRY}/github").registry == BUILTIN_REGISTRY


def test_a_registry_saved_before_the_shadow_setting_existed_does_not_shadow(
    tmp_path: Path, store: RegistryStore, pair: minisign.KeyPair
) -> None:
    doc = write_signed(tmp_path / "acme.json", {"github": server()}, pair.secret)
    store.paths.registries_file.parent.mkdir(parents=True, exist_ok=True)
    store.paths.registries_file.write_text(
        f'[registries.acme]\nsource = "{doc}"\npubkey = "{pair.public.to_base64()}"\npriority = 10\n'
    )
    assert store.find("github").registry == BUILTIN_REGISTRY


def test_priority_still_decides_between_added_registries(
    tmp_path: Path, store: RegistryStore, pair: minisign.KeyPair
) -> None:
    _add(store, tmp_path, pair, "low", {"widget": server(description="low")}, priority=5)
    _add(store, tmp_path, pair, "high", {"widget": server(description="high")}, priority=20)
    found = store.find("widget")
    assert (found.registry, found.also_in) == ("high", ("low",))


def test_search_and_all_servers_show_each_registry_with_the_one_a_bare_name_picks_first(
    tmp_path: Path, store: RegistryStore, pair: minisign.KeyPair
) -> None:
    _add(store, tmp_path, pair, "acme", {"github": server(description="github, by acme")})
    hits = [(f.registry, f.preferred) for f in store.search("github") if f.name == "github"]
    assert hits == [(BUILTIN_REGISTRY, True), ("acme", False)]
    listed = [(f.registry, f.preferred) for f in store.all_servers() if f.name == "github"]
    assert listed == [(BUILTIN_REGISTRY, True), ("acme", False)]


def test_a_qualified_name_works_while_another_registry_cannot_load(
    tmp_path: Path, store: RegistryStore, pair: minisign.KeyPair
) -> None:
    _add(store, tmp_path, pair, "acme", {"widget": server()})
    _add(store, tmp_path, pair, "broken", {"widget": server()})
    (tmp_path / "broken.json").write_text("{}")  # no longer matches its signature
    fresh = RegistryStore(store.paths)
    assert fresh.find("acme/widget").also_in == ()
    with pytest.raises(VerificationError):
        fresh.find("widget")
