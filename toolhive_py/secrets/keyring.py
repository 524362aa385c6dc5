"""Secrets in the OS keyring (macOS Keychain, Windows Credential Locker, Secret Service on Linux).

Keyrings cannot list entries portably, so the provider keeps an index of names under one extra
entry; the index holds names only. keyring's exceptions stop here.
"""

from __future__ import annotations

import json
from typing import Any, Final

from toolhive_py.errors import SecretBackendError
from toolhive_py.secrets.base import ENV_PREFIX, Capabilities, check_secret_name

__all__ = ["SERVICE", "KeyringProvider"]

SERVICE: Final = "mcpctl"
_INDEX: Final = "__mcpctl_index__"
_HEADLESS_HINT: Final = (
    "No usable OS keyring. Options: start a Secret Service (e.g. `gnome-keyring-daemon --unlock` inside a D-Bus "
    f"session); or use Vault (`mcpctl secret backend vault`); or export {ENV_PREFIX}<NAME> variables and run "
    "`mcpctl secret backend env`."
)


class KeyringProvider:
    name = "keyring"
    capabilities = Capabilities(can_write=True, can_list=True)

    def __init__(self) -> None:
        import keyring
        import keyring.backends.fail
        import keyring.backends.null

        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - keyring's backend discovery raises anything; all mean "no keyring"
            raise SecretBackendError(f"The OS keyring cannot be loaded: {exc}", hint=_HEADLESS_HINT,
                                     code="no-keyring") from exc
        if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
            raise SecretBackendError("No OS keyring backend is available on this machine.", hint=_HEADLESS_HINT,
                                     code="no-keyring")
        self._keyring: Any = keyring

    def _call(self, what: str, func: Any, *args: str) -> Any:
        try:
            return func(*args)
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own (DBus, OS) error types
            raise SecretBackendError(f"The OS keyring failed to {what}: {exc}", hint=_HEADLESS_HINT,
                                     code="keyring-error") from exc

    def _index(self) -> list[str]:
        raw = self._call("read its index", self._keyring.get_password, SERVICE, _INDEX)
        try:
            names = json.loads(raw) if raw else []
        except json.JSONDecodeError:
            names = []
        return sorted({str(n) for n in names}) if isinstance(names, list) else []

    def _write_index(self, names: list[str]) -> None:
        self._call("update its index", self._keyring.set_password, SERVICE, _INDEX, json.dumps(sorted(set(names))))

    def get(self, name: str) -> str | None:
        value = self._call("read a secret", self._keyring.get_password, SERVICE, check_secret_name(name))
        return None if value is None else str(value)

    def set(self, name: str, value: str) -> None:
        self._call("store a secret", self._keyring.set_password, SERVICE, check_secret_name(name), value)
        self._write_index([*self._index(), name])

    def delete(self, name: str) -> bool:
        import keyring.errors

        check_secret_name(name)
        try:
            self._keyring.delete_password(SERVICE, name)
            existed = True
        except keyring.errors.PasswordDeleteError:
            existed = False
        except Exception as exc:  # noqa: BLE001 - see _call
            raise SecretBackendError(f"The OS keyring failed to delete a secret: {exc}", hint=_HEADLESS_HINT,
                                     code="keyring-error") from exc
        self._write_index([n for n in self._index() if n != name])
        return existed

    def list_names(self) -> list[str]:
        return self._index()
