"""What a core operation hands back to the CLI: a typed result with a status and an exit code (pipx's
``OperationResult``). The core decides partial success and exit codes; the CLI only renders."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from toolhive_py.errors import ExitCode, MCPCTLError

__all__ = ["Completed", "Failure", "Result", "Status", "overall"]


class Status(StrEnum):
    """The ``status`` of a ``--json`` envelope."""

    OK = "ok"
    PARTIAL = "partial"
    ERROR = "error"


@dataclass(frozen=True)
class Failure:
    """One item of a bulk operation that failed, with the error that says why."""

    name: str
    error: MCPCTLError

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.error.to_dict()}


@dataclass(frozen=True, kw_only=True)
class Completed:
    """The base of a result that cannot be partial: ok, exit 0, no failures. (An operation that can partly
    fail computes these three from what it did instead.)"""

    status: Status = Status.OK
    exit_code: ExitCode = ExitCode.OK
    failures: tuple[Failure, ...] = ()


class Result(Protocol):
    """Every operation result: JSON data, its status, its failures and the process exit code."""

    @property
    def status(self) -> Status: ...

    @property
    def exit_code(self) -> ExitCode: ...

    @property
    def failures(self) -> tuple[Failure, ...]: ...

    def to_dict(self) -> Any: ...


def overall(succeeded: int, failures: tuple[Failure, ...]) -> tuple[Status, ExitCode]:
    """Status and exit code of a bulk operation: partial (exit 8) when some items failed and some did not;
    when all failed, the first failure's own exit code."""
    if not failures:
        return Status.OK, ExitCode.OK
    if succeeded:
        return Status.PARTIAL, ExitCode.PARTIAL
    return Status.ERROR, failures[0].error.exit_code
