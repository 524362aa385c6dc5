"""JSON-RPC error codes the proxy answers with, and the pure checks behind its "Invalid Request" answers.

Every code is defined here once and imported by the front, the multiplexer and the policy. The values
are the JSON-RPC 2.0 and MCP ones (a unit test pins them to the SDK's), written out rather than imported
from ``mcp_types`` so that the CLI side, which imports the policy, does not load the SDK.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["DENIED", "HEADER_MISMATCH", "INTERNAL_ERROR", "INVALID_PARAMS", "INVALID_REQUEST", "METHOD_NOT_FOUND",
           "NOT_READY", "PARSE_ERROR", "RATE_LIMITED", "SCREENED", "SECRET_WITHHELD", "UNAPPROVED", "error_message", "invalid_body_reason", "invalid_request_reason", "is_request_id"]

# Standard JSON-RPC 2.0 codes.
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

# MCP's spec-defined code for HTTP headers that disagree with the body (2026-07-28).
HEADER_MISMATCH: Final = -32020

# The proxy's own answers (the server-error range). RATE_LIMITED predates MCP's reservation of
# -32020..-32099 and stays, since clients and docs already know it.
NOT_READY: Final = -32000
DENIED: Final = -32003
RATE_LIMITED: Final = -32029
# A tool (prompt, resource) that is new or changed since the user last approved this server's list: its
# pin is pending until `mcpctl tools approve`.
UNAPPROVED: Final = -32004
# A request or result the proxy's DLP kept from its destination: it carried a secret (the workload's own
# injected one, or one a provider pattern recognises, under --dlp block). The message names the kind, never
# the value.
SECRET_WITHHELD: Final = -32006
# A tool that description screening withholds (--screen): its definition has a finding at or above the
# policy's level. The message names the finding codes, never the description.
SCREENED: Final = -32005


def is_request_id(value: Any) -> bool:
    """JSON-RPC request ids are strings or integers; ``true`` is not 1 and ``1.5`` is not an id."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def invalid_request_reason(message: Any) -> str | None:
    """Why a decoded client message (one object of a POST body) is not a JSON-RPC message the proxy can
    relay, or None. A request whose id is null, a boolean, a float or an object would otherwise pass for a
    notification and never be answered; the JSON-RPC answer for it is Invalid Request with id null."""
    if not isinstance(message, dict):
        return "a JSON-RPC message is an object"
    if "method" not in message:
        return None  # a response to a server request: an error response's id may be null
    if not isinstance(message["method"], str):
        return "method must be a string"
    if "id" in message and not is_request_id(message["id"]):
        return "id must be a string or an integer"
    return None


def error_message(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response; ``request_id`` None for a request whose id could not be read."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


# A \uD800..\uDFFF escape: the only way a lone surrogate (not Unicode, so it cannot be written on to the
# server as UTF-8) gets into a decoded body. Raw bytes of one are already invalid UTF-8, a parse error.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def invalid_body_reason(body: bytes, decoded: Any) -> str | None:
    """Why a POST body that parsed as JSON must be answered with Invalid Request, or None.

    Checks each message of a batch too, and refuses strings that are not Unicode (a lone surrogate such
    as ``"\\ud800"``); the JSON text escapes for valid surrogate pairs are fine.
    """
    for message in decoded if isinstance(decoded, list) else [decoded]:
        reason = invalid_request_reason(message)
        if reason is not None:
            return reason
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(decoded, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return "strings must be valid Unicode (this one holds a lone surrogate)"
    return None
