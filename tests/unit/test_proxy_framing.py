"""Reading a server's messages off its byte stream: newline-delimited JSON, Docker's attach framing, the
line cap, all in time linear in what the server sends (a 40 MB message used to take 13 s)."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import pytest

from toolhive_py.proxy.backends import BackendClosed, _demux, _json_lines

pytestmark = pytest.mark.anyio


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def each(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def messages(chunks: AsyncIterator[bytes], **options: Any) -> list[dict[str, Any]]:
    return [message async for message in _json_lines(chunks, **options)]


def framed(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


STREAM = b'{"id":1}\n\n  \nbanner: starting\n[1,2]\n{"id":2,"text":"a\\nb"}\n{"id":3}\n'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
async def test_messages_split_anywhere_come_out_whole_and_in_order(size: int) -> None:
    assert await messages(chunks_of(STREAM, size)) == [{"id": 1}, {"id": 2, "text": "a\nb"}, {"id": 3}]


async def test_a_last_line_without_a_newline_is_not_a_message_yet() -> None:
    assert await messages(each([b'{"id":1}\n{"id":', b"2}"])) == [{"id": 1}]


@pytest.mark.parametrize("size", [1, 5, 8, 9, 4096])
async def test_docker_frames_yield_stdout_only_however_reads_split_them(size: int) -> None:
    stream = framed(1, b'{"id":1}\n{"i') + framed(2, b"a log line\n") + framed(1, b'd":2}\n') + framed(1, b"")
    payload = b"".join([piece async for piece in _demux(chunks_of(stream, size))])
    assert payload == b'{"id":1}\n{"id":2}\n'


async def test_a_line_over_the_cap_is_refused_as_soon_as_the_bytes_read_cross_it() -> None:
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        while True:
            read += 1
            yield b"x" * 100

    with pytest.raises(BackendClosed, match="longer than 1000 bytes"):
        await messages(endless(), max_line=1000)
    assert read == 11


async def test_a_complete_line_over_the_cap_is_refused_too() -> None:
    with pytest.raises(BackendClosed):
        await messages(each([b'{"id":1}\n' + b"x" * 2000 + b"\n"]), max_line=1000)


async def test_a_line_at_the_cap_passes() -> None:
    line = json.dumps({"t": "x" * 990}).encode()
    assert len(line) == 999
    assert await messages(each([line[:500], line[500:] + b"\n"]), max_line=999) == [{"t": "x" * 990}]


@pytest.mark.parametrize("framing", ["stdio", "docker"])
async def test_a_large_message_is_framed_in_linear_time(framing: str) -> None:
    message = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"text": "x" * 24_000_000}}).encode() + b"\n"
    if framing == "docker":  # Docker copies a container's stdout in 32 KiB writes, one frame each
        message = b"".join(framed(1, message[i:i + 32768]) for i in range(0, len(message), 32768))
    started = time.perf_counter()
    with anyio.fail_after(30):
        source = chunks_of(message, 65536)
        got = await messages(_demux(source) if framing == "docker" else source)
    elapsed = time.perf_counter() - started
    assert len(got) == 1
    assert len(got[0]["result"]["text"]) == 24_000_000
    # Linear framing takes ~0.1 s here; the quadratic one took 3.3 s (stdio) and more (docker) for 24 MB.
    assert elapsed < 1.5, f"{elapsed:.2f} s for 24 MB"
