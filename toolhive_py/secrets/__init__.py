"""Secrets: one provider interface, backends for the OS keyring, HashiCorp Vault (KV v2) and the
environment, and resolution of the secrets a server needs.

Policy: a secret's value goes from its backend into a container's environment and nowhere else —
never argv, state files, logs, client configs or mcpctl's output. Backend libraries' exceptions are
translated here into SecretBackendError.
"""

from __future__ import annotations

from toolhive_py.secrets.base import (
    BACKENDS,
    DEFAULT_BACKEND,
    ENV_PREFIX,
    Capabilities,
    SecretProvider,
    check_secret_name,
)
from toolhive_py.secrets.resolve import (
    SecretRequest,
    open_provider,
    parse_secret_flag,
    resolve_secret_env,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "ENV_PREFIX",
    "Capabilities",
    "SecretProvider",
    "SecretRequest",
    "check_secret_name",
    "open_provider",
    "parse_secret_flag",
    "resolve_secret_env",
]
