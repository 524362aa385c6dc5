"""A server that crashes is restarted by the engine with backoff (on-failure, at most 5 times), and
`mcpctl status` and `list` show the restarts; the engine gives up after the fifth; on Docker and Podman.
`mcpctl restart` and `stop` are prompt: an init as PID 1 forwards SIGTERM to the server."""

from __future__ import annotations

import time

import docker

from tests.e2e.conftest import Engine, exec_in
from tests.e2e.images import MCP_SERVER_IMAGE
from tests.helpers import run_cli


def test_a_crashing_server_is_restarted_and_the_count_shows(engine: Engine, workload: str) -> None:
    # An unknown transport makes the test server exit with status 2 right away.
    result = run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload, "--runtime-socket", engine.base_url,
                     "--", "--transport", "bogus")
    assert result.exit_code == 0, result.stderr
    deadline = time.monotonic() + 60
    restarts = 0
    while time.monotonic() < deadline:
        status = run_cli("status", workload, "--json", "--runtime-socket", engine.base_url).json()["data"]
        restarts = status["restart_count"]
        if restarts >= 2:
            break
        time.sleep(0.5)
    assert restarts >= 2, f"restart_count stayed at {restarts}"
    listed = run_cli("list", "--all", "--json", "--runtime-socket", engine.base_url).json()["data"]
    assert next(w for w in listed if w["name"] == workload)["restart_count"] >= 2
    table = run_cli("list", "--all", "--runtime-socket", engine.base_url, env={"COLUMNS": "300"}).stdout
    assert " restarts)" in next(line for line in table.splitlines() if workload in line)
    while time.monotonic() < deadline and status["status"] != "exited":
        time.sleep(0.5)
        status = run_cli("status", workload, "--json", "--runtime-socket", engine.base_url).json()["data"]
    assert (status["status"], status["restart_count"]) == ("exited", 5), "the engine gives up after 5 restarts"
    assert run_cli("logs", workload, "--runtime-socket", engine.base_url).stdout.count("invalid choice") >= 2


def test_restart_and_stop_are_prompt_because_an_init_is_pid_1(engine: Engine, engine_client: docker.DockerClient,
                                                              workload: str) -> None:
    assert run_cli("run", MCP_SERVER_IMAGE, "--unvetted", "--name", workload,
                   "--runtime-socket", engine.base_url).exit_code == 0
    code, init = exec_in(engine_client, workload, "cat", "/proc/1/cmdline")
    assert code == 0
    assert init.split("\0")[0] in ("/sbin/docker-init", "/run/podman-init"), init
    started = time.monotonic()
    result = run_cli("restart", workload, "--runtime-socket", engine.base_url)
    restart_seconds = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert run_cli("status", workload, "--json", "--runtime-socket", engine.base_url).json()["data"]["status"] == \
        "running"
    started = time.monotonic()
    assert run_cli("stop", workload, "--runtime-socket", engine.base_url).exit_code == 0
    stop_seconds = time.monotonic() - started
    # Without an init the server, as PID 1, ignores SIGTERM: each took the 10 s kill timeout (11 s measured).
    assert restart_seconds < 5, restart_seconds
    assert stop_seconds < 5, stop_seconds
