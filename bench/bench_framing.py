"""How long the proxy takes to frame large server messages: one message of SIZE bytes read from a stdio
pipe (newline-delimited JSON) and from a Docker attach stream (8-byte frame headers), and how long a line
over the 64 MiB cap takes to be refused. Chunks arrive as the proxy reads them, 64 KiB at a time.

    .venv/bin/python bench/bench_framing.py [--mb 40]

Framing was quadratic (the buffer was copied and split again on every chunk): 40 MB took seconds and held
up every other session; it is linear now. The numbers are in docs/proxy.md ("Measured").
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

import anyio
import anyio.abc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolhive_py.proxy.backends import _MAX_LINE, BackendClosed, _StreamBackend  # noqa: E402

READ = 65536  # what the proxy asks the stream for on each read
DOCKER_FRAME = 32 * 1024  # Docker copies a container's stdout in 32 KiB writes, one frame each


class _Preloaded(anyio.abc.ByteStream):
    """A byte stream that hands out a prepared buffer as the proxy reads it, then ends."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    async def receive(self, max_bytes: int = READ) -> bytes:
        if self._at >= len(self._data):
            raise anyio.EndOfStream
        chunk = bytes(self._data[self._at:self._at + max_bytes])
        self._at += len(chunk)
        return chunk

    async def send(self, item: bytes) -> None:
        raise NotImplementedError

    async def send_eof(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _docker_framed(payload: bytes, frame: int) -> bytes:
    return b"".join(struct.pack(">BxxxL", 1, len(payload[i:i + frame])) + payload[i:i + frame]
                    for i in range(0, len(payload), frame))


async def _read(data: bytes, *, framed: bool) -> tuple[float, int, str]:
    """Seconds to read every message in ``data``, how many there were, and how the stream ended."""
    backend = _StreamBackend(_Preloaded(data), framed=framed)
    started = time.perf_counter()
    count = 0
    try:
        async for _ in backend.messages():
            count += 1
    except BackendClosed as exc:
        return time.perf_counter() - started, count, str(exc)
    return time.perf_counter() - started, count, "end"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=40.0)
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    message = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"text": "x" * size}}).encode() + b"\n"
    too_long = b"x" * (_MAX_LINE + 2 * READ)
    cases = {
        f"stdio, one {args.mb:g} MB message": (message, False),
        f"docker attach, one {args.mb:g} MB message in 32 KiB frames": (_docker_framed(message, DOCKER_FRAME), True),
        f"docker attach, one {args.mb:g} MB message in one frame": (_docker_framed(message, len(message)), True),
        "stdio, a line over the 64 MiB cap": (too_long, False),
        "docker attach, a line over the 64 MiB cap (32 KiB frames)": (_docker_framed(too_long, DOCKER_FRAME), True),
    }
    for name, (data, framed) in cases.items():
        seconds, count, ended = await _read(data, framed=framed)
        print(f"{name}: {seconds:.3f} s, {count} message(s), ended: {ended[:60]}")  # noqa: T201


if __name__ == "__main__":
    anyio.run(main)
