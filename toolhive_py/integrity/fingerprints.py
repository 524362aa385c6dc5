"""Fingerprints of what a server lists: one sha256 per tool over the fields the model reads.

A fingerprint is the sha256 of canonical JSON (sorted keys, no whitespace, UTF-8, no ASCII escaping) of
the fields below, so it does not depend on key order or formatting, and changes with any byte the model
could see: a hidden character in a description, a widened input schema, a flipped annotation. Fields that
are absent and fields that are ``null`` hash alike (serializers differ on writing them). Pure functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["TOOL_FIELDS", "canonical_json", "fingerprint_fields", "tool_fingerprint"]

TOOL_FIELDS: Final = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value, whatever the key order or formatting it arrived in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def fingerprint_fields(item: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The part of a listed item a fingerprint covers."""
    return {key: item[key] for key in fields if item.get(key) is not None}


def tool_fingerprint(tool: Mapping[str, Any]) -> str:
    """sha256 hex over a tool's name, title, description, input and output schema and annotations."""
    return hashlib.sha256(canonical_json(fingerprint_fields(tool, TOOL_FIELDS))).hexdigest()

