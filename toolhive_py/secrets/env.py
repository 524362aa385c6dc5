"""Read-only secrets from ``MCPCTL_SECRET_<NAME>`` environment variables (CI, containers, headless)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from toolhive_py.errors import SecretBackendError
from toolhive_py.secrets.base import ENV_PREFIX, Capabilities, check_secret_name, env_var_for

__all__ = ["EnvProvider"]


class EnvProvider:
    name = "env"
    capabilities = Capabilities(can_write=False, can_list=True)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        return self._environ.get(ENV_PREFIX + env_var_for(check_secret_name(name)))

    def set(self, name: str, value: str) -> None:
        raise self._read_only(name)

    def delete(self, name: str) -> bool:
        raise self._read_only(name)

    def list_names(self) -> list[str]:
        return sorted(key[len(ENV_PREFIX):] for key in self._environ if key.startswith(ENV_PREFIX))

    @staticmethod
    def _read_only(name: str) -> SecretBackendError:
        return SecretBackendError(
            "The env secret backend is read-only.",
            hint=f"Export {ENV_PREFIX}{env_var_for(name)} yourself, or use `mcpctl secret backend keyring`.",
            code="backend-read-only",
        )
