"""Checks on the conversation itself: every request a client sends and every result the server returns.

All protocol eras and transports meet in the multiplexer, so that is where guards run: a guard sees a
client request before it is relayed (and may refuse it, or rewrite its params) and a server's result before
the client gets it (and may refuse it, or rewrite it). Guards run in order; the first refusal wins. The tool
policy (``policy.py``) is checked before any guard. Tool pinning, description screening and DLP are guards.

A guard must be fast (it is on every request's path), must not block (no I/O beyond a cached file stat),
and must never put a value it inspected into a refusal message or a log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from toolhive_py.proxy.dlp import DlpGuard
from toolhive_py.proxy.pinning import PinGuard
from toolhive_py.proxy.policy import Refusal, ToolPolicy
from toolhive_py.proxy.screening import ScreenGuard

__all__ = ["Guard", "build_guards", "guard_message", "guard_request", "guard_result"]


class Guard(Protocol):
    def check_request(self, method: str, params: Any) -> Refusal | Any:
        """A client request's params as they go on to the server (``params`` itself when unchanged), or a
        Refusal that the proxy answers instead."""

    def check_result(self, method: str, target: str | None, result: dict[str, Any]) -> Refusal | dict[str, Any]:
        """A server's result (``target``: what the request acted on, e.g. the tool name of a tools/call) as
        the client gets it, or a Refusal that replaces it with a JSON-RPC error."""

    def check_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Any other message the server sends a client (an error response, a notification, a request such as
        sampling or elicitation) as the client gets it, or None to withhold it (the proxy then drops a
        notification, and answers the server's request or the client's error itself)."""


def guard_request(guards: Sequence[Guard], method: str, params: Any) -> Refusal | Any:
    for guard in guards:
        checked = guard.check_request(method, params)
        if isinstance(checked, Refusal):
            return checked
        params = checked
    return params


def guard_message(guards: Sequence[Guard], message: dict[str, Any]) -> dict[str, Any] | None:
    for guard in guards:
        checked = guard.check_message(message)
        if checked is None:
            return None
        message = checked
    return message


def guard_result(guards: Sequence[Guard], method: str, target: str | None,
                 result: dict[str, Any]) -> Refusal | dict[str, Any]:
    for guard in guards:
        checked = guard.check_result(method, target, result)
        if isinstance(checked, Refusal):
            return checked
        result = checked
    return result


def build_guards(state_dir: Path | None, policy: ToolPolicy) -> list[Guard]:
    """The guards a workload's proxy runs, in order. ``state_dir`` is the workload's directory (its pins and
    DLP files); without one (a proxy started by hand) only the stateless guards run."""
    guards: list[Guard] = []
    if state_dir is not None:
        guards.append(PinGuard.for_workload(state_dir, policy))
    if policy.screen != "off":  # after pinning: it screens the definitions the user approved
        guards.append(ScreenGuard.for_workload(state_dir, policy) if state_dir is not None else ScreenGuard(policy))
    if policy.dlp != "off":  # last: it sees what the others let through, and redacts what goes on
        guards.append(DlpGuard.for_workload(state_dir, policy) if state_dir is not None else DlpGuard(None, policy))
    return guards
