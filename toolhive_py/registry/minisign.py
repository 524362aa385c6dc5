"""Minisign-compatible Ed25519 signatures, so the stock ``minisign -V`` verifies what we sign and back.

Formats (https://jedisct1.github.io/minisign/):
  public key  base64("Ed" | key_id[8] | public_key[32])
  secret key  base64("Ed" | kdf_alg[2] | "B2" | salt[32] | opslimit[8] | memlimit[8]
                     | key_id[8] | secret_key[64] | checksum[32])   checksum = BLAKE2b-256("Ed" | key_id | secret_key)
  signature   untrusted comment line, base64("ED" | key_id | Ed25519(BLAKE2b-512(file))),
              trusted comment line, base64(Ed25519(signature | trusted_comment))
Only unencrypted secret keys (``minisign -G -W``, kdf_alg = 0x0000) are read; we never store passwords.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from toolhive_py.errors import UsageError, VerificationError

__all__ = [
    "MAX_KEY_FILE_BYTES",
    "KeyPair",
    "PublicKey",
    "SecretKey",
    "Signature",
    "generate_keypair",
    "parse_public_key",
    "parse_secret_key",
    "parse_signature",
    "read_bounded",
    "read_text",
    "sign",
    "too_large",
    "verify",
]

_ED: Final = b"Ed"
_ED_PREHASHED: Final = b"ED"
_CHECKSUM_ALG: Final = b"B2"
_KDF_NONE: Final = b"\x00\x00"
_UNTRUSTED: Final = "untrusted comment: "
_TRUSTED: Final = "trusted comment: "
# Keys and signatures are four lines at most; minisign caps a trusted comment at 8 KiB.
MAX_KEY_FILE_BYTES: Final = 16 * 1024


def _key_id_hex(key_id: bytes) -> str:
    """Key ids print as minisign prints them: little-endian, upper-case hex."""
    return key_id[::-1].hex().upper()


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    key: bytes

    @property
    def key_id_hex(self) -> str:
        return _key_id_hex(self.key_id)

    def to_base64(self) -> str:
        return base64.b64encode(_ED + self.key_id + self.key).decode("ascii")

    def to_file_text(self) -> str:
        return f"{_UNTRUSTED}minisign public key {self.key_id_hex}\n{self.to_base64()}\n"


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    secret: bytes  # seed (32) followed by the public key (32), as libsodium lays it out

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.key_id, self.secret[32:])

    def to_file_text(self) -> str:
        checksum = hashlib.blake2b(_ED + self.key_id + self.secret, digest_size=32).digest()
        raw = _ED + _KDF_NONE + _CHECKSUM_ALG + bytes(32) + bytes(8) + bytes(8) + self.key_id + self.secret + checksum
        return f"{_UNTRUSTED}minisign secret key\n{base64.b64encode(raw).decode('ascii')}\n"


@dataclass(frozen=True)
class KeyPair:
    public: PublicKey
    secret: SecretKey


@dataclass(frozen=True)
class Signature:
    algorithm: bytes
    key_id: bytes
    signature: bytes
    untrusted_comment: str
    trusted_comment: str
    global_signature: bytes

    def to_file_text(self) -> str:
        sig_line = base64.b64encode(self.algorithm + self.key_id + self.signature).decode("ascii")
        return (
            f"{_UNTRUSTED}{self.untrusted_comment}\n{sig_line}\n"
            f"{_TRUSTED}{self.trusted_comment}\n{base64.b64encode(self.global_signature).decode('ascii')}\n"
        )


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"The {what} is not valid base64.", code="bad-key-format") from exc


def _payload_line(text: str, what: str) -> str:
    """The base64 line of a key file, or a bare base64 key given on the command line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise VerificationError(f"The {what} is empty.", code="bad-key-format")
    if lines[0].startswith(_UNTRUSTED):
        if len(lines) < 2:
            raise VerificationError(f"The {what} has a comment but no key.", code="bad-key-format")
        return lines[1]
    return lines[0]


def parse_public_key(text: str) -> PublicKey:
    """Read a minisign public key from a ``.pub`` file's text or a bare base64 string."""
    raw = _b64(_payload_line(text, "public key"), "public key")
    if len(raw) != 42 or raw[:2] != _ED:
        raise VerificationError(
            "This is not a minisign Ed25519 public key.",
            hint="Pass the .pub file written by `minisign -G` or `mcpctl registry keygen`, or its base64 line.",
            code="bad-key-format",
        )
    return PublicKey(raw[2:10], raw[10:])


def parse_secret_key(text: str) -> SecretKey:
    raw = _b64(_payload_line(text, "secret key"), "secret key")
    if len(raw) != 158 or raw[:2] != _ED or raw[4:6] != _CHECKSUM_ALG:
        raise VerificationError("This is not a minisign Ed25519 secret key.", code="bad-key-format")
    if raw[2:4] != _KDF_NONE:
        raise UsageError(
            "This minisign secret key is password-protected; mcpctl reads only unencrypted keys.",
            hint="Create a key with `minisign -G -W` or `mcpctl registry keygen`, or sign with minisign itself.",
            code="encrypted-key",
        )
    key_id, secret, checksum = raw[54:62], raw[62:126], raw[126:158]
    # minisign 0.11 leaves the checksum zeroed in unencrypted (-W) keys; check it whenever one is present.
    if checksum != bytes(32) and hashlib.blake2b(_ED + key_id + secret, digest_size=32).digest() != checksum:
        raise VerificationError("The secret key's checksum does not match: the file is damaged.", code="bad-key")
    return SecretKey(key_id, secret)


def parse_signature(text: str) -> Signature:
    lines = text.splitlines()
    if len(lines) < 4 or not lines[0].startswith(_UNTRUSTED) or not lines[2].startswith(_TRUSTED):
        raise VerificationError(
            "The signature file is not in minisign format.", hint="Re-sign with `mcpctl registry sign`.",
            code="bad-signature-format",
        )
    raw = _b64(lines[1], "signature")
    if len(raw) != 74 or raw[:2] not in (_ED, _ED_PREHASHED):
        raise VerificationError("The signature is not a minisign Ed25519 signature.", code="bad-signature-format")
    global_sig = _b64(lines[3], "global signature")
    if len(global_sig) != 64:
        raise VerificationError("The trusted comment's signature is damaged.", code="bad-signature-format")
    return Signature(
        algorithm=raw[:2],
        key_id=raw[2:10],
        signature=raw[10:],
        untrusted_comment=lines[0][len(_UNTRUSTED):],
        trusted_comment=lines[2][len(_TRUSTED):],
        global_signature=global_sig,
    )


def generate_keypair() -> KeyPair:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = os.urandom(8)
    return KeyPair(PublicKey(key_id, public), SecretKey(key_id, seed + public))


def sign(data: bytes, secret_key: SecretKey, *, trusted_comment: str | None = None) -> Signature:
    """Sign ``data`` prehashed (BLAKE2b-512), as minisign does by default since 0.9."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.from_private_bytes(secret_key.secret[:32])
    signature = private.sign(hashlib.blake2b(data, digest_size=64).digest())
    comment = trusted_comment if trusted_comment is not None else f"timestamp:{int(time.time())}"
    if "\n" in comment or "\r" in comment:
        raise UsageError("A trusted comment must be a single line.")
    global_signature = private.sign(signature + comment.encode("utf-8"))
    return Signature(
        algorithm=_ED_PREHASHED,
        key_id=secret_key.key_id,
        signature=signature,
        untrusted_comment="signature from mcpctl secret key",
        trusted_comment=comment,
        global_signature=global_signature,
    )


def verify(data: bytes, signature: Signature, public_key: PublicKey) -> str:
    """Check ``signature`` over ``data`` and its trusted comment; return the trusted comment."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if signature.key_id != public_key.key_id:
        raise VerificationError(
            f"Signed by key {_key_id_hex(signature.key_id)}, but the trusted key is {public_key.key_id_hex}.",
            hint="The document was signed by another key; get it from its publisher or re-pin the key.",
            code="wrong-key",
        )
    verifier = Ed25519PublicKey.from_public_bytes(public_key.key)
    message = hashlib.blake2b(data, digest_size=64).digest() if signature.algorithm == _ED_PREHASHED else data
    try:
        verifier.verify(signature.signature, message)
    except InvalidSignature as exc:
        raise VerificationError(
            "Signature verification failed: the document was changed after it was signed.",
            hint="Do not use this file; fetch it again from its publisher.",
            code="bad-signature",
        ) from exc
    try:
        verifier.verify(signature.global_signature, signature.signature + signature.trusted_comment.encode("utf-8"))
    except InvalidSignature as exc:
        raise VerificationError("The signature's trusted comment was tampered with.", code="bad-signature") from exc
    return signature.trusted_comment


def too_large(what: str, origin: str, limit: int) -> VerificationError:
    """The refusal of a file or download over its size cap, before any of it is verified."""
    return VerificationError(
        f"The {what} at {origin} is larger than {limit} bytes; it was refused before verification.",
        hint="Check that the source really is a registry.json (or its .minisig) and ask its publisher; mcpctl "
        "reads at most that much.",
        code="too-large", origin=origin,
    )


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """A regular file's bytes, at most ``limit`` of them: a device (/dev/zero), FIFO or directory is refused,
    and so is a file over the cap, without reading more than one byte past it."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below as not a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise VerificationError(f"Cannot read the {what} {path}: {exc.strerror or exc}.",
                                hint="Check the file and its permissions.", code="unreadable",
                                path=str(path)) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise VerificationError(f"The {what} {path} is not a regular file.",
                                hint=f"Point mcpctl at the {what} file itself.", code="not-a-file", path=str(path))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise too_large(what, str(path), limit)
    return data


def read_text(path: Path, what: str) -> str:
    """A key or signature file's text; like every file of this format, it is a few hundred bytes."""
    try:
        return read_bounded(path, MAX_KEY_FILE_BYTES, what).decode("utf-8")
    except FileNotFoundError as exc:
        raise VerificationError(f"No {what} at {path}.", code=f"missing-{what.replace(' ', '-')}") from exc
    except UnicodeDecodeError as exc:
        raise VerificationError(f"Cannot read {what} {path}: it is not UTF-8 text.", code="unreadable") from exc
