"""A remote MCP server for tests: the mcp SDK's server over Streamable HTTP (or SSE) behind TLS on
127.0.0.1, with a certificate from a CA the test makes (``make_tls``).

With ``--token`` it answers only requests that carry ``Authorization: Bearer TOKEN`` (401 otherwise);
``--redirect-to URL`` makes it answer every MCP request with a 307 to that URL instead (another origin).
Run as a script: ``python remote_server.py --port P --cert C --key K [--token T] [--transport sse]``.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TlsFiles", "make_tls", "serve_remote"]


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcpctl test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_remote(tls: TlsFiles, log: Path, *options: str, token: str | None = None) -> Iterator[str]:
    """The server as a process (``token``: the bearer token it wants, in its environment, not its argv);
    yields its base URL ``https://127.0.0.1:PORT`` once it accepts TLS."""
    import ssl

    port = _free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--port", str(port), "--cert", str(tls.cert), "--key", str(tls.key),
             *options], stdout=out, stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **({"REMOTE_TOKEN": token} if token else {})})
    base = f"https://127.0.0.1:{port}"
    try:
        context = ssl.create_default_context(cafile=str(tls.ca))
        deadline = time.monotonic() + 20
        while True:
            import socket

            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, \
                        context.wrap_socket(raw, server_hostname="127.0.0.1"):
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "remote server never listened:\n" + log.read_text()
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _app(token: str | None, redirect_to: str | None, transport: str) -> Any:
    from mcp.server.mcpserver import MCPServer
    from starlette.responses import JSONResponse, RedirectResponse

    server = MCPServer("remote-test-server", version="1.0.0")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"remote:{text}"

    app = server.sse_app() if transport == "sse" else server.streamable_http_app()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            seen = "auth=yes" if "authorization" in headers else "auth=no"
            print("request", scope["method"], scope["path"], seen, flush=True)  # noqa: T201 - tests read the log
            if redirect_to is not None:
                await RedirectResponse(redirect_to, status_code=307)(scope, receive, send)
                return
            if token is not None and headers.get("authorization") != f"Bearer {token}":
                await JSONResponse({"error": "invalid_token"}, status_code=401,
                                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token", default=os.environ.get("REMOTE_TOKEN"))
    parser.add_argument("--redirect-to", default=None)
    parser.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    args = parser.parse_args()
    uvicorn.run(_app(args.token, args.redirect_to, args.transport), host="127.0.0.1", port=args.port,
                ssl_certfile=args.cert, ssl_keyfile=args.key, log_level="warning")


if __name__ == "__main__":
    main()
