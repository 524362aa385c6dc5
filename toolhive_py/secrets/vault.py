"""Secrets in HashiCorp Vault's KV v2 engine, through hvac; token or AppRole auth.

Each secret is ``{mount}/data/{prefix}/{name}`` with one key, ``value``. hvac and requests errors
stop here as SecretBackendError.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from toolhive_py.config import Settings
from toolhive_py.errors import SecretBackendError
from toolhive_py.secrets.base import Capabilities, check_secret_name

__all__ = ["VaultProvider"]

_T = TypeVar("_T")
_HINT: Final = (
    "Check `mcpctl config get vault.address` (or VAULT_ADDR) and your credentials: VAULT_TOKEN, or "
    "AppRole via `mcpctl config set vault.auth approle`, vault.role_id / VAULT_ROLE_ID and VAULT_SECRET_ID."
)


@contextmanager
def _vault_errors(what: str) -> Iterator[None]:
    import hvac.exceptions
    import requests.exceptions

    try:
        yield
    except hvac.exceptions.Forbidden as exc:
        raise SecretBackendError(f"Vault refused to {what}: permission denied.", hint=_HINT,
                                 code="vault-forbidden") from exc
    except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
        raise SecretBackendError(f"Vault failed to {what}: {exc}", hint=_HINT, code="vault-error") from exc


class VaultProvider:
    name = "vault"
    capabilities = Capabilities(can_write=True, can_list=True)

    def __init__(self, address: str, *, token: str | None = None, role_id: str | None = None,
                 secret_id: str | None = None, mount: str = "secret", prefix: str = "mcpctl") -> None:
        import hvac

        if not address:
            raise SecretBackendError("No Vault address is configured.", hint=_HINT, code="vault-unconfigured")
        self._mount, self._prefix = mount, prefix.strip("/")
        self._client: Any = hvac.Client(url=address, token=token, timeout=15)
        if role_id:
            if not secret_id:
                raise SecretBackendError("AppRole login needs VAULT_SECRET_ID.", hint=_HINT, code="vault-unconfigured")
            with _vault_errors("log in with AppRole"):
                self._client.auth.approle.login(role_id=role_id, secret_id=secret_id)
        elif not token:
            raise SecretBackendError("No Vault token: set VAULT_TOKEN or configure AppRole.", hint=_HINT,
                                     code="vault-unconfigured")

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> VaultProvider:
        env = os.environ if environ is None else environ
        approle = (settings.get("vault.auth") or "token") == "approle"
        return cls(
            settings.get("vault.address") or env.get("VAULT_ADDR", ""),
            token=None if approle else env.get("VAULT_TOKEN"),
            role_id=(settings.get("vault.role_id") or env.get("VAULT_ROLE_ID")) if approle else None,
            secret_id=env.get("VAULT_SECRET_ID") if approle else None,
            mount=settings.get("vault.mount") or "secret",
            prefix=settings.get("vault.path_prefix") or "mcpctl",
        )

    @property
    def _kv(self) -> Any:
        return self._client.secrets.kv.v2

    def _path(self, name: str) -> str:
        return f"{self._prefix}/{check_secret_name(name)}"

    def _or_missing(self, what: str, call: Callable[[], _T], missing: _T) -> _T:
        import hvac.exceptions

        with _vault_errors(what):
            try:
                return call()
            except hvac.exceptions.InvalidPath:
                return missing

    def get(self, name: str) -> str | None:
        path = self._path(name)
        response = self._or_missing("read a secret", lambda: self._kv.read_secret_version(
            path=path, mount_point=self._mount, raise_on_deleted_version=True), None)
        if response is None:
            return None
        value = (response.get("data") or {}).get("data", {}).get("value")
        return None if value is None else str(value)

    def set(self, name: str, value: str) -> None:
        path = self._path(name)
        with _vault_errors("store a secret"):
            self._kv.create_or_update_secret(path=path, secret={"value": value}, mount_point=self._mount)

    def delete(self, name: str) -> bool:
        path = self._path(name)
        if self.get(name) is None:
            return False
        with _vault_errors("delete a secret"):
            self._kv.delete_metadata_and_all_versions(path=path, mount_point=self._mount)
        return True

    def list_names(self) -> list[str]:
        response = self._or_missing("list secrets", lambda: self._kv.list_secrets(
            path=self._prefix, mount_point=self._mount), None)
        keys = ((response or {}).get("data") or {}).get("keys") or []
        return sorted(str(k) for k in keys if not str(k).endswith("/"))
