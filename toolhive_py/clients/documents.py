"""Read client config files leniently and edit their server entries without disturbing anything else.

JSON/JSONC edits go through `jsonc` (positions, so comments and layout stay). YAML and TOML edits
append or remove one text block and are validated by re-parsing, so comments elsewhere are untouched
(round-trip libraries re-indent and drop details; a text block does not). Every edit returns an
`Edit` that records exactly what was added, so removing it restores the original bytes. An entry the
user wrote is replaced where it stands (`replace_server`: `jsonc` or `inplace` positions), and the
result must parse to the old data with only that entry changed.

YAML aliases are expanded only when the document stays close to its written size (an alias bomb, or an
alias that contains itself, is refused before anything walks it), and nesting too deep to parse is an
error naming the file, not a crash.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolhive_py.clients import inplace, jsonc
from toolhive_py.clients.catalog import Format, Location
from toolhive_py.errors import ConfigError, ConflictError

__all__ = ["Edit", "add_input", "add_server", "load_text", "parse_text", "remove_input", "remove_server", "replace_server",
           "servers_in", "servers_of", "yaml_sizes"]

_MAX_BYTES = 16 * 1024 * 1024
# How many nodes YAML aliases may add to a document: plenty for anchors reused in a config, far below the
# billions a few nested aliases expand to ("billion laughs"), which every later walk and compare would pay.
_MAX_ALIAS_EXPANSION = 100_000


@dataclass(frozen=True)
class Edit:
    """What an `add_server` changed, kept in mcpctl's ledger so `remove_server` can undo exactly that."""

    inserted: str = ""
    replaced_line: str | None = None
    created_keys: int = 0  # how many levels of the servers key path the edit created
    in_place: bool = False  # replaced the user's entry where it stood (`replace_server`): removed by position


def load_text(path: Path) -> str | None:
    """The file's text (None when missing); refuses huge or binary files with a clear error."""
    try:
        with path.open("rb") as fh:  # read one byte past the limit, never a whole multi-gigabyte file
            raw = fh.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.", path=str(path)) from exc
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"{path} is larger than {_MAX_BYTES} bytes, too large for a config file.", path=str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}).", path=str(path)) from exc


def _error(path: Path, reason: str, line: int | None, column: int | None) -> ConfigError:
    where = f"{path}:{line}:{column}" if line else str(path)
    return ConfigError(f"{where}: {reason}", hint="The file was left untouched; fix it (or restore it with "
                       "`mcpctl client restore CLIENT`) and try again.", path=str(path), line=line, column=column)


def parse_text(path: Path, text: str, fmt: Format) -> Any:
    """Parse leniently: BOM, comments and trailing commas in JSON; errors name file, line and column."""
    body = text.removeprefix("\ufeff")
    if not body.strip():
        return {}
    if fmt in ("json", "jsonc"):
        try:
            return jsonc.loads(body)
        except jsonc.JsoncError as exc:
            raise _error(path, exc.reason, exc.line, exc.column) from exc
    if fmt == "toml":
        try:
            return tomllib.loads(body)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+), column (\d+)", str(exc))
            line, column = (int(match.group(1)), int(match.group(2))) if match else (None, None)
            raise _error(path, str(exc).split(" (at")[0], line, column) from exc
    import yaml

    try:
        return _load_yaml(path, body) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _error(path, str(getattr(exc, "problem", None) or exc),
                     mark.line + 1 if mark else None, mark.column + 1 if mark else None) from exc


def _load_yaml(path: Path, body: str) -> Any:
    """``yaml.safe_load``, with the alias expansion checked on the composed nodes before any value is built."""
    import yaml

    loader = yaml.SafeLoader(body)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError as exc:
            raise _error(path, "the document is nested too deeply", None, None) from exc
        if node is None:
            return None
        written, expanded = yaml_sizes(node)
        if expanded is None:
            raise _error(path, "an alias refers to a node that contains it", None, None)
        if expanded - written > _MAX_ALIAS_EXPANSION:
            raise _error(path, f"its aliases expand it from {written} to more than {written + _MAX_ALIAS_EXPANSION}"
                         " nodes (a YAML alias bomb?)", None, None)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def yaml_sizes(root: Any) -> tuple[int, int | None]:
    """(distinct nodes, nodes once every alias is expanded) of a composed YAML node; None for a cycle.

    One pass over the distinct nodes (iterative, so depth costs no stack): aliases share nodes, so the
    expanded size is summed from each child's, never walked.
    """
    import yaml

    def children(node: Any) -> list[Any]:
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: the ancestors of whatever is popped next
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children(node))
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return len(sizes), None
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children(node) if id(child) not in sizes)
    return len(sizes), sizes[id(root)]


def servers_in(data: Any, key_path: tuple[str, ...], kind: str) -> dict[str, Any]:
    """Name → entry of the servers at ``key_path`` (a list keyed by ``name`` for Continue)."""
    node = data
    for key in key_path:
        if not isinstance(node, dict):
            return {}
        node = node.get(key)
    if kind == "list":
        return {str(item.get("name")): item for item in node or [] if isinstance(item, dict) and item.get("name")}
    return {str(k): v for k, v in node.items()} if isinstance(node, dict) else {}


def servers_of(data: Any, location: Location) -> dict[str, Any]:
    """Name → entry of the servers a parsed config of ``location`` holds, wherever its layout keeps them."""
    return servers_in(data, location.servers_path(data), location.servers_kind)


def add_server(path: Path, text: str, fmt: Format, key_path: tuple[str, ...], kind: str, name: str,
               entry: dict[str, Any]) -> tuple[str, Edit]:
    """``text`` with ``name`` added under ``key_path``; the caller has removed any previous entry."""
    if fmt in ("json", "jsonc"):
        new, edit = _add_json(path, text, key_path, name, entry)
    elif fmt == "toml":
        new, edit = _add_toml(text, key_path, name, entry)
    else:
        new, edit = _add_yaml(text, key_path[0], kind, name, entry)
    if name not in servers_in(parse_text(path, new, fmt), key_path, kind):
        raise ConfigError(f"Could not add {name!r} to {path}: its {'.'.join(key_path)} has an unexpected shape.",
                          hint="Add the entry by hand, or move the existing servers key into a plain table.",
                          path=str(path))
    return new, edit


def replace_server(path: Path, text: str, fmt: Format, key_path: tuple[str, ...], kind: str, name: str,
                   entry: dict[str, Any]) -> str:
    """``text`` with the existing ``name`` entry's value replaced where it stands, so replacing a server
    the user wrote (`connect --replace`, `scan --fix`) changes no other byte of the file."""
    return _edit_in_place(path, text, fmt, key_path, kind, name, entry)


def _edit_in_place(path: Path, text: str, fmt: Format, key_path: tuple[str, ...], kind: str, name: str,
                   entry: dict[str, Any] | None) -> str:
    """Give ``name`` ``entry`` (None: remove it) by position, and prove by re-parsing that nothing else changed."""
    before = parse_text(path, text, fmt)
    servers = servers_in(before, key_path, kind)
    if name not in servers:
        raise ConfigError(f"{path} has no {name!r} entry under {'.'.join(key_path)} to replace.", path=str(path))
    try:
        if fmt in ("json", "jsonc"):
            container, _ = jsonc.find_object(jsonc.parse(text), key_path)
            assert container is not None  # noqa: S101 - servers_in found the entry there
            new = (jsonc.remove_member(text, container, name) if entry is None
                   else jsonc.replace_member_value(text, container, name, entry))
        elif fmt == "toml":
            new = inplace.apply(text, inplace.toml_edits(text, key_path, name, entry))
        else:
            new = inplace.apply(text, inplace.yaml_edits(text, key_path, kind, name, entry))
        after = parse_text(path, new, fmt)
    except inplace.Unlocatable as exc:
        raise _cannot_edit(path, name, exc.reason) from exc
    except ConfigError as exc:
        raise _cannot_edit(path, name, "the edited file would not parse") from exc
    expected = [_with_entry(before, key_path, kind, name, entry)]
    if entry is None and fmt == "toml" and len(servers) == 1:  # an implicit [servers] table goes with its last
        expected.append(_with_entry(before, key_path[:-1], "map", key_path[-1], None))
    if after not in expected:
        raise _cannot_edit(path, name, "the edit would change more than that entry")
    return new


def _with_entry(data: Any, key_path: tuple[str, ...], kind: str, name: str, entry: dict[str, Any] | None) -> Any:
    """``data`` with only ``name`` set to ``entry`` (None: removed), as an in-place edit must leave it."""
    data = copy.deepcopy(data)
    node = data
    for key in key_path:
        node = node[key]
    slot: str | int = name
    if kind == "list":  # the last item of that name, the one `servers_in` reports
        slot = max(i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get("name")) == name)
    if entry is None:
        del node[slot]
    else:
        node[slot] = entry
    return data


def _cannot_edit(path: Path, name: str, reason: str) -> ConflictError:
    return ConflictError(f"mcpctl cannot change the {name!r} entry in {path} in place: {reason}.",
                         hint=f"Edit {name!r} by hand (or remove it and run the command again); the file was "
                         "left untouched.", path=str(path), server=name)


def remove_server(path: Path, text: str, fmt: Format, key_path: tuple[str, ...], kind: str, name: str,
                  edit: Edit | None) -> str:
    """``text`` without ``name``; with the `Edit` that added it, exactly the bytes it added are removed."""
    if name not in servers_in(parse_text(path, text, fmt), key_path, kind):
        return text
    if edit and edit.in_place:
        return _edit_in_place(path, text, fmt, key_path, kind, name, None)
    if fmt in ("json", "jsonc"):
        return _remove_json(text, key_path, name, edit.created_keys if edit else 0)
    if edit and edit.inserted and text.count(edit.inserted) == 1:
        new = text.replace(edit.inserted, "", 1)
        if edit.replaced_line is not None:
            new = re.sub(rf"(?m)^{re.escape(key_path[0])}:\n", lambda _: edit.replaced_line or "", new, count=1)
        return new
    raise ConfigError(f"The {name!r} entry in {path} was changed since mcpctl wrote it.",
                      hint="Remove it by hand; mcpctl only removes entries exactly as it wrote them.", path=str(path))


def _add_json(path: Path, text: str, key_path: tuple[str, ...], name: str,
              entry: dict[str, Any]) -> tuple[str, Edit]:
    if not text.removeprefix("\ufeff").strip():
        value: Any = {name: entry}
        for key in reversed(key_path):
            value = {key: value}
        prefix = text[: len(text) - len(text.lstrip("\ufeff"))]
        return prefix + json.dumps(value, indent=2, ensure_ascii=False) + "\n", Edit(created_keys=len(key_path))
    root = jsonc.parse(text)
    if root.kind != "object":
        raise _error(path, "the document is not a JSON object", 1, 1)
    container, depth = jsonc.find_object(root, key_path)
    if depth < 0:
        raise ConfigError(f"{path}: {'.'.join(key_path)} is not an object.", path=str(path))
    if container is not None:
        return jsonc.insert_member(text, container, name, entry), Edit()
    parent = root if depth == 0 else jsonc.find_object(root, key_path[:depth])[0]
    value = {name: entry}
    for key in reversed(key_path[depth + 1:]):
        value = {key: value}
    assert parent is not None  # noqa: S101 - find_object reported depth levels exist
    return jsonc.insert_member(text, parent, key_path[depth], value), Edit(created_keys=len(key_path) - depth)


def _remove_json(text: str, key_path: tuple[str, ...], name: str, created_keys: int) -> str:
    root = jsonc.parse(text)
    container, _ = jsonc.find_object(root, key_path)
    assert container is not None  # noqa: S101 - the caller saw the entry
    if created_keys and len(container.members) == 1:
        level = len(key_path) - created_keys
        parent = root if level == 0 else jsonc.find_object(root, key_path[:level])[0]
        assert parent is not None  # noqa: S101
        return jsonc.remove_member(text, parent, key_path[level])
    return jsonc.remove_member(text, container, name)


def _add_toml(text: str, key_path: tuple[str, ...], name: str, entry: dict[str, Any]) -> tuple[str, Edit]:
    header = ".".join(inplace.toml_key(k) for k in (*key_path, name))
    block = f"[{header}]\n" + inplace.toml_body(entry)
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    inserted = separator + block
    return text + inserted, Edit(inserted=inserted)


def _add_yaml(text: str, key: str, kind: str, name: str, entry: dict[str, Any]) -> tuple[str, Edit]:
    import yaml

    rendered = yaml.safe_dump([entry] if kind == "list" else {name: entry}, sort_keys=False,
                              default_flow_style=False, allow_unicode=True)
    lines = text.splitlines(keepends=True)
    key_line = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}:(\s|$)", line)), None)
    if key_line is None:
        separator = "" if not text or text.endswith("\n") else "\n"
        inserted = separator + f"{key}:\n" + _indent(rendered, "  ")
        return text + inserted, Edit(inserted=inserted)
    inline = lines[key_line][len(key) + 1:].split("#")[0].strip()
    if inline in ("{}", "[]", "null", "~"):
        block = _indent(rendered, "  ")
        new_lines = [*lines[:key_line], f"{key}:\n", block, *lines[key_line + 1:]]
        return "".join(new_lines), Edit(inserted=block, replaced_line=lines[key_line])
    if inline:
        raise ConfigError(f"{key} is written inline; mcpctl will not rewrite it.",
                          hint=f"Write {key} as a block (one entry per line) and try again.")
    end = key_line + 1
    indent = None
    for i in range(key_line + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if not (line.startswith((" ", "\t")) or (kind == "list" and line.startswith("-"))):
            break
        if indent is None:
            indent = re.match(r"[ \t]*", line).group()  # type: ignore[union-attr]
        end = i + 1
    block = _indent(rendered, "  " if indent is None else indent)
    if end > 0 and not lines[end - 1].endswith("\n"):
        block = "\n" + block
    return "".join([*lines[:end], block, *lines[end:]]), Edit(inserted=block)


def _indent(block: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in block.splitlines(keepends=True))


# ----- VS Code inputs ---------------------------------------------------------------------------------

_INPUTS_KEY = "inputs"


def add_input(path: Path, text: str, wanted: dict[str, Any]) -> tuple[str, bool, bool]:
    """``text`` with the VS Code input ``wanted`` in its top-level ``inputs`` list: (text, whether it was added,
    whether the ``inputs`` key was created for it). An input of that id already there is left as it is (the
    user's, or one VS Code's own UI wrote): VS Code keys the secret it stored by the id."""
    root = jsonc.parse(text)
    if root.kind != "object":
        raise _error(path, "the document is not a JSON object", 1, 1)
    member = next((m for m in root.members if m.key == _INPUTS_KEY), None)
    if member is None:
        return jsonc.insert_member(text, root, _INPUTS_KEY, [wanted]), True, True
    if member.value.kind != "array":
        raise ConfigError(f"{path}: {_INPUTS_KEY} is not a list.", hint="Make it a list (`[]`) and try again.",
                          path=str(path))
    if any(isinstance(item, dict) and item.get("id") == wanted["id"] for item in member.value.to_python()):
        return text, False, False
    return jsonc.append_item(text, member.value, wanted), True, False


def remove_input(path: Path, text: str, added: dict[str, Any], *, created_key: bool) -> str:
    """``text`` without the input mcpctl added (only while it is still exactly as written; the user's edit is
    theirs), and without the ``inputs`` key when mcpctl created it and nothing else is left in it."""
    root = jsonc.parse(text)
    member = next((m for m in root.members if m.key == _INPUTS_KEY), None) if root.kind == "object" else None
    if member is None or member.value.kind != "array":
        return text
    items = member.value.to_python()
    index = next((i for i, item in enumerate(items) if item == added), None)
    if index is None:
        return text
    if created_key and len(items) == 1:
        return jsonc.remove_member(text, root, _INPUTS_KEY)
    return jsonc.remove_item(text, member.value, index)
