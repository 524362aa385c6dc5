"""Package sources pinned by hash: the lock's schema, the checks a build makes, `registry pin` against a real
package index served on 127.0.0.1 (a simple index and PyPI's JSON API), and `registry sign`'s `:latest` lint."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.unit.registry_fixtures import server, write_signed
from toolhive_py.errors import ExitCode, RegistryFormatError, VerificationError
from toolhive_py.packages import parse_package
from toolhive_py.registry import pinning
from toolhive_py.registry.models import PackageLock, parse_registry

SOURCE = "uvx://demo-server==1.0"


def _wheel(into: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal, valid pure-Python wheel: pip reads its metadata, nothing more."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = into / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
        archive.writestr(f"{dist}.dist-info/METADATA", metadata)
        archive.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                    "Tag: py3-none-any\n")
        archive.writestr(f"{dist}.dist-info/entry_points.txt", f"[console_scripts]\n{name} = demo:main\n")
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lock(requirements: list[tuple[str, str, str]]) -> PackageLock:
    return PackageLock.model_validate({"python": "3.11", "requirements": [
        {"name": name, "version": version, "sha256": [digest]} for name, version, digest in requirements]})


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    files = tmp_path / "files"
    files.mkdir()
    _wheel(files, "demo-server", "1.0", ("demo-dep>=2",))
    _wheel(files, "demo-dep", "2.1")
    return files


class _Index:
    """A package index on 127.0.0.1: PEP 503 pages under /simple/ and PyPI's JSON API under /pypi/."""

    def __init__(self, root: Path, published: dict[str, dict[str, list[str]]]) -> None:
        self.root = root
        self.published = published


@pytest.fixture
def index(tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Index]:
    root = tmp_path / "index"
    published: dict[str, dict[str, list[str]]] = {}
    for wheel in wheels.iterdir():
        name, version = pinning.wheel_name_version(wheel.name)
        page = root / "simple" / name
        page.mkdir(parents=True)
        (page / "index.html").write_text(f'<a href="/files/{wheel.name}#sha256={_sha(wheel)}">{wheel.name}</a>\n')
        published.setdefault(name, {})[version] = [_sha(wheel)]
    (root / "files").symlink_to(wheels)
    state = _Index(root, published)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = self.path.strip("/").split("/")
            if parts[0] == "pypi" and len(parts) == 3 and parts[2] == "json":
                releases = {v: [{"digests": {"sha256": d}} for d in ds]
                            for v, ds in state.published.get(parts[1], {}).items()}
                body = json.dumps({"releases": releases}).encode()
                self.send_response(200 if releases else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("PIP_INDEX_URL", f"{base}/simple/")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # only this index: none of the machine's own
    monkeypatch.setenv(pinning.PYPI_JSON_ENV, f"{base}/pypi")
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_pin_writes_every_locked_wheel_with_its_sha256(tmp_path: Path, index: _Index, wheels: Path) -> None:
    document = write_signed(tmp_path / "acme.json", {"demo": server(package=SOURCE)}, None)
    result = run_cli("registry", "pin", "demo", "--file", str(document), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["data"] == {"name": "demo", "package": SOURCE, "files": 2, "python": "3.11"}
    entry = json.loads(document.read_text())["servers"]["demo"]
    assert list(entry).index("package_lock") == list(entry).index("package") + 1, "the lock sits by its source"
    assert entry["package_lock"] == {"python": "3.11", "requirements": [
        {"name": "demo-dep", "version": "2.1", "sha256": [_sha(wheels / "demo_dep-2.1-py3-none-any.whl")]},
        {"name": "demo-server", "version": "1.0", "sha256": [_sha(wheels / "demo_server-1.0-py3-none-any.whl")]},
    ]}
    parse_registry(document.read_bytes(), source=str(document)).servers["demo"].package_lock  # noqa: B018 - valid


def test_a_constraint_holds_back_a_dependency_released_after_the_server(tmp_path: Path, index: _Index,
                                                                        wheels: Path) -> None:
    newer = _wheel(wheels, "demo-dep", "3.0")  # a later major release the server's open range lets in
    page = index.root / "simple" / "demo-dep" / "index.html"
    page.write_text(page.read_text() + f'<a href="/files/{newer.name}#sha256={_sha(newer)}">{newer.name}</a>\n')
    index.published["demo-dep"]["3.0"] = [_sha(newer)]
    document = write_signed(tmp_path / "acme.json", {"demo": server(package=SOURCE)}, None)

    assert run_cli("registry", "pin", "demo", "--file", str(document)).exit_code == 0
    versions = {r["name"]: r["version"] for r in json.loads(document.read_text())["servers"]["demo"]["package_lock"]
                ["requirements"]}
    assert versions["demo-dep"] == "3.0"
    held = run_cli("registry", "pin", "demo", "--file", str(document), "--constraint", "demo-dep<3")
    assert held.exit_code == 0, held.stderr
    versions = {r["name"]: r["version"] for r in json.loads(document.read_text())["servers"]["demo"]["package_lock"]
                ["requirements"]}
    assert versions == {"demo-dep": "2.1", "demo-server": "1.0"}


def test_with_locks_a_requirement_a_marker_leaves_out_here(tmp_path: Path, index: _Index, wheels: Path) -> None:
    extra = _wheel(wheels, "demo-extra", "1.0")  # e.g. async-timeout, needed below Python 3.11.3 only
    page = index.root / "simple" / "demo-extra"
    page.mkdir()
    (page / "index.html").write_text(f'<a href="/files/{extra.name}#sha256={_sha(extra)}">{extra.name}</a>\n')
    index.published["demo-extra"] = {"1.0": [_sha(extra)]}
    document = write_signed(tmp_path / "acme.json", {"demo": server(package=SOURCE)}, None)
    result = run_cli("registry", "pin", "demo", "--file", str(document), "--with", "demo-extra")
    assert result.exit_code == 0, result.stderr
    lock = json.loads(document.read_text())["servers"]["demo"]["package_lock"]
    assert [r["name"] for r in lock["requirements"]] == ["demo-dep", "demo-extra", "demo-server"]


def test_constraints_are_for_uvx_sources_only(tmp_path: Path) -> None:
    document = write_signed(tmp_path / "acme.json", {"demo": server(package="npx://demo@1.0.0")}, None)
    result = run_cli("registry", "pin", "demo", "--file", str(document), "--constraint", "x<2")
    assert result.exit_code == ExitCode.USAGE
    assert "uvx:// sources only" in result.stderr


def test_pin_refuses_a_file_the_json_api_does_not_publish(tmp_path: Path, index: _Index) -> None:
    index.published["demo-dep"]["2.1"] = ["0" * 64]  # the index serves bytes PyPI never published
    document = write_signed(tmp_path / "acme.json", {"demo": server(package=SOURCE)}, None)
    before = document.read_text()
    result = run_cli("registry", "pin", "demo", "--file", str(document))
    assert result.exit_code == ExitCode.VERIFICATION
    assert "demo_dep-2.1-py3-none-any.whl" in result.stderr
    assert "is not a file PyPI publishes" in result.stderr
    assert document.read_text() == before


def test_pin_of_an_entry_without_a_package_asks_for_one(tmp_path: Path) -> None:
    document = write_signed(tmp_path / "acme.json", {"demo": server()}, None)
    result = run_cli("registry", "pin", "demo", "--file", str(document))
    assert result.exit_code == ExitCode.USAGE
    assert "--package" in result.stderr


def test_real_pip_hash_refusal_names_the_file_and_both_hashes(tmp_path: Path, wheels: Path) -> None:
    wheel = wheels / "demo_dep-2.1-py3-none-any.whl"
    wrong = "a" * 64
    lock = _lock([("demo-dep", "2.1", wrong)])
    (tmp_path / "requirements.txt").write_text(pinning.requirements_text(lock))
    pip = subprocess.run([sys.executable, "-m", "pip", "download", "--no-index", "--find-links", str(wheels),  # noqa: S603
                          "--isolated", "--no-deps", "--require-hashes", "-r", str(tmp_path / "requirements.txt"),
                          "--dest", str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert pip.returncode != 0
    refusal = pinning.pip_hash_error(parse_package("uvx://demo-dep==2.1"), lock, pip.stderr)
    assert refusal is not None
    assert isinstance(refusal, VerificationError)
    assert refusal.exit_code == ExitCode.VERIFICATION
    assert wheel.name in refusal.message
    assert f"expected sha256:{wrong}" in refusal.message
    assert f"got sha256:{_sha(wheel)}" in refusal.message


def test_check_wheels_refuses_changed_extra_and_missing_files(tmp_path: Path, wheels: Path) -> None:
    package = parse_package(SOURCE)
    server_sha = _sha(wheels / "demo_server-1.0-py3-none-any.whl")
    dep_sha = _sha(wheels / "demo_dep-2.1-py3-none-any.whl")
    pinning.check_wheels(package, _lock([("demo-server", "1.0", server_sha), ("demo_dep", "2.1", dep_sha)]), wheels)
    with pytest.raises(VerificationError, match=rf"demo_dep-2.1-py3-none-any.whl .*expected sha256:{'b' * 64}, "
                                                rf"got sha256:{dep_sha}"):
        pinning.check_wheels(package, _lock([("demo-server", "1.0", server_sha), ("demo-dep", "2.1", "b" * 64)]),
                             wheels)
    with pytest.raises(VerificationError, match="demo_dep-2.1-py3-none-any.whl is not in the entry's pinned"):
        pinning.check_wheels(package, _lock([("demo-server", "1.0", server_sha)]), wheels)
    with pytest.raises(VerificationError, match="were not downloaded: other"):
        pinning.check_wheels(package, _lock([("demo-server", "1.0", server_sha), ("demo-dep", "2.1", dep_sha),
                                             ("other", "1", dep_sha)]), wheels)


NPM_LOCK = {"npm": {
    "node_modules/demo": {"version": "1.0.0", "integrity": "sha512-" + "A" * 86 + "==", "bin": {"demo": "x.js"},
                          "dependencies": {"dep": "^2.0.0"}},
    "node_modules/dep": {"version": "2.0.1", "integrity": "sha512-" + "B" * 86 + "=="},
}}


def test_npm_lockfile_is_a_v3_lock_without_resolved_urls() -> None:
    package = parse_package("npx://demo@1.0.0")
    lockfile = pinning.npm_lockfile(package, PackageLock.model_validate(NPM_LOCK))
    assert lockfile["lockfileVersion"] == 3
    assert lockfile["packages"][""]["dependencies"] == {"demo": "1.0.0"}
    assert lockfile["packages"]["node_modules/dep"] == {"version": "2.0.1", "integrity": "sha512-" + "B" * 86 + "=="}
    assert not any("resolved" in record for record in lockfile["packages"].values())


def test_npm_integrity_refusal_names_the_locked_package() -> None:
    lock = PackageLock.model_validate(NPM_LOCK)
    wanted, got = "sha512-" + "B" * 86 + "==", "sha512-" + "C" * 86 + "=="
    stderr = (f"npm error code EINTEGRITY\nnpm error sha512-{'B' * 86}== integrity checksum failed when using "
              f"sha512: wanted {wanted} but got {got}. (1234 bytes)\n")
    refusal = pinning.npm_integrity_error(parse_package("npx://demo@1.0.0"), lock, stderr)
    assert refusal is not None
    assert refusal.message == (f"npx://demo@1.0.0: dep@2.0.1 does not match its pinned integrity: "
                               f"expected {wanted}, got {got}.")
    assert pinning.npm_integrity_error(parse_package("npx://demo@1.0.0"), lock, "npm error code E404") is None


@pytest.mark.parametrize(("entry", "problem"), [
    ({"image": "x:1", "package_lock": {"python": "3.11", "requirements": [
        {"name": "demo-server", "version": "1.0", "sha256": ["a" * 64]}]}}, "'package_lock' needs a 'package'"),
    ({"package": SOURCE, "package_lock": {"python": "3.11", "requirements": [
        {"name": "demo-server", "version": "1.1", "sha256": ["a" * 64]}]}}, "must pin demo-server==1.0"),
    ({"package": SOURCE, "package_lock": {"requirements": [
        {"name": "demo-server", "version": "1.0", "sha256": ["a" * 64]}]}}, "'python'"),
    ({"package": SOURCE, "package_lock": {"python": "3.11", "requirements": [
        {"name": "demo-server", "version": "1.0", "sha256": ["A" * 64]}]}}, "64 lower-case hex"),
    ({"package": "npx://demo@1.0.0", "package_lock": {**NPM_LOCK, "python": "3.11", "requirements": [
        {"name": "demo", "version": "1.0.0", "sha256": ["a" * 64]}]}}, "exactly one of"),
    ({"package": "npx://demo@1.0.1", "package_lock": NPM_LOCK}, "must lock node_modules/demo at 1.0.1"),
])
def test_a_lock_that_does_not_pin_its_source_is_a_schema_error(entry: dict[str, Any], problem: str) -> None:
    document = {"schema_version": 1, "version": 1, "expires": "2099-01-01T00:00:00Z",
                "servers": {"demo": {"description": "d", **entry}}}
    with pytest.raises(RegistryFormatError, match="server 'demo': ") as caught:
        parse_registry(json.dumps(document).encode(), source="acme.json")
    assert problem in caught.value.message


def test_sign_refuses_moving_tags_unless_allowed(tmp_path: Path) -> None:
    assert run_cli("registry", "keygen", "--out", str(tmp_path / "keys"), "--name", "k").exit_code == 0
    document = write_signed(tmp_path / "acme.json", {
        "ok": server(image="registry.example/ok:1.2.3"), "pinned": server(image="registry.example/p@sha256:" + "a" * 64),
        "moving": server(image="registry.example/moving:latest"), "bare": server(image="registry.example:5000/bare"),
    }, None)
    refused = run_cli("registry", "sign", str(document), "--key", str(tmp_path / "keys" / "k.key"))
    assert refused.exit_code == ExitCode.VERIFICATION
    assert "moving (registry.example/moving:latest)" in refused.stderr
    assert "bare (registry.example:5000/bare)" in refused.stderr
    assert "ok (" not in refused.stderr
    assert "pinned (" not in refused.stderr
    assert not document.with_name("acme.json.minisig").exists()
    allowed = run_cli("registry", "sign", str(document), "--key", str(tmp_path / "keys" / "k.key"),
                      "--allow-floating-tags")
    assert allowed.exit_code == 0, allowed.stderr
    assert document.with_name("acme.json.minisig").exists()

