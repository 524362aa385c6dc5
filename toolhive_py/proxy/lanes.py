"""The modern lane: a second connection to the server, in the 2026-07-28 era, that relays that era's
requests natively.

An MCP SDK server locks each stdio connection to one era, chosen by its first request
(``serve_dual_era_loop``): the multiplexer's connection opened with ``initialize``, so an enveloped
request on it is refused, and tools written for 2026-07-28 (``InputRequiredResult``, the per-request
client capabilities) run only on a connection that opened with the envelope. Per kind of backend:

- a local process (``ProcessBackendFactory``): a second process of the same command, one stdio stream
  in the 2026-07-28 era, opened when the backend is probed and kept while it speaks that era;
- a Streamable HTTP server (``HttpBackendFactory``): no connection to hold, one POST per request with
  the envelope and the 2026-07-28 headers, answered with JSON or an SSE stream;
- a container's attach stream (``ContainerBackendFactory``): none (``lane_for`` says why).

A lane only moves messages, each with the backend id of the request it belongs to when the transport
knows it (HTTP does, a stdio stream does not); the multiplexer owns ids, guards, policy and audit.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anyio
import anyio.abc

from toolhive_py.proxy.backends import (
    BackendFactory,
    ContainerBackendFactory,
    HttpBackendFactory,
    ProcessBackendFactory,
)
from toolhive_py.proxy.jsonrpc import INTERNAL_ERROR, NOT_READY
from toolhive_py.proxy.revisions import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

__all__ = ["CLIENT_CAPABILITIES_KEY", "CLIENT_INFO_KEY", "MODERN_LANE_ENV", "MODERN_VERSION", "PROTOCOL_VERSION_KEY",
           "SUBSCRIPTION_ID_KEY", "HttpLaneFactory", "ModernLane", "ModernLaneFactory", "SseParser",
           "StreamLaneFactory", "discover_request", "envelope_of", "is_modern_request", "lane_for",
           "routing_headers", "subscription_of", "versions_of", "with_subscription"]

logger = logging.getLogger(__name__)

MODERN_VERSION: Final = MODERN_PROTOCOL_VERSIONS[-1]
# The per-request envelope's keys in ``params._meta`` (mcp_types' *_META_KEY; written out so this module
# loads nothing of the SDK) and the subscription id ``subscriptions/listen`` stamps on its stream.
PROTOCOL_VERSION_KEY: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_KEY: Final = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_KEY: Final = "io.modelcontextprotocol/clientCapabilities"
SUBSCRIPTION_ID_KEY: Final = "io.modelcontextprotocol/subscriptionId"
# "off": no modern lane (2026-07-28 requests are translated onto the handshake lane); for a stdio process
# that saves the second server process. Read by lane_for, so it applies per proxy process.
MODERN_LANE_ENV: Final = "MCPCTL_PROXY_MODERN_LANE"
_PARAM_HEADER_PREFIX: Final = "mcp-param-"
# Methods whose params name what they act on, mirrored as the ``Mcp-Name`` header (the SDK's
# NAME_BEARING_METHODS, which lives in a module that loads the whole SDK).
_NAME_KEYS: Final = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


# ----- the envelope and the wire (pure) --------------------------------------------------------------


def envelope_of(params: Any) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """A 2026-07-28 request's (protocol version, client info, client capabilities), or None without the
    envelope. Info and capabilities that are not objects come back empty: the server judges them."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get(PROTOCOL_VERSION_KEY), str):
        return None
    info, capabilities = meta.get(CLIENT_INFO_KEY), meta.get(CLIENT_CAPABILITIES_KEY)
    return (meta[PROTOCOL_VERSION_KEY], info if isinstance(info, dict) else {},
            capabilities if isinstance(capabilities, dict) else {})


def is_modern_request(message: Mapping[str, Any]) -> bool:
    """Whether a request opens (or belongs on) a 2026-07-28 connection, as the SDK server decides it:
    the envelope on anything but ``initialize``, which does not exist in that era."""
    return message.get("method") != "initialize" and envelope_of(message.get("params")) is not None


def discover_request(request_id: int, client_info: Mapping[str, Any]) -> dict[str, Any]:
    """The proxy's own ``server/discover``: what it asks a lane to learn the server's revisions."""
    return {"jsonrpc": "2.0", "id": request_id, "method": "server/discover", "params": {"_meta": {
        PROTOCOL_VERSION_KEY: MODERN_VERSION, CLIENT_INFO_KEY: dict(client_info), CLIENT_CAPABILITIES_KEY: {}}}}


def versions_of(legacy: str | None, discovered: Any) -> tuple[str, ...]:
    """The revisions a backend speaks, oldest first: the one its ``initialize`` agreed on and every one its
    ``server/discover`` listed (a dual-era server lists only the era of the connection it answers on)."""
    found = {v for v in (discovered if isinstance(discovered, list) else []) if isinstance(v, str)}
    if isinstance(legacy, str):
        found.add(legacy)
    known = [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS]
    return tuple(sorted(found, key=lambda v: (known.index(v), v) if v in known else (len(known), v)))


def routing_headers(message: Mapping[str, Any], passed: Mapping[str, str]) -> dict[str, str]:
    """The HTTP headers of one 2026-07-28 POST: the version, method and name the server checks against the
    body, and the caller's ``Mcp-Param-*`` headers (computed by the client from the tool's ``x-mcp-header``
    annotations, so passed through as they came)."""
    params = message.get("params")
    envelope = envelope_of(params)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": envelope[0] if envelope else MODERN_VERSION,
               "Mcp-Method": str(message.get("method"))}
    name_key = _NAME_KEYS.get(str(message.get("method")))
    name = params.get(name_key) if name_key and isinstance(params, dict) else None
    if isinstance(name, str):
        headers["Mcp-Name"] = _header_value(name)
    for key, value in passed.items():
        if key.lower().startswith(_PARAM_HEADER_PREFIX):
            headers[key] = value
    return headers


def _header_value(value: str) -> str:
    """A header-safe value as the 2026-07-28 wire spells it (the SDK's encode_header_value): printable
    ASCII as is, anything else base64 in ``=?base64?…?=``."""
    import base64

    sentinel = value.startswith("=?base64?") and value.endswith("?=")
    if value.isascii() and value.isprintable() and value == value.strip() and not sentinel:
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode()}?="


def subscription_of(message: Mapping[str, Any]) -> Any:
    """The subscription id a ``subscriptions/listen`` stream stamped on a message, or None."""
    body = message.get("params" if "method" in message else "result")
    meta = body.get("_meta") if isinstance(body, dict) else None
    return meta.get(SUBSCRIPTION_ID_KEY) if isinstance(meta, dict) else None


def with_subscription(message: dict[str, Any], subscription: Any) -> dict[str, Any]:
    """``message`` (a notification of the stream, or the listen request's final response) stamped with
    another subscription id: the client's own instead of the backend's."""
    key = "params" if "method" in message else "result"
    body = dict(message.get(key) or {})
    body["_meta"] = {**(body.get("_meta") or {}), SUBSCRIPTION_ID_KEY: subscription}
    return {**message, key: body}


class SseParser:
    """Server-sent events, line by line, to the JSON-RPC messages their ``data`` carries (priming events
    with no data and comments give none). Multi-line data is joined with newlines, as the format says."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> dict[str, Any] | None:
        """One line (without its line break); the message when it ended an event."""
        if line == "":
            data, self._data = "\n".join(self._data), []
            if not data.strip():
                return None
            try:
                message = json.loads(data)
            except ValueError:
                logger.warning("the server sent an SSE event that is not JSON: %.200r", data)
                return None
            return message if isinstance(message, dict) else None
        if line.startswith("data:"):
            self._data.append(line[6:] if line.startswith("data: ") else line[5:])
        return None


def _error(request_id: Any, code: int, text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}


# ----- lanes ----------------------------------------------------------------------------------------


class ModernLane(Protocol):
    async def send(self, message: dict[str, Any], headers: Mapping[str, str]) -> None:
        """Relay one message; ``headers`` are the caller's HTTP headers (used by HTTP lanes only)."""

    def messages(self) -> AsyncIterator[tuple[dict[str, Any], Any]]:
        """What the server sends, each with the backend id of the request it belongs to when known."""


class ModernLaneFactory(Protocol):
    """Opens a modern lane. A factory whose ``follows_handshake`` attribute is true is reopened (and its
    server probed again) whenever the handshake lane reconnects."""

    @property
    def description(self) -> str: ...

    def connect(self) -> AbstractAsyncContextManager[ModernLane]: ...


class _StreamLane:
    """A backend connection (a second stdio process) used in the 2026-07-28 era."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    async def send(self, message: dict[str, Any], headers: Mapping[str, str]) -> None:
        await self._backend.send(message)

    async def messages(self) -> AsyncIterator[tuple[dict[str, Any], Any]]:
        async for message in self._backend.messages():
            yield message, None


@dataclass(frozen=True)
class StreamLaneFactory:
    """A second connection of a stdio backend: for a process, another process of the same command."""

    factory: BackendFactory
    follows_handshake: bool = False  # its own process: a restart of the handshake lane's leaves it be

    @property
    def description(self) -> str:
        return "2026-07-28 " + self.factory.description

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[ModernLane]:
        async with self.factory.connect() as backend:
            yield _StreamLane(backend)


class _HttpLane:
    """One POST per request. Each answer's messages carry that request's backend id, so a log message is
    attributed exactly. Cancelling is closing the request's stream: the 2026-07-28 HTTP wire has no
    client-to-server notifications."""

    def __init__(self, client: Any, url: str, tasks: anyio.abc.TaskGroup) -> None:
        self._client = client
        self._url = url
        self._tasks = tasks
        self._in, self._out = anyio.create_memory_object_stream[tuple[dict[str, Any], Any]](math.inf)
        self._inflight: dict[Any, anyio.CancelScope] = {}

    async def send(self, message: dict[str, Any], headers: Mapping[str, str]) -> None:
        if message.get("method") == "notifications/cancelled":
            scope = self._inflight.get((message.get("params") or {}).get("requestId"))
            if scope is not None:
                scope.cancel()
            return
        if "id" not in message or "method" not in message:
            return  # nothing else goes from client to server on this wire
        scope = anyio.CancelScope()
        self._inflight[message["id"]] = scope
        self._tasks.start_soon(self._post, message, routing_headers(message, headers), scope)

    async def _post(self, message: dict[str, Any], headers: dict[str, str], scope: anyio.CancelScope) -> None:
        import httpx

        request_id = message["id"]
        answered = False
        try:
            with scope:
                async with self._client.stream("POST", self._url, json=message, headers=headers) as response:
                    kind = response.headers.get("content-type", "").split(";")[0].strip()
                    if kind == "text/event-stream":
                        parser = SseParser()
                        async for line in response.aiter_lines():
                            received = parser.feed(line)
                            if received is not None:
                                answered = "method" not in received
                                self._put(_answering(received, request_id), request_id)
                                if answered:
                                    break
                    else:
                        body = await response.aread()
                        received = _json_object(body)
                        if received is not None and "method" not in received and ("result" in received
                                                                                  or "error" in received):
                            answered = True
                            self._put(_answering(received, request_id), request_id)
                        elif response.status_code >= 400:
                            answered = True
                            self._put(_error(request_id, INTERNAL_ERROR,
                                             f"The server answered HTTP {response.status_code}."), request_id)
        except (httpx.HTTPError, OSError) as exc:
            answered = True
            self._put(_error(request_id, NOT_READY, f"The MCP server is not reachable: {exc}"), request_id)
        finally:
            self._inflight.pop(request_id, None)
        if not answered and not scope.cancel_called:
            self._put(_error(request_id, NOT_READY, "The server ended its answer without a response."), request_id)

    def _put(self, message: dict[str, Any], request_id: Any) -> None:
        """Hand one message of a request's answer to the multiplexer (gone once the lane closes)."""
        try:
            self._in.send_nowait((message, request_id))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            logger.debug("the 2026-07-28 lane closed; dropped an answer")

    async def messages(self) -> AsyncIterator[tuple[dict[str, Any], Any]]:
        async for item in self._out:
            yield item

    def close(self) -> None:
        self._in.close()
        self._out.close()


def _answering(message: dict[str, Any], request_id: Any) -> dict[str, Any]:
    """A message of one POST's answer; its response is that request's whatever id it names (a server
    answers an unreadable request with id null), so the request is never left waiting."""
    if "method" in message or message.get("id") == request_id:
        return message
    return {**message, "id": request_id}


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


@dataclass(frozen=True)
class HttpLaneFactory:
    """A Streamable HTTP server's 2026-07-28 face: ``endpoint`` finds its URL afresh on every connect
    (a container's published port changes when it is recreated)."""

    endpoint: Callable[[], Awaitable[str]]
    name: str
    follows_handshake: bool = True  # the endpoint is found afresh when the server behind it was restarted

    @property
    def description(self) -> str:
        return "2026-07-28 " + self.name

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[ModernLane]:
        import httpx

        url = await self.endpoint()
        # No read timeout: a tool may run long, and a subscriptions/listen answer is a stream without end.
        # Each open listen holds a connection, so the pool is far above httpx's 100: a hundred idle listens
        # must not queue every tool call behind them.
        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), limits=limits) as client, \
                anyio.create_task_group() as tasks:
            lane = _HttpLane(client, url, tasks)
            try:
                yield lane
            finally:
                lane.close()
                tasks.cancel_scope.cancel()


def lane_for(factory: object, environ: Mapping[str, str] = os.environ) -> ModernLaneFactory | str:
    """The modern lane of a backend, or why it has none. A factory may offer its own (``modern_lane()``).

    For a local process the lane is opened when the backend is probed, not on the first 2026-07-28
    request: the front must know before that request whether to relay it natively or translate it, and a
    lane that appeared later would switch a client's multi-round call from translated to native between
    rounds (a requestState minted by one path is not valid on the other). It costs one more server process.
    """
    if environ.get(MODERN_LANE_ENV, "").strip().lower() == "off":
        return f"the modern lane is turned off ({MODERN_LANE_ENV}=off)"
    offered = getattr(factory, "modern_lane", None)
    if callable(offered):
        lane: ModernLaneFactory | str = offered()
        return lane
    if isinstance(factory, ProcessBackendFactory):
        return StreamLaneFactory(factory)
    if isinstance(factory, HttpBackendFactory):
        if factory.transport != "streamable-http":
            return "an SSE server speaks only the session-era revisions"
        return HttpLaneFactory(factory.endpoint, factory.description)
    if isinstance(factory, ContainerBackendFactory):
        return ("a container's stdio is one stream to its one server process, and the proxy opened it with "
                "initialize, which locks it to the session era; a second server process in the container "
                "would be a second copy of its state, outside the engine's restart policy")
    return "this backend offers no second connection"

