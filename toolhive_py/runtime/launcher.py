"""The secrets frame and the in-container launcher that reads it, so secret values never enter the engine's
stored container configuration (``inspect``, the engine's files on disk).

Policy: a workload with secrets gets an entrypoint of its image's own interpreter (python3, else a POSIX sh)
running a small launcher (``-c`` code; the image needs no file of ours). The launcher reads ONE line from stdin,
the frame, puts its variables into the environment and execs the server, leaving the rest of stdin untouched (it
reads byte by byte, never past the newline). The frame is sent by the workload's proxy, which holds the values in
memory and the stdin channel, on every attach where the launcher waits (``is_launcher_argv``), so every restart
of the container gets them again.

The frame is ASCII, one line: ``MCPCTL-ENV1`` then `` NAME=HEX`` per variable (the value's UTF-8 bytes in
lower-case hex), so a shell can split it and no value can end the line early. The same ``parse_first_frame``
runs in the proxy (reading what the CLI hands it) and, as source, in the Python launcher.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Final

__all__ = ["FRAME_TAG", "MARKER", "MAX_FRAME", "SH_LAUNCHER", "build_launcher_entrypoint", "encode_first_frame",
           "is_launcher_argv", "parse_first_frame", "python_launcher_source"]

FRAME_TAG: Final = "MCPCTL-ENV1"
# The launcher's own argv element ($0 of the shell, sys.argv[1] of python -c): how the proxy tells a launcher
# still waiting for its frame from the server it became.
MARKER: Final = "mcpctl-launcher"
MAX_FRAME: Final = 1024 * 1024
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def encode_first_frame(env: Mapping[str, str]) -> bytes:
    """The frame for ``env``: names must be variable names, values must not hold NUL (no environment can)."""
    parts = [FRAME_TAG]
    for name, value in env.items():
        if not _NAME.match(name) or "\0" in value:
            raise ValueError(f"cannot pass {name!r} in a secrets frame")
        parts.append(f"{name}={value.encode().hex()}")
    frame = (" ".join(parts) + "\n").encode("ascii")
    if len(frame) > MAX_FRAME:
        raise ValueError("the secrets are too large for one frame")
    return frame


def parse_first_frame(line: bytes) -> dict[str, str]:
    """The variables of one frame line (without its newline); ValueError when it is not a frame.

    Also the Python launcher's parser, shipped as source: builtins only, syntax Python 3.7 understands.
    """
    words = line.decode("ascii").split(" ")
    if words[0] != "MCPCTL-ENV1":
        raise ValueError("not a secrets frame")
    env = {}
    for word in words[1:]:
        name, sep, digits = word.partition("=")
        valid_name = name[:1].isalpha() or name[:1] == "_"
        if not sep or not valid_name or not name.replace("_", "a").isalnum() or not name.isascii():
            raise ValueError("bad variable name in the secrets frame")
        if digits != digits.lower():
            raise ValueError("bad value in the secrets frame")
        value = bytes.fromhex(digits).decode("utf-8")
        if "\0" in value:
            raise ValueError("bad value in the secrets frame")
        env[name] = value
    return env


_PYTHON_MAIN: Final = '''
import os, sys


def _first_line():
    data = bytearray()
    while len(data) <= %(max)d:
        byte = os.read(0, 1)
        if not byte:
            break
        if byte == b"\\n":
            return bytes(data)
        data += byte
    sys.stderr.write("mcpctl-launcher: stdin ended before the secrets frame\\n")
    sys.exit(70)


try:
    os.environ.update(parse_first_frame(_first_line()))
except ValueError as error:
    sys.stderr.write("mcpctl-launcher: %%s\\n" %% error)
    sys.exit(70)
if len(sys.argv) < 3:
    sys.stderr.write("mcpctl-launcher: no server command\\n")
    sys.exit(70)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as error:
    sys.stderr.write("mcpctl-launcher: cannot run %%s: %%s\\n" %% (sys.argv[2], error))
    sys.exit(127)
'''


@cache
def python_launcher_source() -> str:
    """The ``python3 -c`` launcher: ``parse_first_frame``'s own source, then reading the frame and exec."""
    return "from __future__ import annotations\n" + inspect.getsource(parse_first_frame) \
        + _PYTHON_MAIN % {"max": MAX_FRAME}


# POSIX sh (dash, busybox ash, bash): `read` stops at the newline byte by byte; hex becomes octal escapes by
# arithmetic (no fork per byte), then one printf per value; the trailing "x" keeps trailing newlines.
SH_LAUNCHER: Final = r"""set -f
fail() { echo "mcpctl-launcher: $1" >&2; exit 70; }
IFS= read -r frame || fail "stdin ended before the secrets frame"
case $frame in MCPCTL-ENV1|"MCPCTL-ENV1 "*) ;; *) fail "not a secrets frame" ;; esac
IFS=' '
for pair in ${frame#MCPCTL-ENV1}; do
  name=${pair%%=*}
  hex=${pair#*=}
  case $pair in *=*) ;; *) fail "bad entry in the secrets frame" ;; esac
  case $name in ""|[0-9]*|*[!A-Za-z0-9_]*) fail "bad variable name in the secrets frame" ;; esac
  case $hex in *[!0-9a-f]*) fail "bad value in the secrets frame" ;; esac
  [ $(( ${#hex} % 2 )) -eq 0 ] || fail "bad value in the secrets frame"
  fmt=
  while [ -n "$hex" ]; do
    rest=${hex#??}
    byte=${hex%"$rest"}
    hex=$rest
    n=$((0x$byte))
    [ "$n" -ne 0 ] || fail "bad value in the secrets frame"
    fmt="$fmt\\$(( n / 64 * 100 + n / 8 % 8 * 10 + n % 8 ))"
  done
  value=$(printf "${fmt}x")
  export "$name=${value%x}"
done
unset frame pair name hex rest byte n fmt value
IFS=$(printf ' \t\nx')
IFS=${IFS%x}
set +f
[ "$#" -gt 0 ] || fail "no server command"
exec "$@"
"""


def build_launcher_entrypoint(interpreter: str) -> list[str]:
    """The container entrypoint that runs the launcher with ``interpreter`` (a python3 or a POSIX sh path); the
    server's own argv follows as the container's command."""
    code = python_launcher_source() if "python" in interpreter.rsplit("/", 1)[-1] else SH_LAUNCHER
    return [interpreter, "-c", code, MARKER]


def is_launcher_argv(argv: Sequence[bytes]) -> bool:
    """Whether a process's argv is the launcher, still waiting for its frame (``INTERPRETER -c CODE MARKER …``)."""
    return len(argv) >= 4 and argv[1] == b"-c" and argv[3] == MARKER.encode()
