"""Every error mcpctl raises on purpose, and the exit code each maps to.

Errors are split by who can act on them. Subclasses of :class:`MCPCTLError` are for the user or the
environment: the CLI prints their message and hint, without a traceback, and exits with their code.
Programmer misuse raises plain ``RuntimeError``/``TypeError`` and is a bug.

    MCPCTLError                    exit 1   (code: "error")
    ├── UsageError                 exit 2   bad arguments or options
    ├── VerificationError          exit 3   signature, rollback, expiry, digest: a security refusal
    │   └── UnvettedError          exit 3   something not from a trusted registry, without --unvetted
    ├── NotFoundError              exit 4   unknown server, secret, workload, registry
    ├── ConfigError                exit 1   a settings or state file that cannot be read or written
    ├── RegistryFormatError        exit 1   registry JSON or schema problems (names the field)
    ├── EngineError                exit 5   the container engine is unreachable or refused
    ├── SecretBackendError         exit 6   keyring / Vault / env backend problems
    └── ConflictError              exit 7   a name or port already in use

Each error carries a stable kebab-case ``code`` for ``--json`` consumers; callers match on the class,
never on the message text.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

__all__ = [
    "ConfigError",
    "ConflictError",
    "EngineError",
    "ExitCode",
    "MCPCTLError",
    "NotFoundError",
    "RegistryFormatError",
    "SecretBackendError",
    "UnvettedError",
    "UsageError",
    "VerificationError",
]


class ExitCode(IntEnum):
    """Documented process exit codes (docs/cli.md lists them)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    VERIFICATION = 3
    NOT_FOUND = 4
    ENGINE = 5
    SECRET_BACKEND = 6
    CONFLICT = 7
    PARTIAL = 8
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """One line for docs/cli.md's exit-code table."""
        return _EXIT_CODE_MEANINGS[self]


_EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "an error the message explains",
    ExitCode.USAGE: "bad arguments or options",
    ExitCode.VERIFICATION: "security refusal: signature, rollback, expiry, digest, unvetted",
    ExitCode.NOT_FOUND: "unknown server, secret, workload or registry",
    ExitCode.ENGINE: "container engine unreachable or refused",
    ExitCode.SECRET_BACKEND: "keyring, Vault or env backend problem",
    ExitCode.CONFLICT: "name or port already in use",
    ExitCode.PARTIAL: "partial success (bulk commands)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class MCPCTLError(Exception):
    """An error the user or the environment can fix; ``hint`` names the fix."""

    exit_code: ClassVar[ExitCode] = ExitCode.ERROR
    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or self.default_code
        self.context: dict[str, Any] = context

    def to_dict(self) -> dict[str, Any]:
        """The error as it appears in a ``--json`` envelope."""
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(MCPCTLError):
    exit_code = ExitCode.USAGE
    default_code = "usage"


class VerificationError(MCPCTLError):
    exit_code = ExitCode.VERIFICATION
    default_code = "verification-failed"


class UnvettedError(VerificationError):
    default_code = "unvetted"


class NotFoundError(MCPCTLError):
    exit_code = ExitCode.NOT_FOUND
    default_code = "not-found"


class ConfigError(MCPCTLError):
    default_code = "config"


class RegistryFormatError(MCPCTLError):
    default_code = "registry-format"


class EngineError(MCPCTLError):
    exit_code = ExitCode.ENGINE
    default_code = "engine-unavailable"


class SecretBackendError(MCPCTLError):
    exit_code = ExitCode.SECRET_BACKEND
    default_code = "secret-backend"


class ConflictError(MCPCTLError):
    exit_code = ExitCode.CONFLICT
    default_code = "conflict"
