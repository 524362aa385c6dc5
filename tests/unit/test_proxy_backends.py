"""When the proxy starts a container again by itself: a stdio server that was working until the engine
closed its stdin (Podman does on every lost attach), or one Podman's attach re-initialized as it died;
never a broken or killed one, and never one that has not run yet."""

from __future__ import annotations

from typing import Any

import pytest

from toolhive_py.proxy.backends import lost_its_stdin, reinitialized_by_attach

DOCKER_START = "2026-11-22T21:20:01.123456789Z"
PODMAN_START = "2026-11-22T21:20:01.123456789+00:00"


def exited(code: int, *, ran_for: int, started: str = DOCKER_START, **extra: Any) -> dict[str, Any]:
    finished = started.replace("21:20:01", f"21:{20 + ran_for // 60:02d}:{1 + ran_for % 60:02d}")
    return {"Status": "exited", "Running": False, "ExitCode": code, "OOMKilled": False,
            "StartedAt": started, "FinishedAt": finished, **extra}


@pytest.mark.parametrize("started", [DOCKER_START, PODMAN_START])
def test_a_server_that_ran_then_exited_cleanly_lost_its_stdin(started: str) -> None:
    assert lost_its_stdin(exited(0, ran_for=95, started=started))


@pytest.mark.parametrize(("state", "why"), [
    (exited(0, ran_for=2), "exited 0 right after starting: broken, and restarting it would loop"),
    (exited(137, ran_for=95), "killed: the engine's restart policy decides"),
    (exited(1, ran_for=95), "crashed: the engine's restart policy decides"),
    (exited(0, ran_for=95, OOMKilled=True), "out of memory"),
    ({**exited(0, ran_for=95), "Status": "running", "Running": True}, "still running"),
    ({**exited(0, ran_for=95), "Status": "created"}, "never started"),
    ({**exited(0, ran_for=95), "FinishedAt": "not a time"}, "unreadable times"),
    ({"Status": "exited", "ExitCode": 0}, "no times at all"),
])
def test_anything_else_is_left_alone(state: dict[str, Any], why: str) -> None:
    assert not lost_its_stdin(state), why


@pytest.mark.parametrize("started", [DOCKER_START, PODMAN_START])
def test_a_container_that_ran_and_is_created_again_was_reinitialized_by_an_attach(started: str) -> None:
    assert reinitialized_by_attach({**exited(2, ran_for=1, started=started), "Status": "created"})


@pytest.mark.parametrize(("state", "why"), [
    ({"Status": "created", "Running": False, "StartedAt": "0001-01-01T00:00:00Z"}, "never started (Docker)"),
    ({"Status": "created", "Running": False, "StartedAt": "0001-01-01T00:00:00+00:00"}, "never started (Podman)"),
    ({"Status": "created", "Running": False}, "no start time"),
    (exited(2, ran_for=1), "exited: the restart policy's business"),
    ({**exited(2, ran_for=1), "Status": "running", "Running": True}, "running"),
])
def test_a_fresh_or_exited_container_was_not_reinitialized(state: dict[str, Any], why: str) -> None:
    assert not reinitialized_by_attach(state), why
