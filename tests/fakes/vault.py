"""An in-process HTTP server speaking the part of HashiCorp Vault's API that mcpctl uses.

The only sanctioned fake in the suite: no Vault binary is reachable here. It follows Vault's real
paths, verbs and response shapes for KV v2 (data read/write, metadata list/delete) and AppRole login,
so the real hvac client talks to it unchanged.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["FakeVault"]


class FakeVault:
    def __init__(self, *, mount: str = "secret", role_id: str = "role", secret_id: str = "sid") -> None:  # noqa: S107 - test credentials
        self.mount = mount
        self.root_token = "root-" + secrets.token_hex(8)
        self.tokens = {self.root_token}
        self.role_id, self.secret_id = role_id, secret_id
        self.data: dict[str, list[dict[str, Any]]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeVault:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _reply(self, status: int, body: dict[str, Any] | None) -> None:
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else {}

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                path = url.path
                if path == "/v1/auth/approle/login" and method in ("POST", "PUT"):
                    body = self._body()
                    if (body.get("role_id"), body.get("secret_id")) != (vault.role_id, vault.secret_id):
                        return self._reply(400, {"errors": ["invalid role or secret ID"]})
                    token = "s." + secrets.token_hex(12)
                    vault.tokens.add(token)
                    return self._reply(200, {"auth": {"client_token": token, "lease_duration": 3600,
                                                      "renewable": True, "policies": ["default"]}})
                if self.headers.get("X-Vault-Token") not in vault.tokens:
                    return self._reply(403, {"errors": ["permission denied"]})
                data_prefix, meta_prefix = f"/v1/{vault.mount}/data/", f"/v1/{vault.mount}/metadata/"
                if path.startswith(data_prefix):
                    key = path[len(data_prefix):]
                    if method == "GET":
                        versions = vault.data.get(key)
                        if not versions:
                            return self._reply(404, {"errors": []})
                        latest = versions[-1]
                        return self._reply(200, {"data": {"data": latest["data"], "metadata": latest["metadata"]}})
                    if method in ("POST", "PUT"):
                        versions = vault.data.setdefault(key, [])
                        metadata = {"created_time": datetime.now(UTC).isoformat(), "deletion_time": "",
                                    "destroyed": False, "version": len(versions) + 1}
                        versions.append({"data": self._body().get("data", {}), "metadata": metadata})
                        return self._reply(200, {"data": metadata})
                if path.startswith(meta_prefix):
                    key = path[len(meta_prefix):]
                    listing = method == "LIST" or (method == "GET" and parse_qs(url.query).get("list") == ["true"])
                    if listing:
                        prefix = key.rstrip("/") + "/" if key else ""
                        children = sorted({k[len(prefix):].split("/")[0] + ("/" if "/" in k[len(prefix):] else "")
                                           for k in vault.data if k.startswith(prefix) and vault.data[k]})
                        if not children:
                            return self._reply(404, {"errors": []})
                        return self._reply(200, {"data": {"keys": children}})
                    if method == "DELETE":
                        vault.data.pop(key, None)
                        return self._reply(204, None)
                return self._reply(404, {"errors": [f"no handler for route {path!r}"]})

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._route("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._route("DELETE")

            def do_LIST(self) -> None:  # noqa: N802
                self._route("LIST")

        return Handler
