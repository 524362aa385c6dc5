"""The secret-provider interface, secret-name rules, the env-var prefix and the backend names, each defined once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol

from toolhive_py.errors import UsageError

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "ENV_PREFIX", "Capabilities", "SecretProvider", "check_secret_name",
           "env_var_for"]

ENV_PREFIX: Final = "MCPCTL_SECRET_"
BACKENDS: Final = ("keyring", "vault", "env")
DEFAULT_BACKEND: Final = "keyring"
_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class Capabilities:
    can_write: bool
    can_list: bool


class SecretProvider(Protocol):
    """Where secret values live. Implementations translate their library's errors to SecretBackendError."""

    name: str
    capabilities: Capabilities

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> bool: ...

    def list_names(self) -> list[str]: ...


def check_secret_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"Invalid secret name {name!r}.",
                         hint="Use 1-128 letters, digits, '_', '.' or '-'.", code="invalid-secret-name")
    return name


def env_var_for(name: str) -> str:
    """The env var a secret name maps to: upper-cased, with '-' and '.' as '_'."""
    return name.upper().replace("-", "_").replace(".", "_")
