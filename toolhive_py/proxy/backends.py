"""Byte pipes to one MCP server speaking newline-delimited JSON-RPC: a container's attach stream or a
local process. The multiplexer owns the protocol; a backend only moves messages."""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

import anyio
import anyio.abc
import anyio.to_thread

if TYPE_CHECKING:
    import httpx

__all__ = ["Backend", "BackendClosed", "BackendFactory", "ContainerBackendFactory", "HttpBackendFactory",
           "ProcessBackendFactory", "lost_its_stdin", "reinitialized_by_attach"]

logger = logging.getLogger(__name__)

_MAX_LINE = 64 * 1024 * 1024


class BackendClosed(Exception):
    """The server's stream ended: the process exited, the container stopped or the engine went away."""


class Backend(Protocol):
    async def send(self, message: dict[str, Any]) -> None: ...

    def messages(self) -> AsyncIterator[dict[str, Any]]: ...


class BackendFactory(Protocol):
    """Connects afresh to the server; used again after every disconnect."""

    @property
    def description(self) -> str: ...

    def connect(self) -> AbstractAsyncContextManager[Backend]:
        """One connection, held for the ``async with``: entered and left in one task and scope nesting,
        which the SDK's client transports (task groups of their own) need."""
        ...


@asynccontextmanager
async def _opened(open_backend: Callable[[], Awaitable[_StreamBackend]]) -> AsyncIterator[Backend]:
    backend = await open_backend()
    try:
        yield backend
    finally:
        await backend.aclose()


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


async def _json_lines(chunks: AsyncIterator[bytes], *, max_line: int = _MAX_LINE) -> AsyncIterator[dict[str, Any]]:
    """Split a byte stream into JSON objects; stray non-JSON lines (banners, logs on stdout) are skipped.

    Linear in the stream's length: only newly read bytes are searched for a newline, and a partial line
    is kept in one growing buffer, never copied again per chunk. A line over the cap is refused as soon
    as the bytes read cross it, without waiting for its end.
    """
    buffer = bytearray()
    async for chunk in chunks:
        begin, start = 0, len(buffer)
        buffer += chunk
        end = buffer.find(b"\n", start)
        while end >= 0:
            if end - begin > max_line:
                raise BackendClosed(f"server sent a line longer than {max_line} bytes")
            message = _parse_line(buffer[begin:end])
            if message is not None:
                yield message
            begin = end + 1
            end = buffer.find(b"\n", begin)
        if begin:
            del buffer[:begin]
        if len(buffer) > max_line:
            raise BackendClosed(f"server sent a line longer than {max_line} bytes")


def _parse_line(line: bytes | bytearray) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        message = json.loads(line)
    except ValueError:
        logger.warning("server wrote a non-JSON line on stdout: %.200r", bytes(line[:200]))
        return None
    if not isinstance(message, dict):
        logger.warning("server wrote a JSON value that is not a message: %.200r", bytes(line[:200]))
        return None
    return message


async def _demux(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Docker's attach framing: an 8-byte header (stream, 0, 0, 0, big-endian length), then the payload.

    Yields stdout payloads piece by piece as they arrive (a frame may be far bigger than a read), so a
    large frame is neither buffered whole nor copied again on every read; stderr goes to the log.
    """
    header = bytearray()
    kind, remaining = 0, 0
    async for chunk in chunks:
        view = memoryview(chunk)
        while view:
            if remaining == 0:
                need = 8 - len(header)
                header += view[:need]
                view = view[need:]
                if len(header) < 8:
                    break
                kind, remaining = struct.unpack(">BxxxL", header)
                header.clear()
                continue
            piece, view = view[:remaining], view[remaining:]
            remaining -= len(piece)
            if kind == 1:
                yield bytes(piece)
            elif kind == 2:
                logger.info("server stderr: %.500s", bytes(piece).decode(errors="replace").rstrip())


class _StreamBackend:
    """A backend over any anyio byte stream, with optional docker stream framing on the read side."""

    def __init__(self, stream: anyio.abc.ByteStream, *, framed: bool, initial: bytes = b"",
                 process: anyio.abc.Process | None = None, reader: anyio.abc.ByteReceiveStream | None = None) -> None:
        self._stream = stream
        self._reader = reader or stream
        self._framed = framed
        self._initial = initial
        self._process = process
        self._lock = anyio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            try:
                await self._stream.send(_encode(message))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise BackendClosed(str(exc)) from exc

    async def raw_send(self, data: bytes) -> None:
        """Bytes that are not a message (the secrets frame), before any message."""
        async with self._lock:
            try:
                await self._stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise BackendClosed(str(exc)) from exc

    async def _raw(self) -> AsyncIterator[bytes]:
        if self._initial:
            yield self._initial
        while True:
            try:
                yield await self._reader.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return

    def _stdout(self) -> AsyncIterator[bytes]:
        return _demux(self._raw()) if self._framed else self._raw()

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        async for message in _json_lines(self._stdout()):
            yield message
        raise BackendClosed("the server closed its output")

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()
            if self._process is not None:
                if self._process.returncode is None:
                    self._process.terminate()
                    with anyio.move_on_after(3):
                        await self._process.wait()
                    if self._process.returncode is None:
                        self._process.kill()
                await self._process.aclose()


class _ProcessStream(anyio.abc.ByteStream):
    """stdin + stdout of a child process as one byte stream."""

    def __init__(self, process: anyio.abc.Process) -> None:
        if process.stdin is None or process.stdout is None:
            raise BackendClosed("the server process was started without pipes")
        self._stdin = process.stdin
        self._stdout = process.stdout

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self._stdout.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._stdin.send(item)

    async def send_eof(self) -> None:
        await self._stdin.aclose()

    async def aclose(self) -> None:
        await self._stdin.aclose()


@dataclass(frozen=True)
class ProcessBackendFactory:
    """A local stdio server process: for `python -m toolhive_py.proxy --stdio`, tests and benchmarks."""

    argv: Sequence[str]

    @property
    def description(self) -> str:
        return "process " + " ".join(self.argv)

    def connect(self) -> AbstractAsyncContextManager[Backend]:
        return _opened(self.open)

    async def open(self) -> _StreamBackend:
        process = await anyio.open_process(list(self.argv), stderr=None)
        return _StreamBackend(_ProcessStream(process), framed=False, process=process)


# A stdio server that ran at least this long and then exited 0 was working until its stdin closed.
_SETTLED_SECONDS = 10.0


def lost_its_stdin(state: Mapping[str, Any]) -> bool:
    """Whether an exited stdio server ended only because the engine closed its stdin.

    Podman closes a container's stdin when the attach connection ends (its API service restarted, or the
    proxy died), and a stdio server exits 0 at end of input, which an on-failure restart policy ignores.
    A server that exits 0 soon after starting is broken, not orphaned: it is left stopped, so there is
    no restart loop. Anything else (a crash, a kill, an OOM) is the engine's restart policy's business.
    """
    if state.get("Running") or state.get("Status") != "exited" or state.get("ExitCode") != 0 \
            or state.get("OOMKilled"):
        return False
    started, finished = _engine_time(state.get("StartedAt")), _engine_time(state.get("FinishedAt"))
    return started is not None and finished is not None and (finished - started).total_seconds() >= _SETTLED_SECONDS


def reinitialized_by_attach(state: Mapping[str, Any]) -> bool:
    """Whether Podman's attach re-initialized a container that had just stopped.

    For Docker compatibility Podman's attach endpoint initializes an exited container again, which leaves
    it "created": when that races a crash, the engine's restart policy sees no exited container and never
    runs, and nothing starts the server. A container that never ran (no start time) is not one of these.
    """
    started = _engine_time(state.get("StartedAt"))
    return not state.get("Running") and state.get("Status") == "created" and started is not None \
        and started.year > 1


def _engine_time(value: Any) -> datetime | None:
    """Docker and Podman timestamps (RFC 3339 with nanoseconds), to the microsecond."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00"))
    except ValueError:
        return None


# How long an attach waits for a just-started container's init to start the launcher (bounded polling).
_LAUNCHER_WAIT = 5.0


def _children_argv(parent: int, proc: Path = Path("/proc")) -> list[list[bytes]] | None:
    """argv of each process whose parent is ``parent``; None when this /proc does not show ``parent``."""
    if parent <= 0 or not (proc / str(parent)).is_dir():
        return None
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            found.append(argv)
    return found


async def _launcher_waiting(pid: int) -> bool | None:
    """Whether the launcher in the container whose init is host ``pid`` still waits for its frame; None when
    this host's /proc cannot tell (a remote engine, another pid namespace)."""
    from toolhive_py.runtime.launcher import is_launcher_argv

    with anyio.move_on_after(_LAUNCHER_WAIT):
        while True:
            children = await anyio.to_thread.run_sync(_children_argv, pid)
            if children is None:
                return None
            if children:
                return any(is_launcher_argv(argv) for argv in children)
            await anyio.sleep(0.05)  # the init has not started the entrypoint yet
    return False


@dataclass(frozen=True)
class ContainerBackendFactory:
    """A container's stdin/stdout through the engine's attach endpoint (Docker and Podman speak the same API).

    Attaching with a raw HTTP upgrade over anyio keeps the whole path async (no thread per message).
    With ``secret_env`` (held in this process's memory only, never logged) every attach first sends the secrets
    frame (``runtime.launcher``) when the container's launcher is waiting for it: after ``run``, and after every
    restart, by the engine's policy, ``docker restart`` or an engine restart.
    """

    base_url: str
    container: str
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Where /proc cannot tell (a remote engine): the container starts this process has sent a frame to.
    _framed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    @property
    def description(self) -> str:
        return f"container {self.container} via {self.base_url}"

    def _http(self) -> httpx.AsyncClient:
        import httpx  # here, not at import: a proxy of a local stdio server never needs it

        parts = urlsplit(self.base_url)
        if parts.scheme in ("unix", "http+unix"):
            return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=parts.path), base_url="http://engine",
                                     timeout=10)
        return httpx.AsyncClient(base_url=f"http://{parts.netloc}", timeout=10)

    async def inspect(self) -> dict[str, Any]:
        async with self._http() as client:
            response = await client.get(f"/containers/{quote(self.container)}/json")
            if response.status_code == 404:
                raise BackendClosed(f"container {self.container} does not exist")
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    async def _connect(self) -> anyio.abc.ByteStream:
        parts = urlsplit(self.base_url)
        if parts.scheme in ("unix", "http+unix"):
            return await anyio.connect_unix(parts.path)
        return await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 2375)

    async def _start(self, why: str) -> dict[str, Any]:
        async with self._http() as client:
            response = await client.post(f"/containers/{quote(self.container)}/start")
            if response.status_code not in (204, 304):
                raise BackendClosed(f"the engine would not start {self.container}: {response.text.strip()[:200]}")
        logger.warning("started %s again: %s", self.container, why)
        state: dict[str, Any] = (await self.inspect()).get("State", {})
        return state

    async def _state(self) -> dict[str, Any]:
        """The container's state, after starting it again where the engine will not (see the predicates)."""
        state: dict[str, Any] = (await self.inspect()).get("State", {})
        if lost_its_stdin(state):
            return await self._start("its server had exited when the engine closed its stdin")
        if reinitialized_by_attach(state):
            return await self._start("an attach re-initialized it as it stopped, so its restart policy never ran")
        return state

    def connect(self) -> AbstractAsyncContextManager[Backend]:
        return _opened(self.open)

    async def _attach_running(self) -> _StreamBackend:
        """Attach to the container's stdio; BackendClosed when the engine does not answer or it is not running."""
        import httpx

        try:
            state = await self._state()
        except (httpx.HTTPError, OSError) as exc:
            raise BackendClosed(f"engine unreachable at {self.base_url}: {exc}") from exc
        if not state.get("Running"):
            raise BackendClosed(f"container {self.container} is not running ({state.get('Status', 'unknown')})")
        return await self._attach()

    async def open(self) -> _StreamBackend:
        import httpx

        backend = await self._attach_running()
        try:
            await self._state()  # the server may have died between the look above and the attach
            if self.secret_env:
                await self._send_frame(backend)
        except (httpx.HTTPError, OSError, BackendClosed) as exc:
            await backend.aclose()
            raise BackendClosed(f"container {self.container} went away while attaching: {exc}") from exc
        return backend

    async def deliver_secrets(self) -> None:
        """Attach only to send the frame, for a server that does not speak on stdio (Streamable HTTP, SSE)."""
        import httpx

        if not self.secret_env:
            return
        backend = await self._attach_running()
        try:
            await self._send_frame(backend)
        except (httpx.HTTPError, OSError) as exc:
            raise BackendClosed(f"container {self.container} went away while attaching: {exc}") from exc
        finally:
            await backend.aclose()

    def in_front_of(self, inner: BackendFactory) -> BackendFactory:
        """``inner`` (the factory of this container's HTTP server), with the frame delivered before each connect."""
        return _SecretsFirst(self, inner)

    async def _send_frame(self, backend: _StreamBackend) -> None:
        from toolhive_py.runtime.launcher import encode_first_frame

        attrs = await self.inspect()
        state = attrs.get("State") or {}
        waiting = await _launcher_waiting(int(state.get("Pid") or 0))
        start = (str(attrs.get("Id", "")), str(state.get("StartedAt", "")))
        if waiting is None:
            waiting = start not in self._framed
        if not waiting:
            return
        try:
            await backend.raw_send(encode_first_frame(self.secret_env))
        except ValueError as exc:  # the CLI checked the names; a bad one never reaches a container
            raise BackendClosed(f"cannot send the secrets of {self.container}: {exc}") from exc
        self._framed.add(start)
        logger.info("sent the secrets frame to %s (%d variables)", self.container, len(self.secret_env))

    async def _attach(self) -> _StreamBackend:
        try:
            stream = await self._connect()
        except OSError as exc:
            raise BackendClosed(f"engine unreachable at {self.base_url}: {exc}") from exc
        path = f"/containers/{quote(self.container)}/attach?stream=1&stdin=1&stdout=1&stderr=1"
        request = (f"POST {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                   f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        await stream.send(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                head += await stream.receive(4096)
            except (anyio.EndOfStream, OSError) as exc:
                await stream.aclose()
                raise BackendClosed("the engine closed the attach connection") from exc
            if len(head) > 65536:
                await stream.aclose()
                raise BackendClosed("the engine sent an oversized attach response")
        header, _, rest = head.partition(b"\r\n\r\n")
        status_line = header.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status_line + " " and " 200 " not in status_line + " ":
            await stream.aclose()
            raise BackendClosed(f"attach refused by the engine: {status_line}")
        return _StreamBackend(stream, framed=True, initial=rest)


@dataclass(frozen=True)
class _SecretsFirst:
    """A server that is not reached over stdio, whose launcher still takes its secrets on stdin."""

    secrets: ContainerBackendFactory
    inner: BackendFactory

    @property
    def description(self) -> str:
        return self.inner.description

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Backend]:
        await self.secrets.deliver_secrets()
        async with self.inner.connect() as backend:
            yield backend


class _SdkClientBackend:
    """An HTTP or SSE server reached through the MCP SDK's client transport (one upstream session)."""

    def __init__(self, read_stream: Any, write_stream: Any) -> None:
        self._read = read_stream
        self._write = write_stream

    async def send(self, message: dict[str, Any]) -> None:
        from mcp.shared.message import SessionMessage
        from mcp_types import jsonrpc_message_adapter

        try:
            await self._write.send(SessionMessage(jsonrpc_message_adapter.validate_python(message, by_name=False)))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise BackendClosed("the upstream HTTP session closed") from exc

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for item in self._read:
                if isinstance(item, Exception):
                    logger.warning("upstream transport error: %s", item)
                    continue
                yield item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
            pass
        raise BackendClosed("the upstream HTTP session ended")


@dataclass(frozen=True)
class HttpBackendFactory:
    """A containerized Streamable HTTP or SSE server, on the loopback port the engine published for it;
    or, with ``url``, a server at that URL (no engine: a local process, tests, benchmarks)."""

    base_url: str
    container: str
    target_port: int
    transport: str
    url: str = ""

    @property
    def description(self) -> str:
        if self.url:
            return f"{self.transport} server at {self.url}"
        return f"{self.transport} server in container {self.container} via {self.base_url}"

    async def endpoint(self) -> str:
        """The server's MCP URL now (a container's published port changes when it is recreated)."""
        return self.url or await self._url()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Backend]:
        url = await self.endpoint()
        if self.transport == "sse":
            from mcp.client.sse import sse_client

            async with sse_client(url) as streams:
                yield _SdkClientBackend(streams[0], streams[1])
        else:
            from mcp.client.streamable_http import streamable_http_client

            async with streamable_http_client(url) as streams:
                yield _SdkClientBackend(streams[0], streams[1])

    async def _url(self) -> str:
        import httpx

        inspector = ContainerBackendFactory(self.base_url, self.container)
        try:
            attrs = await inspector.inspect()
        except (httpx.HTTPError, OSError) as exc:
            raise BackendClosed(f"engine unreachable at {self.base_url}: {exc}") from exc
        if not attrs.get("State", {}).get("Running"):
            raise BackendClosed(f"container {self.container} is not running")
        bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{self.target_port}/tcp") or []
        if not bindings:
            raise BackendClosed(f"container {self.container} publishes no port for {self.target_port}/tcp")
        host_port = bindings[0].get("HostPort")
        path = "/sse" if self.transport == "sse" else "/mcp"
        return f"http://127.0.0.1:{host_port}{path}"
