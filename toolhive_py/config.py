"""Where mcpctl keeps its files, and the user settings file.

All paths come from platformdirs, so ``HOME`` and ``XDG_*`` redirect everything (tests rely on it).
``MCPCTL_HOME`` puts every directory under one root, for portable installs and CI.
Settings live in ``config.toml`` and are edited with tomlkit so a user's comments survive ``config set``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from toolhive_py.errors import ConfigError, UsageError
from toolhive_py.secrets.base import BACKENDS

if TYPE_CHECKING:
    import tomlkit

__all__ = [
    "ENV_HOME",
    "SETTINGS",
    "Paths",
    "Setting",
    "Settings",
    "atomic_write",
]

APP_NAME: Final = "mcpctl"
ENV_HOME: Final = "MCPCTL_HOME"


@dataclass(frozen=True)
class Paths:
    """The directories one mcpctl invocation reads and writes."""

    config_dir: Path
    state_dir: Path
    data_dir: Path
    log_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls) -> Paths:
        root = os.environ.get(ENV_HOME)
        if root:
            base = Path(root)
            return cls(base / "config", base / "state", base / "data", base / "log", base / "cache")
        import platformdirs

        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        return cls(
            config_dir=Path(dirs.user_config_dir),
            state_dir=Path(dirs.user_state_dir),
            data_dir=Path(dirs.user_data_dir),
            log_dir=Path(dirs.user_log_dir),
            cache_dir=Path(dirs.user_cache_dir),
        )

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def registries_file(self) -> Path:
        return self.config_dir / "registries.toml"

    @property
    def registry_state_file(self) -> Path:
        return self.state_dir / "registry-state.json"

    @property
    def registry_cache_dir(self) -> Path:
        return self.cache_dir / "registries"

    @property
    def workloads_dir(self) -> Path:
        return self.state_dir / "workloads"


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` via a temp file and rename, so a crash never leaves half a file.

    Keeps the existing file's mode unless ``mode`` is given; new files default to 0o600 because
    several of ours (state, settings) name credentials' locations.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Setting:
    """One documented user setting."""

    key: str
    description: str
    choices: tuple[str, ...] = ()


SETTINGS: Final[dict[str, Setting]] = {
    s.key: s
    for s in (
        Setting("runtime.socket", "Container engine socket or URL (unix:///run/podman/podman.sock, tcp://…)."),
        Setting("secrets.backend", "Default secret backend.", BACKENDS),
        Setting("vault.address", "Vault server address, e.g. https://vault.example:8200."),
        Setting("vault.mount", "KV v2 mount point (default: secret)."),
        Setting("vault.path_prefix", "Path prefix under the mount (default: mcpctl)."),
        Setting("vault.auth", "Vault auth method.", ("token", "approle")),
        Setting("vault.role_id", "AppRole role_id (the secret_id comes from VAULT_SECRET_ID)."),
        Setting("build.node_image", "Base image for npx:// package builds."),
        Setting("build.python_image", "Base image for uvx:// package builds."),
        Setting("build.ca_bundle", "Extra CA bundle (PEM) injected into local image builds."),
    )
}


class Settings:
    """The user settings file (``config.toml``), read and written format-preservingly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._doc = self._load()

    def _load(self) -> tomlkit.TOMLDocument:
        import tomlkit
        import tomlkit.exceptions

        if not self.path.exists():
            return tomlkit.document()
        try:
            return tomlkit.parse(self.path.read_text(encoding="utf-8"))
        except (tomlkit.exceptions.ParseError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"Cannot parse settings file {self.path}: {exc}",
                hint=f"Fix or remove {self.path}; `mcpctl config list` shows the known keys.",
            ) from exc

    @staticmethod
    def _check_key(key: str) -> Setting:
        setting = SETTINGS.get(key)
        if setting is None:
            known = ", ".join(sorted(SETTINGS))
            raise UsageError(f"Unknown setting {key!r}.", hint=f"Known settings: {known}.", code="unknown-setting")
        return setting

    def get(self, key: str) -> str | None:
        self._check_key(key)
        section, _, name = key.partition(".")
        table = self._doc.get(section)
        if table is None or name not in table:
            return None
        return str(table[name])

    def set(self, key: str, value: str) -> None:
        setting = self._check_key(key)
        if setting.choices and value not in setting.choices:
            raise UsageError(
                f"Invalid value {value!r} for {key}.", hint=f"Choose one of: {', '.join(setting.choices)}."
            )
        section, _, name = key.partition(".")
        table = self._doc.get(section)
        if table is None:
            import tomlkit

            table = tomlkit.table()
            self._doc[section] = table
        table[name] = value
        self._save()

    def unset(self, key: str) -> bool:
        self._check_key(key)
        section, _, name = key.partition(".")
        table = self._doc.get(section)
        if table is None or name not in table:
            return False
        del table[name]
        if not table:
            del self._doc[section]
        self._save()
        return True

    def items(self) -> dict[str, str | None]:
        return {key: self.get(key) for key in SETTINGS}

    def _save(self) -> None:
        import tomlkit

        atomic_write(self.path, tomlkit.dumps(self._doc).encode("utf-8"))
