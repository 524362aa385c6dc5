"""The secrets frame (one pure format for the CLI, the proxy and the Python launcher), both launchers run as real
processes, and the spec that puts the launcher in front of the image's own command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from toolhive_py.errors import UsageError
from toolhive_py.proxy.backends import _children_argv, _launcher_waiting
from toolhive_py.runtime import labels
from toolhive_py.runtime.launcher import (
    MARKER,
    SH_LAUNCHER,
    build_launcher_entrypoint,
    encode_first_frame,
    is_launcher_argv,
    parse_first_frame,
    python_launcher_source,
)
from toolhive_py.runtime.spec import RunRequest, SecretInjection, build_container_spec

AWKWARD = {"TOKEN": "ghp_abc 'q' \"d\" $HOME `x` \\n\n=é", "EMPTY": "", "_U2": "a=b c"}
_DUMP = "import json, os, sys; print(json.dumps([dict(os.environ), sys.stdin.buffer.read().decode()]))"


def test_a_frame_is_one_ascii_line_that_parses_back_to_the_same_values() -> None:
    frame = encode_first_frame(AWKWARD)
    assert frame.endswith(b"\n")
    assert frame.count(b"\n") == 1
    assert frame.isascii()
    assert b"ghp_abc" not in frame, "values travel hex-encoded: no value can end the line or split a word"
    assert parse_first_frame(frame.rstrip(b"\n")) == AWKWARD
    assert parse_first_frame(encode_first_frame({}).rstrip(b"\n")) == {}


@pytest.mark.parametrize("line", [b"", b"hello", b'{"jsonrpc": "2.0"}', b"MCPCTL-ENV1 1A=00", b"MCPCTL-ENV1 A=zz",
                                  b"MCPCTL-ENV1 A", b"MCPCTL-ENV1 A-B=41", b"MCPCTL-ENV1 A=4", b"MCPCTL-ENV1 A=4A",
                                  b"MCPCTL-ENV1 A=00", "MCPCTL-ENV1 Ä=41".encode()])
def test_anything_but_a_frame_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError, match="frame|ascii|hex|non-hexadecimal|codec"):
        parse_first_frame(line)


@pytest.mark.parametrize("env", [{"A-B": "x"}, {"1A": "x"}, {"A": "nul\0"}, {"": "x"}])
def test_names_no_environment_can_hold_are_never_encoded(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="cannot pass"):
        encode_first_frame(env)


def _launch(interpreter: str, stdin: bytes, *command: str) -> subprocess.CompletedProcess[bytes]:
    argv = [*build_launcher_entrypoint(interpreter), *command]
    return subprocess.run(argv, input=stdin, capture_output=True, check=False,  # noqa: S603 - our launcher
                          env={"PATH": os.environ["PATH"], "KEEP": "kept"}, timeout=30)


INTERPRETERS = [sys.executable, shutil.which("sh") or "/bin/sh"]


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_the_launcher_sets_the_frames_variables_and_execs_with_the_rest_of_stdin_untouched(interpreter: str) -> None:
    rest = b'{"jsonrpc":"2.0","id":1,"method":"initialize"}\nsecond line\n\x00binary'
    done = _launch(interpreter, encode_first_frame(AWKWARD) + rest, sys.executable, "-c", _DUMP)
    assert done.returncode == 0, done.stderr
    environ, stdin = json.loads(done.stdout)
    assert {k: environ.get(k) for k in AWKWARD} == AWKWARD
    assert environ["KEEP"] == "kept"
    assert stdin.encode() == rest


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("stdin", [b"", b"MCPCTL-ENV1 A=41", b'{"jsonrpc":"2.0"}\n', b"MCPCTL-ENV1 A=4\n"])
def test_the_launcher_runs_nothing_without_a_whole_frame(interpreter: str, stdin: bytes) -> None:
    done = _launch(interpreter, stdin, sys.executable, "-c", "print('server ran')")
    assert done.returncode == 70
    assert b"server ran" not in done.stdout
    assert b"mcpctl-launcher:" in done.stderr


def test_the_python_launcher_parses_with_the_very_function_the_proxy_uses() -> None:
    source = python_launcher_source()
    assert "def parse_first_frame(line: bytes) -> dict[str, str]:" in source
    assert build_launcher_entrypoint("/usr/bin/python3")[:2] == ["/usr/bin/python3", "-c"]
    assert build_launcher_entrypoint("/bin/sh")[2] == SH_LAUNCHER
    assert build_launcher_entrypoint("/bin/sh")[3] == MARKER


def test_a_waiting_launcher_is_told_from_the_server_it_became() -> None:
    assert is_launcher_argv([b"/bin/sh", b"-c", SH_LAUNCHER.encode(), MARKER.encode(), b"node", b"s.js"])
    assert not is_launcher_argv([b"node", b"s.js", b"-c", MARKER.encode()])
    assert not is_launcher_argv([b"/opt/server/bin/python", b"/opt/server/server.py"])


def test_the_proxy_sees_a_real_waiting_launcher_and_then_the_server_it_became() -> None:
    """A real parent (as the container's init) with the launcher as its child, found through this host's /proc."""
    parent = subprocess.Popen(  # noqa: S603 - a test process of ours
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
         *build_launcher_entrypoint(sys.executable), sys.executable, "-c", "import time; time.sleep(30)"],
        stdin=subprocess.PIPE)
    try:
        assert parent.stdin is not None
        assert anyio.run(_launcher_waiting, parent.pid) is True
        parent.stdin.write(encode_first_frame({"A": "1"}))
        parent.stdin.flush()
        for _ in range(200):
            if anyio.run(_launcher_waiting, parent.pid) is False:
                break
        assert anyio.run(_launcher_waiting, parent.pid) is False
    finally:
        parent.kill()
        parent.wait()
        if parent.stdin is not None:
            parent.stdin.close()
    assert anyio.run(_launcher_waiting, 0) is None, "no pid (a remote engine): /proc cannot tell"
    assert _children_argv(2**22 + 7, Path("/proc")) is None


def _request(**overrides: object) -> RunRequest:
    base: dict[str, object] = {"name": "demo", "image": "example/demo:1", "secret_env_names": ("TOKEN",),
                               "image_entrypoint": ("/opt/server/bin/python", "/opt/server/server.py"),
                               "image_cmd": ("--default",), "launcher": "/usr/bin/python3",
                               "secret_sources": {"TOKEN": "github-token"}, "secret_backend": "keyring"}
    return RunRequest(**{**base, **overrides})  # type: ignore[arg-type]


def test_with_secrets_the_entrypoint_is_the_launcher_in_front_of_what_the_image_would_run() -> None:
    spec = build_container_spec(_request())
    assert spec.secret_injection is SecretInjection.STDIN
    assert spec.kwargs["entrypoint"] == build_launcher_entrypoint("/usr/bin/python3")
    assert spec.kwargs["command"] == ["/opt/server/bin/python", "/opt/server/server.py", "--default"]
    assert build_container_spec(_request(args=("--x",))).kwargs["command"] == \
        ["/opt/server/bin/python", "/opt/server/server.py", "--x"], "arguments replace CMD, as with the engine"
    assert "TOKEN" not in spec.kwargs["environment"]
    assert spec.kwargs["labels"][labels.SECRET_INJECTION] == "stdin"
    assert spec.kwargs["labels"][labels.SECRETS] == "github-token=TOKEN"
    assert spec.kwargs["labels"][labels.SECRET_BACKEND] == "keyring"
    assert spec.kwargs["stdin_open"] is True


def test_an_http_server_keeps_stdin_open_for_its_frame() -> None:
    spec = build_container_spec(_request(transport="streamable-http", target_port=8080, permissions=_network()))
    assert spec.kwargs["stdin_open"] is True
    plain = build_container_spec(_request(transport="streamable-http", target_port=8080, permissions=_network(),
                                          secret_env_names=()))
    assert plain.kwargs["stdin_open"] is False
    assert "entrypoint" not in plain.kwargs, "no secrets, no launcher"


def _network() -> object:
    from toolhive_py.registry.models import Permissions

    return Permissions.model_validate({"network": {"outbound": {"insecure_allow_all": True}}})


def test_an_image_with_no_interpreter_is_refused_unless_env_secrets_are_allowed() -> None:
    with pytest.raises(UsageError) as caught:
        build_container_spec(_request(launcher=""))
    assert caught.value.code == "no-launcher"
    assert "--allow-env-secrets" in (caught.value.hint or "")
    allowed = build_container_spec(_request(launcher="", allow_env_secrets=True))
    assert allowed.secret_injection is SecretInjection.ENV
    assert "entrypoint" not in allowed.kwargs
    assert allowed.kwargs["labels"][labels.SECRET_INJECTION] == "env"


def test_an_image_with_nothing_to_run_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        build_container_spec(_request(image_entrypoint=(), image_cmd=()))
    assert caught.value.code == "no-command"
