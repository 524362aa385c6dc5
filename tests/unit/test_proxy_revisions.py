"""The protocol facts the session-era front writes out instead of importing the SDK, pinned to the SDK's."""

from __future__ import annotations

import subprocess
import sys

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS as SDK_ERROR_CODE_HTTP_STATUS
from mcp_types import DEFAULT_NEGOTIATED_VERSION as SDK_DEFAULT
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS as SDK_HANDSHAKE
from mcp_types.version import MODERN_PROTOCOL_VERSIONS as SDK_MODERN

from toolhive_py.proxy.http.wire import ERROR_CODE_HTTP_STATUS
from toolhive_py.proxy.revisions import (
    DEFAULT_NEGOTIATED_VERSION,
    HANDSHAKE_PROTOCOL_VERSIONS,
    MODERN_PROTOCOL_VERSIONS,
    is_at_least,
)


def test_the_revisions_are_the_sdks() -> None:
    assert HANDSHAKE_PROTOCOL_VERSIONS == tuple(SDK_HANDSHAKE)
    assert MODERN_PROTOCOL_VERSIONS == tuple(SDK_MODERN)
    assert DEFAULT_NEGOTIATED_VERSION == SDK_DEFAULT
    assert ERROR_CODE_HTTP_STATUS == dict(SDK_ERROR_CODE_HTTP_STATUS)


def test_revisions_order_by_date() -> None:
    assert is_at_least("2025-11-25", "2025-11-25")
    assert is_at_least("2026-07-28", "2025-11-25")
    assert not is_at_least("2025-06-18", "2025-11-25")


def test_the_session_era_front_does_not_load_the_sdk_server_stack() -> None:
    """What the multiplexer imports (mcp_types, today) is measured apart: the front adds no ``mcp`` module."""
    probe = ("import sys; import toolhive_py.proxy.mux; before = set(sys.modules); "
             "import toolhive_py.proxy.server, toolhive_py.proxy.http.app; "
             "print(sorted(m for m in set(sys.modules) - before if m == 'mcp' or m.startswith(('mcp.', 'sse_starlette'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert loaded.strip() == "[]"
