"""The trusted registries: the built-in one plus the user's, each verified before use.

Policy, in order, for every load: the document and its signature are read with a size cap (a file, a
device or an endless download is refused past it, so nothing is held whole before it is checked); the
minisign signature is checked against the registry's pinned key before a byte is parsed; then the
document's ``version`` must not be lower than the highest seen for that registry (rollback); then it
must not have expired (freeze). Every refusal is a VerificationError.

Name clashes: ``REGISTRY/NAME`` always picks that registry. A bare name picks by priority (higher wins),
except that an added registry never shadows a name the built-in registry has unless it was added with
``shadow_builtin=True``: a private registry listing ``github`` must not silently take over
``mcpctl run github``. Every lookup says which other registries also list the name, so callers can warn.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.config import Paths, atomic_write
from toolhive_py.errors import ConfigError, ConflictError, MCPCTLError, NotFoundError, UsageError, VerificationError
from toolhive_py.registry import minisign
from toolhive_py.registry.models import SERVER_NAME, ParsedRegistry, ServerEntry, parse_registry_lazily

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BUILTIN_PUBLIC_KEY",
    "BUILTIN_REGISTRY",
    "MAX_REGISTRY_BYTES",
    "MAX_SIGNATURE_BYTES",
    "FoundServer",
    "RegistryInfo",
    "RegistrySource",
    "RegistryStore",
    "VerifyResult",
    "builtin_registry_path",
    "rank_candidates",
]

BUILTIN_REGISTRY: Final = "default"
# The public half of ../shared/keys/registry-signing.key; the secret half never enters this repo.
BUILTIN_PUBLIC_KEY: Final = "RWTb+TypTyNL30zcww/dXdEKthNoxcnPry3AJzNxTcRPw5hyEtw/Vo3v"
_SIG_SUFFIX: Final = ".minisig"
# The built-in registry is ~40 KB; 32 MiB leaves room for large private catalogues while keeping a hostile
# or endless source from exhausting memory before its signature is even checked.
MAX_REGISTRY_BYTES: Final = 32 * 1024 * 1024
MAX_SIGNATURE_BYTES: Final = minisign.MAX_KEY_FILE_BYTES
# A download that keeps trickling bytes stops here even when each read beats the per-read timeout.
_FETCH_DEADLINE_S: Final = 120.0


def _decode_signature(raw: bytes, origin: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(
            f"The signature {origin} is not text (byte {exc.start} is not UTF-8), so not a minisign signature.",
            hint="Get the .minisig from the registry's publisher, or re-sign with `mcpctl registry sign`.",
            code="bad-signature-format", origin=origin,
        ) from exc


def builtin_registry_path() -> Path:
    """registry.json from the wheel's package data, or from the checkout root in a dev install."""
    packaged = Path(str(resources.files("toolhive_py.registry"))) / "data" / "registry.json"
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "registry.json"


@dataclass(frozen=True)
class RegistrySource:
    name: str
    source: str
    public_key: str | None
    priority: int = 0
    insecure_skip_verify: bool = False
    shadow_builtin: bool = False  # the user chose to let this registry's names win over the built-in ones

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("https://", "http://"))

    @property
    def is_builtin(self) -> bool:
        return self.name == BUILTIN_REGISTRY


@dataclass(frozen=True)
class FoundServer:
    """One registry's entry for a server name, with what a caller needs to warn about name clashes."""

    registry: str
    name: str
    entry: ServerEntry
    verified: bool
    # Other registries listing the same name, in the order a bare name would pick them after this one.
    also_in: tuple[str, ...] = ()
    # A bare NAME resolves to this entry (False: only REGISTRY/NAME reaches it).
    preferred: bool = True

    @property
    def qualified_name(self) -> str:
        return f"{self.registry}/{self.name}"

    @property
    def shadows_builtin(self) -> bool:
        """This entry wins a bare name that the built-in registry also has (its registry chose to)."""
        return self.preferred and BUILTIN_REGISTRY in self.also_in


def _priority_key(source: RegistrySource) -> tuple[int, bool, str]:
    return (-source.priority, not source.is_builtin, source.name)


def rank_candidates(candidates: Sequence[RegistrySource]) -> list[RegistrySource]:
    """The registries that list one name, in the order a bare name picks them (the first wins).

    Priority decides, except that the built-in registry stays ahead of every registry that was not added
    with ``shadow_builtin``; REGISTRY/NAME bypasses this order altogether.
    """
    ordered = sorted(candidates, key=_priority_key)
    builtin = next((c for c in ordered if c.is_builtin), None)
    if builtin is None:
        return ordered
    ahead = [c for c in ordered[: ordered.index(builtin)] if c.shadow_builtin]
    return [*ahead, builtin, *(c for c in ordered if c is not builtin and c not in ahead)]


@dataclass(frozen=True)
class RegistryInfo:
    source: RegistrySource
    document: ParsedRegistry
    verified: bool
    trusted_comment: str | None


@dataclass(frozen=True)
class VerifyResult:
    name: str
    ok: bool
    version: int | None = None
    expires: str | None = None
    servers: int | None = None
    key_id: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class RegistryStore:
    """Loads, verifies and searches every trusted registry; ``now`` is injectable for expiry tests."""

    paths: Paths
    now: datetime | None = None
    _loaded: dict[str, RegistryInfo] = field(default_factory=dict, init=False, repr=False)

    def sources(self) -> list[RegistrySource]:
        """All registries, highest priority first (the built-in one has priority 0)."""
        builtin = RegistrySource(BUILTIN_REGISTRY, str(builtin_registry_path()), BUILTIN_PUBLIC_KEY, 0)
        user = [self._source_from_config(name, table) for name, table in self._read_config().items()]
        return sorted([builtin, *user], key=_priority_key)

    def source(self, name: str) -> RegistrySource:
        for source in self.sources():
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources())
        raise NotFoundError(f"No registry named {name!r}.", hint=f"Known registries: {known}.")

    def load(self, name: str) -> RegistryInfo:
        if name not in self._loaded:
            self._loaded[name] = self._load(self.source(name))
        return self._loaded[name]

    def all_servers(self) -> list[FoundServer]:
        """Every server of every registry; of entries sharing a name, the one a bare name picks comes first."""
        infos = [self.load(source.name) for source in self.sources()]
        return [found for name in dict.fromkeys(n for info in infos for n in info.document.server_names)
                for found in _listings(infos, name)]

    def find(self, name: str) -> FoundServer:
        """The entry NAME resolves to (see the module's clash policy), or REGISTRY/NAME's entry."""
        registry, _, server = name.rpartition("/")
        if registry:
            # That registry must load; the others only say whether they list the name too, so one that
            # cannot load right now (expired, offline cache) does not stand in the way of REGISTRY/NAME.
            self.load(registry)
            infos = [*self._loaded_quietly()]
        else:
            infos = [self.load(s.name) for s in self.sources()]
        listings = [f for f in _listings(infos, server) if not registry or f.registry == registry]
        if listings:
            return listings[0]
        candidates = [self.load(registry)] if registry else infos
        names = sorted({n for info in candidates for n in info.document.server_names})
        close = difflib.get_close_matches(server, names, n=3)
        hint = f"Did you mean: {', '.join(close)}?" if close else "`mcpctl search QUERY` lists servers."
        raise NotFoundError(f"No server named {name!r} in any trusted registry.", hint=hint, code="unknown-server")

    def search(self, query: str) -> list[FoundServer]:
        """Case-insensitive match on name, description, tags and tools; exact-name hits first, and of entries
        sharing a name, the one a bare name picks first."""
        needle = query.lower().strip()
        infos = [self.load(source.name) for source in self.sources()]
        matching = {(info.source.name, n) for info in infos for n in info.document.server_names
                    if info.document.matches(n, needle)}
        names = sorted({n for _, n in matching}, key=lambda n: (n != needle, not n.startswith(needle), n))
        return [found for name in names for found in _listings(infos, name) if (found.registry, name) in matching]

    def _loaded_quietly(self) -> Iterator[RegistryInfo]:
        for source in self.sources():
            with contextlib.suppress(MCPCTLError):
                yield self.load(source.name)

    def names_shared_with_builtin(self, name: str) -> list[str]:
        """Server names registry ``name`` lists that the built-in registry lists too: a bare name keeps
        picking the built-in entry for these unless the registry was added with ``shadow_builtin``."""
        if name == BUILTIN_REGISTRY:
            return []
        builtin = self.load(BUILTIN_REGISTRY).document.raw_servers
        return [n for n in self.load(name).document.server_names if n in builtin]

    def verify(self, name: str | None = None) -> list[VerifyResult]:
        names = [name] if name else [s.name for s in self.sources()]
        results = []
        for registry in names:
            try:
                info = self._load(self.source(registry))
                info.document.validate_all()
            except MCPCTLError as error:
                results.append(VerifyResult(registry, ok=False, error=error.to_dict()))
                continue
            key_id = minisign.parse_public_key(info.source.public_key).key_id_hex if info.source.public_key else None
            results.append(
                VerifyResult(
                    registry,
                    ok=info.verified,
                    version=info.document.version,
                    expires=info.document.expires.isoformat(),
                    servers=len(info.document.server_names),
                    key_id=key_id,
                    error=None if info.verified else {"code": "unsigned", "message": "verification skipped"},
                )
            )
        return results

    def add(
        self, name: str, source: str, *, public_key: str | None, priority: int = 10, insecure_skip_verify: bool = False,
        shadow_builtin: bool = False,
    ) -> RegistryInfo:
        """Pin a registry's key and source; it must verify before it is saved.

        ``shadow_builtin`` lets this registry's entries win bare names the built-in registry also has
        (by priority); without it, those names keep resolving to the built-in entries.
        """
        if not SERVER_NAME.match(name) or "/" in name:
            raise UsageError(f"Invalid registry name {name!r}.", hint="Use lower-case letters, digits, '-', '.', '_'.")
        if any(s.name == name for s in self.sources()):
            raise ConflictError(f"A registry named {name!r} exists already.", hint=f"`mcpctl registry remove {name}`.")
        if public_key is None and not insecure_skip_verify:
            raise UsageError(
                "A registry needs a pinned public key.",
                hint="Pass --pubkey FILE_OR_BASE64, or --insecure-skip-verify to trust it unsigned (not recommended).",
            )
        if public_key is not None:
            public_key = minisign.parse_public_key(public_key).to_base64()
        if not source.startswith(("https://", "http://")):
            source = str(Path(source).expanduser().resolve())
        candidate = RegistrySource(name, source, public_key, priority, insecure_skip_verify, shadow_builtin)
        if candidate.is_url:
            self._fetch(candidate)
        info = self._load(candidate)
        info.document.validate_all()
        config = self._read_config()
        config[name] = {
            "source": source,
            "pubkey": public_key or "",
            "priority": priority,
            "insecure_skip_verify": insecure_skip_verify,
            "shadow_builtin": shadow_builtin,
        }
        self._write_config(config)
        self._loaded[name] = info
        return info

    def remove(self, name: str) -> None:
        if name == BUILTIN_REGISTRY:
            raise UsageError("The built-in registry cannot be removed.")
        config = self._read_config()
        if name not in config:
            raise NotFoundError(f"No user registry named {name!r}.", hint="`mcpctl registry list` shows them.")
        del config[name]
        self._write_config(config)
        self._loaded.pop(name, None)

    def update(self, name: str | None = None) -> list[RegistryInfo]:
        """Re-fetch URL registries (then verify them); local ones are simply re-verified."""
        updated = []
        for source in [self.source(name)] if name else self.sources():
            if source.is_url:
                self._fetch(source)
            self._loaded.pop(source.name, None)
            updated.append(self.load(source.name))
        return updated

    # -- loading and verification ------------------------------------------------------------------

    def _load(self, source: RegistrySource) -> RegistryInfo:
        data_path = self._cache_path(source) if source.is_url else Path(source.source)
        try:
            data = minisign.read_bounded(data_path, MAX_REGISTRY_BYTES, "registry document")
        except FileNotFoundError as exc:
            hint = f"`mcpctl registry update {source.name}`" if source.is_url else "Check the path, or remove it."
            raise NotFoundError(f"Registry {source.name!r}: no file at {data_path}.", hint=hint) from exc
        sig_path = data_path.with_name(data_path.name + _SIG_SUFFIX)
        signature = None
        if not source.insecure_skip_verify and os.path.lexists(sig_path):
            try:
                raw = minisign.read_bounded(sig_path, MAX_SIGNATURE_BYTES, "signature")
            except FileNotFoundError:
                raw = None  # a dangling symlink: no signature, refused as missing below
            signature = None if raw is None else _decode_signature(raw, str(sig_path))
        return self._verify_bytes(source, data, signature, origin=str(sig_path.with_suffix("")))

    def _verify_bytes(self, source: RegistrySource, data: bytes, signature: str | None, *, origin: str) -> RegistryInfo:
        """Signature, then parse, then rollback and expiry: the order that never parses untrusted bytes."""
        trusted_comment = None
        if not source.insecure_skip_verify:
            if not source.public_key:
                raise VerificationError(f"Registry {source.name!r} has no pinned key.", code="no-pinned-key")
            if signature is None:
                raise VerificationError(
                    f"Registry {source.name!r} is not signed: {origin}{_SIG_SUFFIX} is missing.",
                    hint="Sign it with `mcpctl registry sign FILE --key KEY`, or get the .minisig from its publisher.",
                    code="missing-signature",
                )
            try:
                parsed = minisign.parse_signature(signature)
                trusted_comment = minisign.verify(data, parsed, minisign.parse_public_key(source.public_key))
            except VerificationError as error:
                raise VerificationError(
                    f"Registry {source.name!r} ({origin}): {error.message}",
                    hint=error.hint or "Do not use this registry until it verifies.",
                    code=error.code,
                ) from error
        document = parse_registry_lazily(data, source=origin)
        self._check_freshness(source.name, document)
        return RegistryInfo(source, document, not source.insecure_skip_verify, trusted_comment)

    def _check_freshness(self, name: str, document: ParsedRegistry) -> None:
        state = self._read_state()
        seen = int(state.get(name, {}).get("highest_version", -1))
        if document.version < seen:
            raise VerificationError(
                f"Registry {name!r} is version {document.version}, older than version {seen} seen before: "
                "a rollback was refused.",
                hint="Someone may be serving an old registry; get the current one from its publisher.",
                code="rollback",
            )
        now = self.now or datetime.now(UTC)
        if document.expires <= now:
            raise VerificationError(
                f"Registry {name!r} expired on {document.expires.isoformat()}.",
                hint=f"Update it: `mcpctl registry update {name}` (a frozen, stale registry is refused).",
                code="expired",
            )
        if document.version > seen:
            state[name] = {"highest_version": document.version}
            atomic_write(self.paths.registry_state_file, json.dumps(state, indent=2, sort_keys=True).encode())

    def _read_state(self) -> dict[str, dict[str, Any]]:
        path = self.paths.registry_state_file
        if not path.exists():
            return {}
        try:
            state = json.loads(path.read_bytes())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"Cannot read registry state {path}: {exc}",
                hint="It records the highest registry versions seen; fix it or delete it (rollback protection restarts).",
            ) from exc
        if not isinstance(state, dict):
            raise ConfigError(f"Registry state {path} is not a JSON object.", hint="Delete it to reset.")
        return state

    def _cache_path(self, source: RegistrySource) -> Path:
        return self.paths.registry_cache_dir / f"{source.name}.json"

    def _fetch(self, source: RegistrySource) -> None:
        import httpx

        target = self._cache_path(source)
        deadline = time.monotonic() + _FETCH_DEADLINE_S
        try:
            with httpx.Client(timeout=30, follow_redirects=True) as client:
                body = _download(client, source.source, MAX_REGISTRY_BYTES, "registry document", deadline)
                signature = b""
                if not source.insecure_skip_verify:
                    signature = _download(client, source.source + _SIG_SUFFIX, MAX_SIGNATURE_BYTES, "signature",
                                          deadline)
        except httpx.HTTPError as exc:
            raise MCPCTLError(
                f"Cannot fetch registry {source.name!r} from {source.source}: {exc}",
                hint="Check the URL and your network; the cached copy, if any, is kept.",
                code="fetch-failed",
            ) from exc
        # Verify before touching the cache, so a bad or rolled-back download never replaces a good copy.
        signature_text = _decode_signature(signature, source.source + _SIG_SUFFIX) if signature else None
        self._verify_bytes(source, body, signature_text, origin=source.source)
        atomic_write(target, body, mode=0o644)
        if signature:
            atomic_write(target.with_name(target.name + _SIG_SUFFIX), signature, mode=0o644)

    # -- user registry configuration ---------------------------------------------------------------

    def _read_config(self) -> dict[str, dict[str, Any]]:
        import tomllib

        path = self.paths.registries_file
        if not path.exists():
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot parse {path}: {exc}", hint=f"Fix or remove {path}.") from exc
        registries = data.get("registries", {})
        return {str(k): dict(v) for k, v in registries.items()}

    def _write_config(self, config: dict[str, dict[str, Any]]) -> None:
        import tomlkit

        doc = tomlkit.document()
        doc.add(tomlkit.comment("Registries trusted by mcpctl; manage with `mcpctl registry add|remove`."))
        doc["registries"] = config
        atomic_write(self.paths.registries_file, tomlkit.dumps(doc).encode("utf-8"))

    @staticmethod
    def _source_from_config(name: str, table: dict[str, Any]) -> RegistrySource:
        try:
            return RegistrySource(
                name=name,
                source=str(table["source"]),
                public_key=str(table.get("pubkey") or "") or None,
                priority=int(table.get("priority", 10)),
                insecure_skip_verify=bool(table.get("insecure_skip_verify", False)),
                # Registries added before this setting existed do not shadow: that needs an explicit choice.
                shadow_builtin=bool(table.get("shadow_builtin", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"Registry {name!r} in registries.toml is malformed: {exc}") from exc


def _listings(infos: Sequence[RegistryInfo], server: str) -> list[FoundServer]:
    """Every registry's entry for ``server``, in the order a bare name picks them."""
    by_name = {info.source.name: info for info in infos if server in info.document.raw_servers}
    ranked = [source.name for source in rank_candidates([info.source for info in by_name.values()])]
    return [FoundServer(registry, server, by_name[registry].document.entry(server), by_name[registry].verified,
                        also_in=tuple(r for r in ranked if r != registry), preferred=index == 0)
            for index, registry in enumerate(ranked)]


def _download(client: httpx.Client, url: str, limit: int, what: str, deadline: float) -> bytes:
    """GET ``url`` streamed, refusing a body over ``limit`` bytes (declared or counted) or past ``deadline``.

    Bytes are counted after content decoding, so a compressed body cannot inflate past the cap either.
    """
    with client.stream("GET", url) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise minisign.too_large(what, url, limit)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise minisign.too_large(what, url, limit)
            if time.monotonic() > deadline:
                raise VerificationError(
                    f"Fetching the {what} from {url} took longer than {_FETCH_DEADLINE_S:.0f} s; it was refused.",
                    hint="Check the URL and your network, then `mcpctl registry update`.",
                    code="fetch-timeout", origin=url,
                )
    return bytes(body)
