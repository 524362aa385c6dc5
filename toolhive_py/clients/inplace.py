"""Replace or remove one server entry of a TOML or YAML config where it stands, as byte-range edits (like
`jsonc` does for JSON), so every byte outside the entry, comments in other tables included, stays put.

Round-trip libraries re-render what they touch (tomlkit drops a comment that precedes the next table and
moves dotted keys; ruamel re-indents), so positions are found instead: TOML by a small statement scanner
(headers, key/values, multi-line strings and arrays), YAML from PyYAML's composed nodes, whose marks are
offsets. Both run only on text that already parsed, and `documents` re-parses every result, so a layout
they do not understand is refused (`Unlocatable`), never mangled.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

__all__ = ["Unlocatable", "apply", "toml_body", "toml_edits", "toml_key", "yaml_edits"]

# (start, end, replacement): text[start:end] becomes replacement.
TextEdit = tuple[int, int, str]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class Unlocatable(ValueError):
    """The entry's layout is one mcpctl will not rewrite in place; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def apply(text: str, edits: list[TextEdit]) -> str:
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# ----- TOML ------------------------------------------------------------------------------------------

def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_inline(value: Any) -> str:
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update(value)
        return str(table.as_string())
    return str(tomlkit.item(value).as_string())


def toml_body(entry: dict[str, Any], newline: str = "\n") -> str:
    """The key/value lines of a server table; nested tables stay inline, so the lines fit under any header."""
    return "".join(f"{toml_key(key)} = {_toml_inline(value)}{newline}" for key, value in entry.items())


@dataclass(frozen=True)
class _Statement:
    kind: str  # "table", "array-table" or "keyval"
    key: tuple[str, ...]
    start: int  # start of its first line
    end: int  # just past the line break that ends it
    value: tuple[int, int] = (0, 0)  # keyval: the value, without a trailing comment


class _TomlScanner:
    """Statements of a TOML document that tomllib accepted; comment and blank lines are skipped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def statements(self) -> list[_Statement]:
        found = []
        while self.pos < len(self.text):
            start = self.pos
            self._spaces()
            if self._at_line_end():
                self._line_end()
                continue
            if self.text.startswith("[", self.pos):
                double = self.text.startswith("[[", self.pos)
                self.pos += 2 if double else 1
                key = self._key()
                self._expect("]]" if double else "]")
                self._line_end()
                found.append(_Statement("array-table" if double else "table", key, start, self.pos))
            else:
                key = self._key()
                self._expect("=")
                self._spaces()
                value_start = self.pos
                self._value()
                value_end = self.pos
                while value_end > value_start and self.text[value_end - 1] in " \t":
                    value_end -= 1
                self._line_end()
                found.append(_Statement("keyval", key, start, self.pos, (value_start, value_end)))
        return found

    def _spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\ufeff":
            self.pos += 1

    def _at_line_end(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos] in "#\r\n"

    def _line_end(self) -> None:
        """Skip spaces and a comment, then the line break."""
        self._spaces()
        if self.text.startswith("#", self.pos):
            newline = self.text.find("\n", self.pos)
            self.pos = len(self.text) if newline < 0 else newline
        if self.text.startswith("\r", self.pos):
            self.pos += 1
        if self.pos < len(self.text):
            if self.text[self.pos] != "\n":
                raise Unlocatable(f"unexpected text at offset {self.pos}")
            self.pos += 1

    def _expect(self, token: str) -> None:
        self._spaces()
        if not self.text.startswith(token, self.pos):
            raise Unlocatable(f"expected {token!r} at offset {self.pos}")
        self.pos += len(token)

    def _key(self) -> tuple[str, ...]:
        parts = []
        while True:
            self._spaces()
            start = self.pos
            if self.text.startswith(('"', "'"), self.pos):
                self._string()
                parts.append(tomllib.loads("k = " + self.text[start:self.pos])["k"])
            else:
                bare = _BARE_KEY.match(self.text, self.pos)
                if not bare:
                    raise Unlocatable(f"unexpected key at offset {self.pos}")
                self.pos = bare.end()
                parts.append(bare.group())
            self._spaces()
            if not self.text.startswith(".", self.pos):
                return tuple(parts)
            self.pos += 1

    def _string(self) -> None:
        """Skip one string of any of TOML's four kinds."""
        quote = self.text[self.pos]
        if self.text.startswith(quote * 3, self.pos):
            close = self.pos + 3
            while not self.text.startswith(quote * 3, close):
                close += 2 if quote == '"' and self.text[close] == "\\" else 1
            close += 3
            for _ in range(2):  # up to two quotes just before the delimiter belong to the string
                if self.text.startswith(quote, close):
                    close += 1
            self.pos = close
            return
        self.pos += 1
        while self.text[self.pos] != quote:
            self.pos += 2 if quote == '"' and self.text[self.pos] == "\\" else 1
        self.pos += 1

    def _value(self) -> None:
        """Skip one value: arrays may span lines and hold comments; strings may hold anything."""
        depth = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "\"'":
                self._string()
            elif char in "[{":
                depth += 1
                self.pos += 1
            elif char in "]}":
                depth -= 1
                self.pos += 1
            elif char == "#" or char in "\r\n":
                if depth == 0:
                    return
                newline = self.text.find("\n", self.pos)
                self.pos = len(self.text) if newline < 0 else newline + 1
            else:
                self.pos += 1


def toml_edits(text: str, key_path: tuple[str, ...], name: str, entry: dict[str, Any] | None) -> list[TextEdit]:
    """Edits that give the ``name`` server ``entry`` (None: remove it). Its own ``[key_path.name]`` table
    has its body replaced (sub-tables such as ``[key_path.name.env]`` go); an inline-table value
    (``name = {…}``) is replaced where it stands."""
    target = (*key_path, name)
    statements = _TomlScanner(text).statements()
    headers = [i for i, s in enumerate(statements) if s.kind != "keyval"]
    main: int | None = None
    subtables: list[int] = []
    inline: _Statement | None = None
    table: tuple[str, ...] = ()
    for index, statement in enumerate(statements):
        if statement.kind != "keyval":
            table = statement.key
            if statement.key[:len(target)] != target:
                continue
            if statement.key != target:
                subtables.append(index)
            elif statement.kind == "table":
                main = index
            else:
                raise Unlocatable("it is an array of tables")
            continue
        full = table + statement.key
        if table[:len(target)] == target:
            continue  # inside the entry's own tables: replaced with them
        if full == target:
            inline = statement
        elif full[:len(target)] == target:
            raise Unlocatable(f"it is written as dotted keys ({'.'.join(full)} = …)")
        elif target[:len(full)] == full:
            raise Unlocatable(f"it sits inside the inline table {'.'.join(full)}")
    if inline is not None:
        if entry is None:
            return [(inline.start, inline.end, "")]
        return [(inline.value[0], inline.value[1], _toml_inline(entry))]
    if main is None and not subtables:
        raise Unlocatable("its table was not found")

    def body_end(index: int) -> int:
        """End of a table's last key/value: comment and blank lines after it stay with what follows."""
        following = next((h for h in headers if h > index), len(statements))
        return statements[following - 1].end

    removed = [(statements[i].start, _past_blank_lines(text, body_end(i)), "") for i in subtables]
    if main is None:  # only sub-tables define it: its own table takes the first one's place
        if entry is None:
            return removed
        header = "[" + ".".join(toml_key(k) for k in target) + "]" + _newline(text)
        return [(statements[subtables[0]].start, body_end(subtables[0]), header + toml_body(entry, _newline(text))),
                *removed[1:]]
    if entry is None:
        return [(statements[main].start, _past_blank_lines(text, body_end(main)), ""), *removed]
    header_end = statements[main].end
    body = toml_body(entry, _newline(text))
    if not text[:header_end].endswith("\n"):  # a header on the last line, without a line break
        body = _newline(text) + body
    return [(header_end, body_end(main), body), *removed]


def _past_blank_lines(text: str, offset: int) -> int:
    """A removed table takes the blank lines after it along, so no gap of two is left behind."""
    blank = re.compile(r"[ \t]*\r?\n")
    while match := blank.match(text, offset):
        offset = match.end()
    return offset


# ----- YAML ------------------------------------------------------------------------------------------

def _yaml_end(node: Any) -> int:
    """Where a node's own text ends: a block collection's end mark lies past the comments after it."""
    import yaml

    if isinstance(node, yaml.ScalarNode) or node.flow_style or not node.value:
        return int(node.end_mark.index)
    last = node.value[-1]
    return _yaml_end(last[1] if isinstance(node, yaml.MappingNode) else last)


def _yaml_scalar(node: Any) -> str | None:
    import yaml

    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_after(text: str, offset: int) -> int:
    newline = text.find("\n", offset)
    return len(text) if newline < 0 else newline + 1


def yaml_edits(text: str, key_path: tuple[str, ...], kind: str, name: str,
               entry: dict[str, Any] | None) -> list[TextEdit]:
    """Edits that give the ``name`` server ``entry`` (None: remove it), in a block mapping of servers
    (Goose) or a block list of ``name:`` items (Continue). The entry's value keeps its style: a block
    mapping is written as one, a flow mapping (``{…}``) as one."""
    import yaml

    servers: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    parent_key: Any = None
    for key in key_path:
        pairs = [(k, v) for k, v in servers.value if _yaml_scalar(k) == key] \
            if isinstance(servers, yaml.MappingNode) else []
        if not pairs:
            raise Unlocatable(f"{'.'.join(key_path)} was not found")
        parent_key, servers = pairs[-1]  # like a YAML load, the last of duplicate keys counts
    if servers.flow_style:
        raise Unlocatable(f"{'.'.join(key_path)} is written inline (flow style)")
    if kind == "list":
        items = [item for item in servers.value if isinstance(item, yaml.MappingNode)
                 and any(_yaml_scalar(k) == "name" and _yaml_scalar(v) == name for k, v in item.value)]
        if not isinstance(servers, yaml.SequenceNode) or not items:
            raise Unlocatable("its list item was not found")
        value = items[-1]
        head = _line_start(text, value.start_mark.index)
        if text[head:value.start_mark.index].strip() != "-":
            raise Unlocatable("its list item does not start a line")
    else:
        pairs = [(k, v) for k, v in servers.value if _yaml_scalar(k) == name] \
            if isinstance(servers, yaml.MappingNode) else []
        if not pairs:
            raise Unlocatable("its key was not found")
        key_node, value = pairs[-1]
        head = _line_start(text, key_node.start_mark.index)
        if text[head:key_node.start_mark.index].strip() or value.start_mark.index < key_node.end_mark.index:
            raise Unlocatable("its key does not start a line, or its value is an alias")
    block = isinstance(value, (yaml.MappingNode, yaml.SequenceNode)) and not value.flow_style
    # A block mapping's own text starts at its first key: an anchor or a tag before it stays with the key.
    first = value.value[0][0] if block and isinstance(value, yaml.MappingNode) else value
    start = first.start_mark.index
    end = start + len(text[start:_yaml_end(value)].rstrip())
    if entry is None:
        removal = (head, _line_after(text, end), "")
        if len(servers.value) == 1:  # the last one: `key: {}` stays, like `"key": {}` in JSON
            colon = text.index(":", parent_key.end_mark.index) + 1
            return [(colon, colon, " []" if kind == "list" else " {}"), removal]
        return [removal]
    if block:
        end = len(text[:_line_after(text, end)].rstrip("\r\n"))  # a comment after its last line goes with it
        rendered = yaml.safe_dump(entry, sort_keys=False, default_flow_style=False, allow_unicode=True,
                                  width=1 << 30).rstrip("\n")
        rendered = rendered.replace("\n", _newline(text) + " " * first.start_mark.column)
    else:
        rendered = yaml.safe_dump(entry, sort_keys=False, default_flow_style=True, allow_unicode=True,
                                  width=1 << 30).strip()
        if text[start - 1:start] == ":":  # an empty value right after its key
            rendered = " " + rendered
    return [(start, end, rendered)]
