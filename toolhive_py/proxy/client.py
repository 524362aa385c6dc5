"""mcpctl as an MCP client of a workload's own proxy (the CLI side, as ``supervisor.py`` is for starting it):
one session-era session over Streamable HTTP with plain JSON-RPC on httpx, JSON or SSE answers. The mcp SDK
client would cost ~0.75 s of imports per command. Used by ``mcpctl tools`` and by ``scan --fix``'s check
that a workload answers before a client is pointed at it.

A JSON-RPC error becomes a :class:`ToolCallError` whose message is the proxy's or server's own, or a
:class:`ToolRefusedError` when the proxy refused the request itself (a security decision).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.errors import MCPCTLError, VerificationError
from toolhive_py.proxy.jsonrpc import DENIED, SCREENED, SECRET_WITHHELD, UNAPPROVED

if TYPE_CHECKING:
    import httpx

__all__ = ["CLIENT_PROTOCOL_VERSION", "ProxyClient", "ToolCallError", "ToolRefusedError", "parse_sse"]

CLIENT_PROTOCOL_VERSION: Final = "2025-11-25"
_CLIENT_INFO: Final = {"name": "mcpctl", "version": "tools"}
_HEADERS: Final = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class ToolCallError(MCPCTLError):
    """The proxy or the server answered a request with a JSON-RPC error; ``message`` is theirs."""

    default_code = "jsonrpc-error"


class ToolRefusedError(VerificationError):
    """The proxy refused the request itself (tool policy, pinning, screening, DLP): a security decision."""

    default_code = "tool-refused"



def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE stream, one per event (``data:`` lines joined), as they arrive.
    Events without data (priming, comments) and data that is not a JSON object are skipped."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                try:
                    message = json.loads("\n".join(data))
                except ValueError:
                    message = None
                if isinstance(message, dict):
                    yield message
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        try:
            message = json.loads("\n".join(data))
        except ValueError:
            return
        if isinstance(message, dict):
            yield message



class ProxyClient:
    """One session-era MCP session with a workload's proxy over Streamable HTTP (JSON or SSE answers)."""

    def __init__(self, name: str, url: str, timeout: float, *, token: str | None = None) -> None:
        """``token``: mcpctl's own proxy credential for the workload (client id ``mcpctl``), sent on every
        request; None for a proxy in migration mode."""
        import httpx

        self._name = name
        self._url = url
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0), trust_env=False)
        self._headers: dict[str, str] = dict(_HEADERS)
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._next_id = 0

    def __enter__(self) -> ProxyClient:
        try:
            initialized = self.request("initialize", {"protocolVersion": CLIENT_PROTOCOL_VERSION,
                                                      "capabilities": {}, "clientInfo": _CLIENT_INFO})
            version = initialized.get("protocolVersion")
            self._headers["MCP-Protocol-Version"] = version if isinstance(version, str) else CLIENT_PROTOCOL_VERSION
            self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        except BaseException:
            self._http.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        import httpx

        try:
            if "Mcp-Session-Id" in self._headers:
                self._http.delete(self._url, headers=self._headers)
        except httpx.HTTPError:
            pass  # the session expires on its own
        finally:
            self._http.close()

    def _unreachable(self, exc: Exception) -> MCPCTLError:
        return MCPCTLError(f"The proxy of {self._name} does not answer at {self._url} ({type(exc).__name__}).",
                           hint=f"`mcpctl status {self._name}` shows it; `mcpctl restart {self._name}` restarts it.",
                           code="proxy-unreachable")

    def _send(self, message: dict[str, Any]) -> None:
        import httpx

        try:
            self._http.post(self._url, json=message, headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The result of one request; a JSON-RPC error raises."""
        import httpx

        self._next_id += 1
        request_id = self._next_id
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            with self._http.stream("POST", self._url, json=message, headers=self._headers) as response:
                if method == "initialize" and "mcp-session-id" in response.headers:
                    self._headers["Mcp-Session-Id"] = response.headers["mcp-session-id"]
                answer = self._answer(response, request_id)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if "error" in answer:
            raise _rpc_error(self._name, method, answer["error"])
        result = answer.get("result")
        if not isinstance(result, dict):
            raise ToolCallError(f"The proxy of {self._name} answered {method} without a result.",
                                code="invalid-answer")
        return result

    def _answer(self, response: httpx.Response, request_id: int) -> dict[str, Any]:
        if response.status_code == 401:
            raise MCPCTLError(f"The proxy of {self._name} refused mcpctl's credential (HTTP 401).",
                              hint="`mcpctl client upgrade` gives mcpctl and every client a credential; "
                              f"`mcpctl restart {self._name}` restarts a proxy started before credentials.",
                              code="proxy-unauthorized")
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if kind == "text/event-stream":
            for message in parse_sse(response.iter_lines()):
                if "method" in message:
                    if "id" in message:
                        # A server request (elicitation, sampling, roots) this one-shot client cannot answer:
                        # refuse it, or the tool call it belongs to would wait forever.
                        self._send({"jsonrpc": "2.0", "id": message["id"], "error": {
                            "code": -32601, "message": "mcpctl tools call cannot answer server requests."}})
                    continue
                if message.get("id") == request_id:
                    return message
            raise ToolCallError(f"The proxy of {self._name} closed the stream without an answer.",
                                code="invalid-answer")
        body = response.read()
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and ("result" in decoded or "error" in decoded):
            return decoded
        raise ToolCallError(f"The proxy of {self._name} answered HTTP {response.status_code}"
                            f"{': ' + body[:200].decode(errors='replace') if body else ''}.",
                            hint=f"`mcpctl logs {self._name} --proxy` may say why.", code="invalid-answer")


# The proxy's own refusals that are security decisions (tool policy, guards): exit 3, as other refusals.
_REFUSALS: Final = frozenset({DENIED, UNAPPROVED, SCREENED, SECRET_WITHHELD})


def _rpc_error(name: str, method: str, error: Any) -> MCPCTLError:
    code = error.get("code") if isinstance(error, dict) else None
    text = error.get("message") if isinstance(error, dict) else None
    message = text if isinstance(text, str) and text else f"{method} failed (JSON-RPC error {code})."
    hint = None if "mcpctl " in message else f"`mcpctl logs {name}` shows the server's side."
    if code in _REFUSALS:
        return ToolRefusedError(message, hint=hint, jsonrpc_code=code)
    return ToolCallError(message, hint=hint, jsonrpc_code=code)
