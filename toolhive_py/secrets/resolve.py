"""Choosing a backend, and turning ``--secret`` flags and registry secret env vars into values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolhive_py.errors import NotFoundError, UsageError
from toolhive_py.secrets.base import (
    BACKENDS,
    DEFAULT_BACKEND,
    ENV_PREFIX,
    SecretProvider,
    check_secret_name,
    env_var_for,
)

if TYPE_CHECKING:
    from toolhive_py.config import Paths

__all__ = ["SecretRequest", "open_provider", "parse_secret_flag", "resolve_secret_env"]


@dataclass(frozen=True)
class SecretRequest:
    """One secret a workload needs: its name in the backend and the env var it becomes in the container.

    ``declared`` marks a secret the registry entry asked for (looked up under its env var name), as
    opposed to one the user named with ``--secret``.
    """

    secret_name: str
    env_name: str
    declared: bool = False


def parse_secret_flag(flag: str) -> SecretRequest:
    """``NAME[:ENV]``; ENV defaults to NAME upper-cased with '-' and '.' as '_'."""
    name, _, env = flag.partition(":")
    check_secret_name(name)
    env = env or env_var_for(name)
    if not env.replace("_", "a").isalnum() or env[0].isdigit():
        raise UsageError(f"Invalid env var name {env!r} in --secret {flag!r}.", hint="Use --secret NAME[:ENV_VAR].")
    return SecretRequest(name, env)


def open_provider(paths: Paths, backend: str | None = None) -> SecretProvider:
    """The backend from the argument, else setting ``secrets.backend``, else the OS keyring."""
    from toolhive_py.config import Settings

    chosen = backend or Settings(paths.settings_file).get("secrets.backend") or DEFAULT_BACKEND
    if chosen == "env":
        from toolhive_py.secrets.env import EnvProvider

        return EnvProvider()
    if chosen == "keyring":
        from toolhive_py.secrets.keyring import KeyringProvider

        return KeyringProvider()
    if chosen == "vault":
        from toolhive_py.secrets.vault import VaultProvider

        return VaultProvider.from_settings(Settings(paths.settings_file))
    raise UsageError(f"Unknown secret backend {chosen!r}.", hint=f"Use one of: {', '.join(BACKENDS)}.")


def resolve_secret_env(
    provider: SecretProvider, requests: Sequence[SecretRequest], *, prompt: Callable[[str], str] | None = None
) -> dict[str, str]:
    """env var → value for every request; prompts and stores when interactive, else names the fix."""
    values: dict[str, str] = {}
    for request in requests:
        value = provider.get(request.secret_name)
        if value is None and prompt is not None and provider.capabilities.can_write:
            value = prompt(request.secret_name)
            if value:
                provider.set(request.secret_name, value)
        if not value:
            how = (f"`export {ENV_PREFIX}{env_var_for(request.secret_name)}=…`" if provider.name == "env"
                   else f"`mcpctl secret set {request.secret_name}` (it reads a hidden prompt or stdin)")
            raise NotFoundError(
                f"Secret {request.secret_name!r} (for {request.env_name}) is not in the {provider.name} backend.",
                hint=f"Store it first: {how}, then run again.",
                code="secret-missing",
            )
        values[request.env_name] = value
    return values
