"""Our minisign implementation against the stock minisign binary, both ways."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolhive_py.errors import UsageError, VerificationError
from toolhive_py.registry import minisign

MINISIGN = shutil.which("minisign") or "minisign"  # tests that need it are skipped without it
needs_minisign = pytest.mark.skipif(shutil.which("minisign") is None, reason="stock minisign not installed (scripts/test installs it)")


def _write_pair(tmp_path: Path) -> tuple[Path, Path, minisign.KeyPair]:
    pair = minisign.generate_keypair()
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    key.write_text(pair.secret.to_file_text())
    pub.write_text(pair.public.to_file_text())
    return key, pub, pair


@needs_minisign
def test_stock_minisign_verifies_our_signature(tmp_path: Path) -> None:
    _, pub, pair = _write_pair(tmp_path)
    doc = tmp_path / "doc.json"
    doc.write_bytes(b'{"hello": "world"}\n')
    (tmp_path / "doc.json.minisig").write_text(minisign.sign(doc.read_bytes(), pair.secret, trusted_comment="tc").to_file_text())
    result = subprocess.run([MINISIGN, "-Vm", str(doc), "-p", str(pub)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Trusted comment: tc" in result.stdout


@needs_minisign
def test_we_verify_stock_minisign_signatures_and_read_its_unencrypted_keys(tmp_path: Path) -> None:
    key, pub = tmp_path / "s.key", tmp_path / "s.pub"
    subprocess.run([MINISIGN, "-G", "-W", "-s", str(key), "-p", str(pub)], check=True, capture_output=True)
    doc = tmp_path / "doc.json"
    doc.write_bytes(b"payload")
    subprocess.run([MINISIGN, "-S", "-s", str(key), "-m", str(doc), "-t", "from stock"], check=True, capture_output=True)
    signature = minisign.parse_signature((tmp_path / "doc.json.minisig").read_text())
    public = minisign.parse_public_key(pub.read_text())
    assert minisign.verify(b"payload", signature, public) == "from stock"
    # And its secret key signs documents that verify against its public key.
    ours = minisign.sign(b"other", minisign.parse_secret_key(key.read_text()))
    assert minisign.verify(b"other", ours, public).startswith("timestamp:")


def test_changed_byte_fails_verification(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    signature = minisign.sign(b"abc", pair.secret)
    with pytest.raises(VerificationError) as info:
        minisign.verify(b"abd", signature, pair.public)
    assert info.value.code == "bad-signature"


def test_tampered_trusted_comment_fails(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    text = minisign.sign(b"abc", pair.secret, trusted_comment="v1").to_file_text().replace("v1", "v2")
    with pytest.raises(VerificationError, match="trusted comment"):
        minisign.verify(b"abc", minisign.parse_signature(text), pair.public)


def test_signature_by_another_key_names_both_key_ids() -> None:
    signer, trusted = minisign.generate_keypair(), minisign.generate_keypair()
    with pytest.raises(VerificationError) as info:
        minisign.verify(b"abc", minisign.sign(b"abc", signer.secret), trusted.public)
    assert signer.public.key_id_hex in info.value.message
    assert trusted.public.key_id_hex in info.value.message


def test_garbage_signature_is_a_clear_error() -> None:
    with pytest.raises(VerificationError, match="not in minisign format"):
        minisign.parse_signature("hello\nworld\n")


def test_encrypted_secret_key_is_refused_with_a_hint(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    text = pair.secret.to_file_text()
    import base64

    raw = bytearray(base64.b64decode(text.splitlines()[1]))
    raw[2:4] = b"Sc"
    with pytest.raises(UsageError) as info:
        minisign.parse_secret_key("untrusted comment: x\n" + base64.b64encode(bytes(raw)).decode())
    assert "-W" in (info.value.hint or "")


def test_public_key_accepts_bare_base64_line() -> None:
    pair = minisign.generate_keypair()
    assert minisign.parse_public_key(pair.public.to_base64()) == pair.public
