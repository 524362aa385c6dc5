"""The signed server registry: models, minisign-compatible signatures, and the store of trusted registries.

Policy: a registry document is verified (signature, then rollback, then expiry) before its servers are
trusted; anything that fails is refused with a :class:`~toolhive_py.errors.VerificationError`.
"""

from __future__ import annotations

from toolhive_py.registry.models import EnvVar, Permissions, RegistryDocument, ServerEntry
from toolhive_py.registry.store import FoundServer, RegistryInfo, RegistryStore, VerifyResult

__all__ = [
    "EnvVar",
    "FoundServer",
    "Permissions",
    "RegistryDocument",
    "RegistryInfo",
    "RegistryStore",
    "ServerEntry",
    "VerifyResult",
]
