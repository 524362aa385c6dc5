"""The checks every request to the proxy's HTTP front passes before any transport sees it: Host and Origin
(DNS rebinding), the body size limit, and the header reads the session-era transports share. The same rules
as the SDK's ``mcp.server.transport_security`` (a unit test compares them), without loading the SDK."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.proxy.jsonrpc import INVALID_REQUEST, error_message, invalid_body_reason, is_request_id
from toolhive_py.proxy.revisions import HANDSHAKE_PROTOCOL_VERSIONS

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from toolhive_py.proxy.mux import Multiplexer

__all__ = ["AUDITED", "DEFAULT_MAX_BODY_SIZE", "METHOD", "UNPARSED", "BodyLimit", "accepts", "allowed_hosts",
           "allowed_origins", "decode", "header", "host_origin_refusal", "is_json_content", "is_stateless",
           "json_error", "plain_response", "read_body", "refused_body", "scope_trace_id", "until_disconnect"]

# Scope keys: the request was audited already (don't audit its HTTP refusal again); the method its body named.
# ``wire`` re-exports them (and UNPARSED) for the 2026-07-28 endpoint, so both eras share one set.
AUDITED: Final = "mcpctl.audited"
METHOD: Final = "mcpctl.method"
# A body that is not JSON: the transports answer it with their parse errors.
UNPARSED: Final[Any] = object()

DEFAULT_MAX_BODY_SIZE: Final = 4 * 1024 * 1024  # the SDK's default
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (``name`` in lower case), read from the ASGI scope without building a Request."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_stateless(scope: Scope) -> bool:
    """A request of the stateless revision: it names a protocol version the handshake era does not have."""
    version = header(scope, b"mcp-protocol-version")
    return version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS


def accepts(scope: Scope) -> tuple[bool, bool]:
    """Whether the client accepts (JSON, SSE), wildcards included (RFC 7231 5.3.2), as the SDK decides."""
    kinds = [part.strip().split(";")[0].strip().lower() for part in (header(scope, b"accept") or "").split(",")]
    anything = "*/*" in kinds
    return (anything or any(k in ("application/json", "application/*") for k in kinds),
            anything or any(k in ("text/event-stream", "text/*") for k in kinds))


def is_json_content(scope: Scope) -> bool:
    return (header(scope, b"content-type") or "").lower().startswith("application/json")


def allowed_hosts(port: int) -> list[str]:
    """Only loopback names may reach the proxy: a web page cannot, even through DNS rebinding."""
    return [f"{h}:{port}" for h in _LOOPBACK_NAMES] + list(_LOOPBACK_NAMES)


def allowed_origins(port: int) -> list[str]:
    """An ``Origin`` is trusted only when it is the proxy's own (a loopback name with the proxy's port):
    a page served by anything else on this machine, a port-80 server included, is another origin."""
    origins = [f"http://{h}:{port}" for h in _LOOPBACK_NAMES]
    if port == 80:  # the default port is left out of an origin
        origins += [f"http://{h}" for h in _LOOPBACK_NAMES]
    return origins


def host_origin_refusal(scope: Scope, hosts: Collection[str], origins: Collection[str]) -> tuple[int, str] | None:
    """``(status, text)`` refusing a request from a foreign Host (421) or Origin (403), else None: the SDK's
    rules with DNS-rebinding protection on (no Host is foreign; no Origin is a same-origin request)."""
    if header(scope, b"host") not in hosts:
        return 421, "Invalid Host header"
    origin = header(scope, b"origin")
    if origin and origin not in origins:
        return 403, "Invalid Origin header"
    return None


async def plain_response(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse a body over ``max_body_size`` with 413 before the app reads it (by its Content-Length, or
    while it arrives), then hand the app the body already read."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            await plain_response(send, 413, "Request body too large")
            return
        if scope["method"] in ("GET", "DELETE", "HEAD") and not declared:
            await self.app(scope, receive, send)  # no body: the app's receive stays the live one (disconnects)
            return
        chunks: list[bytes] = []
        size = 0
        pending: list[Message] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending.append(message)
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                await plain_response(send, 413, "Request body too large")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending.insert(0, {"type": "http.request", "body": b"".join(chunks), "more_body": False})

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)


def decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return UNPARSED


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def scope_trace_id(scope: Scope) -> str:
    """The W3C trace id from a ``traceparent`` header when the client sent one, else a fresh one."""
    parts = (header(scope, b"traceparent") or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return secrets.token_hex(16)


async def json_error(send: Send, status: int, code: int, message: str, *, request_id: Any = None,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_message(request_id, code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def refused_body(mux: Multiplexer, body: bytes, decoded: Any, session_id: str | None, scope: Scope,
                       send: Send) -> bool:
    """Answer (and audit) a JSON body that is no JSON-RPC message the proxy can relay: a request whose id
    is null, a boolean, a float or an object (a transport would take it for a notification and never
    answer), or one holding a string that is not Unicode. Whether it was refused."""
    reason = None if decoded is UNPARSED else invalid_body_reason(body, decoded)
    if reason is None:
        return False
    single = decoded if isinstance(decoded, dict) else {}
    request_id = single.get("id") if is_request_id(single.get("id")) else None
    method = single.get("method")
    scope[AUDITED] = True
    mux.record_refusal(method=method[:200] if isinstance(method, str) else "", outcome="invalid",
                       session_id=session_id or "", trace_id=scope_trace_id(scope))
    await json_error(send, 400, INVALID_REQUEST, f"Invalid Request: {reason}", request_id=request_id)
    return True


async def until_disconnect(receive: Receive, hang_up: Callable[[], None]) -> None:
    """Stop waiting for an answer the client can no longer receive. Runs beside the handler (the server's
    task group, no cancel scope: that costs more than the rest of a request); uvicorn's ``receive`` returns
    ``http.disconnect`` once the response is complete too, so this ends with every request."""
    while (await receive())["type"] != "http.disconnect":
        continue
    hang_up()
