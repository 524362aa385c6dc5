"""Start, find and stop the detached proxy process of each workload (the CLI side of the proxy).

State lives in ``<state>/workloads/NAME/proxy.json``; the port also lives on the container as a label,
so a lost state directory costs nothing: the next `mcpctl start` brings the proxy back on the same port.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from toolhive_py.config import ENV_HOME, Paths, atomic_write
from toolhive_py.errors import ConflictError, MCPCTLError
from toolhive_py.proxy import HOST
from toolhive_py.runtime.engine import ENV_SOCKET

__all__ = ["ProxyState", "audit_path", "free_port", "proxy_dir", "proxy_environment", "proxy_log_path", "read_state",
           "forget", "recorded_proxies",
           "running_proxy", "start_proxy", "stop_proxy"]

_MODULE = "toolhive_py.proxy"

# What a detached proxy keeps of the CLI's environment: the process basics, locale, where its files live, and how
# to reach the engine. Named one by one (an allowlist, never "all but"), so MCPCTL_SECRET_*, VAULT_TOKEN, a
# client's API keys and proxy URLs with credentials never live on in a long-running process.
_PROXY_ENV: Final = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "PYTHONPATH",  # the proxy is this same interpreter importing this same package, also when run from a checkout
    ENV_HOME, ENV_SOCKET, "MCPCTL_DEBUG",
    "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
})
_PROXY_ENV_PREFIXES: Final = ("LC_", "XDG_")


@dataclass(frozen=True)
class ProxyState:
    name: str
    pid: int
    port: int
    engine: str
    container: str
    started: float

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/mcp"


def proxy_dir(paths: Paths, name: str) -> Path:
    return paths.workloads_dir / name


def audit_path(paths: Paths, name: str) -> Path:
    return proxy_dir(paths, name) / "audit.jsonl"


def proxy_log_path(paths: Paths, name: str) -> Path:
    return proxy_dir(paths, name) / "proxy.log"


def _state_file(paths: Paths, name: str) -> Path:
    return proxy_dir(paths, name) / "proxy.json"


def proxy_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a detached proxy starts with: the allowlisted part of ``environ``, nothing secret."""
    return {key: value for key, value in environ.items()
            if key in _PROXY_ENV or key.startswith(_PROXY_ENV_PREFIXES)}


def free_port(requested: int | None = None) -> int:
    """``requested`` if nothing listens there, else a port the OS hands out on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, requested or 0))
        except OSError as exc:
            raise ConflictError(f"Port {requested} on {HOST} is already in use.",
                                hint="Pick another with --port, or leave it out to get a free one.",
                                port=requested) from exc
        return int(probe.getsockname()[1])


def read_state(paths: Paths, name: str) -> ProxyState | None:
    try:
        return ProxyState(**json.loads(_state_file(paths, name).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _is_our_proxy(pid: int, name: str) -> bool:
    """True only for a live proxy of this workload: a recycled pid must never be signalled."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _MODULE.encode() in argv and name.encode() in argv


def forget(paths: Paths, name: str) -> Path | None:
    """Drop a removed workload's proxy directory (so completion and doctor stop offering it); its audit log
    is kept, moved to ``<state>/audit-archive/NAME-TIME.jsonl``, which is returned."""
    import shutil

    directory = proxy_dir(paths, name)
    kept = None
    if audit_path(paths, name).is_file():
        kept = paths.state_dir / "audit-archive" / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
        kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(audit_path(paths, name), kept)
    shutil.rmtree(directory, ignore_errors=True)
    return kept


def recorded_proxies(paths: Paths) -> list[ProxyState]:
    """Every proxy this mcpctl home has a state file for, running or not (scan's "is this URL ours?")."""
    if not paths.workloads_dir.is_dir():
        return []
    states = (read_state(paths, directory.name) for directory in sorted(paths.workloads_dir.iterdir()))
    return [state for state in states if state is not None]


def running_proxy(paths: Paths, name: str) -> ProxyState | None:
    state = read_state(paths, name)
    return state if state is not None and _is_our_proxy(state.pid, state.name) else None


# How long a started proxy is given to reach its server before `run` returns anyway (a first npx download can take
# longer; the proxy keeps trying, and `status`/`doctor` tell).
_READY_WAIT_S = 10.0


def _wait_ready(port: int, seconds: float) -> bool:
    """Until the proxy's server answers (``/health/ready``), so a client connecting right after ``run`` finds it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    return False


def _live(port: int, timeout: float = 0.5) -> bool:
    # http.client, not httpx: this runs in every CLI call that checks a proxy, and an httpx client builds
    # an SSL context (tens of ms) even for a plain-HTTP loopback URL.
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", "/health/live")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def start_proxy(paths: Paths, *, name: str, port: int, engine: str, container: str,
                policy_json: str = "", upstream: str = "stdio", target_port: int | None = None,
                secret_env: Mapping[str, str] | None = None, credentials: Path | None = None,
                backend_argv: Sequence[str] = (), wait: float = 15.0) -> ProxyState:
    """Spawn the proxy in its own session (it outlives this CLI call) and wait until it answers.

    ``credentials`` is the workload's credentials file: the proxy lets in only bearer tokens it lists (none
    while it does not exist: migration mode, see ``toolhive_py.credentials``).

    ``secret_env`` (the container's secrets, sent by the proxy to its launcher) reaches the proxy only through a
    pipe on its stdin: never its argv, environment or a file. ``backend_argv`` are more of the proxy's backend
    options (a remote workload's ``--remote URL``, which has no engine or container).
    """
    existing = running_proxy(paths, name)
    if existing is not None:
        return existing
    directory = proxy_dir(paths, name)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = [sys.executable, "-m", _MODULE, "--port", str(port), "--name", name, "--container", container,
            "--engine", engine, "--audit-log", str(audit_path(paths, name)),
            "--state-dir", str(directory)]
    if policy_json:
        argv += ["--policy", policy_json]
    if upstream != "stdio":
        argv += ["--upstream", upstream, "--target-port", str(target_port or 0)]
    if credentials is not None:
        argv += ["--credentials", str(credentials)]
    argv += backend_argv
    frame = b""
    if secret_env:
        from toolhive_py.runtime.launcher import encode_first_frame

        frame = encode_first_frame(secret_env)
        argv.append("--secrets-stdin")
    log_fd = os.open(proxy_log_path(paths, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    read_end, write_end = os.pipe() if frame else (-1, -1)
    stdin = ((os.POSIX_SPAWN_DUP2, read_end, 0) if frame else (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    try:
        # posix_spawn rather than Popen: the proxy is not our child to wait for, it must outlive this call.
        pid = os.posix_spawn(sys.executable, argv, proxy_environment(os.environ), setsid=True, file_actions=[
            stdin, (os.POSIX_SPAWN_DUP2, log_fd, 1), (os.POSIX_SPAWN_DUP2, log_fd, 2)])
    finally:
        os.close(log_fd)
        if frame:
            os.close(read_end)
    if frame:
        _write_all(write_end, frame)
    state = ProxyState(name, pid, port, engine, container, time.time())
    atomic_write(_state_file(paths, name), (json.dumps(asdict(state)) + "\n").encode())
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        exited, status = os.waitpid(pid, os.WNOHANG)
        if exited:
            tail = proxy_log_path(paths, name).read_text(errors="replace").strip().splitlines()[-5:]
            raise MCPCTLError(f"The proxy for {name} exited at start (code {os.waitstatus_to_exitcode(status)}).",
                              hint="\n".join(tail) or f"See {proxy_log_path(paths, name)}.", code="proxy-failed")
        if _live(port):
            _wait_ready(port, _READY_WAIT_S)
            return state
        time.sleep(0.05)
    raise MCPCTLError(f"The proxy for {name} did not answer on port {port} within {wait:g}s.",
                      hint=f"See {proxy_log_path(paths, name)}.", code="proxy-timeout")


def _write_all(fd: int, data: bytes) -> None:
    """Hand ``data`` to the proxy and close the pipe; a proxy that died at start shows in the wait that follows."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def stop_proxy(paths: Paths, name: str, *, timeout: float = 5.0) -> bool:
    """End the workload's proxy if it runs; True when one was stopped."""
    state = running_proxy(paths, name)
    _state_file(paths, name).unlink(missing_ok=True)
    if state is None:
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_our_proxy(state.pid, name):
        time.sleep(0.05)
    if _is_our_proxy(state.pid, name):
        os.kill(state.pid, signal.SIGKILL)
    return True
