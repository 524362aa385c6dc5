"""The record of a remote workload: what `run` decided (URL, transport, header templates, policy, port), in
``<state>/remotes/NAME.json``. A remote workload has no container, so no engine labels hold its state; this
file does, and only ``toolhive_py.workloads`` reads it. It holds secret *names* only (in the templates)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from toolhive_py.remote.policy import HeaderTemplate

if TYPE_CHECKING:
    from toolhive_py.config import Paths

__all__ = ["RemoteRecord", "delete_record", "list_records", "read_record", "record_path", "write_record"]


class RemoteRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    transport: Literal["streamable-http", "sse"] = "streamable-http"
    headers: list[tuple[str, str]] = []  # (header name, template with {SECRET} placeholders)
    secret_backend: str = ""
    proxy_port: int
    policy_json: str = ""
    server: str = ""  # the registry server it came from, else the URL
    registry: str = ""
    vetted: bool = False
    created: str = ""
    owner: str = ""
    stopped: bool = False
    auth: Literal["none", "oauth"] = "none"
    client_id: str = ""  # a pre-registered OAuth client id, when the server needs one

    @property
    def templates(self) -> tuple[HeaderTemplate, ...]:
        return tuple(HeaderTemplate(name, template) for name, template in self.headers)

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for t in self.templates for s in t.secrets))


def record_path(paths: Paths, name: str) -> Path:
    return paths.state_dir / "remotes" / f"{name}.json"


def write_record(paths: Paths, record: RemoteRecord) -> None:
    from toolhive_py.config import atomic_write

    path = record_path(paths, record.name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (record.model_dump_json(indent=1) + "\n").encode(), mode=0o600)


def read_record(paths: Paths, name: str) -> RemoteRecord | None:
    """The remote workload ``name``, or None (also for a file that is not a record: it is never trusted)."""
    if "/" in name or name.startswith(".") or not name:
        return None
    try:
        return RemoteRecord.model_validate(json.loads(record_path(paths, name).read_text()))
    except (OSError, ValueError, ValidationError):
        return None


def list_records(paths: Paths) -> list[RemoteRecord]:
    directory = paths.state_dir / "remotes"
    if not directory.is_dir():
        return []
    found = (read_record(paths, p.stem) for p in sorted(directory.glob("*.json")))
    return [r for r in found if r is not None]


def delete_record(paths: Paths, name: str) -> bool:
    try:
        os.unlink(record_path(paths, name))
    except FileNotFoundError:
        return False
    return True
