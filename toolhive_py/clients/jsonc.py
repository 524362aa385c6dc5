"""JSON with comments and trailing commas: a parser that keeps every value's position, and member
insert/remove edits that touch only the bytes of that member.

Editing by position, rather than load-modify-dump, is what keeps a user's comments, key order,
indentation and unusual formatting byte-for-byte intact (VS Code's and Zed's settings are JSONC).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JsoncError", "Member", "Node", "append_item", "find_object", "insert_member", "loads", "parse",
           "remove_item", "remove_member", "replace_member_value"]

_WS = re.compile(r"(?:[ \t\r\n\ufeff]+|//[^\n]*|/\*.*?\*/)*", re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_LITERALS = {"true": True, "false": False, "null": None}


class JsoncError(ValueError):
    def __init__(self, message: str, text: str, offset: int) -> None:
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        self.offset = offset
        super().__init__(f"{message} at line {self.line}, column {self.column}")
        self.reason = message


@dataclass
class Node:
    kind: str  # "object", "array" or "scalar"
    start: int
    end: int
    value: Any = None
    members: list[Member] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)

    def to_python(self) -> Any:
        if self.kind == "object":
            return {m.key: m.value.to_python() for m in self.members}
        if self.kind == "array":
            return [item.to_python() for item in self.items]
        return self.value


@dataclass
class Member:
    key: str
    key_start: int
    value: Node
    comma: int | None = None  # offset of the comma after the value, if any


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        match = _WS.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        if self.text.startswith("/*", self.pos):
            raise JsoncError("unterminated comment", self.text, self.pos)

    def error(self, message: str) -> JsoncError:
        return JsoncError(message, self.text, self.pos)

    def value(self) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("unexpected end of file")
        char = self.text[self.pos]
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char == '"':
            start, key = self.pos, self.string()
            return Node("scalar", start, self.pos, key)
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return Node("scalar", number.start(), self.pos, json.loads(number.group()))
        for literal, value in _LITERALS.items():
            if self.text.startswith(literal, self.pos):
                start = self.pos
                self.pos += len(literal)
                return Node("scalar", start, self.pos, value)
        raise self.error(f"unexpected character {char!r}")

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if not match:
            raise self.error("invalid string")
        self.pos = match.end()
        decoded: str = json.loads(match.group())
        return decoded

    def object(self) -> Node:
        node = Node("object", self.pos, -1)
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                node.end = self.pos
                return node
            if node.members and node.members[-1].comma is None:
                raise self.error("expected ',' or '}'")
            if not self.text.startswith('"', self.pos):
                raise self.error("expected a quoted key")
            key_start, key = self.pos, self.string()
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise self.error("expected ':'")
            self.pos += 1
            member = Member(key, key_start, self.value())
            node.members.append(member)
            self.skip()
            if self.text.startswith(",", self.pos):
                member.comma = self.pos
                self.pos += 1

    def array(self) -> Node:
        node = Node("array", self.pos, -1)
        self.pos += 1
        comma = True
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                node.end = self.pos
                return node
            if not comma:
                raise self.error("expected ',' or ']'")
            node.items.append(self.value())
            self.skip()
            comma = self.text.startswith(",", self.pos)
            if comma:
                self.pos += 1


def parse(text: str) -> Node:
    parser = _Parser(text)
    root = parser.value()
    parser.skip()
    if parser.pos != len(text):
        raise parser.error("unexpected content after the document")
    return root


def loads(text: str) -> Any:
    return parse(text).to_python()


def find_object(root: Node, path: tuple[str, ...]) -> tuple[Node | None, int]:
    """The object at ``path`` (or None), and how many leading keys of the path exist as objects."""
    node = root
    for depth, key in enumerate(path):
        member = next((m for m in node.members if m.key == key), None)
        if member is None or member.value.kind != "object":
            return (None, depth) if member is None else (None, -1)
        node = member.value
    return node, len(path)


def _line_indent(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    prefix = text[line_start:offset]
    return prefix if not prefix.strip() else re.match(r"[ \t]*", prefix).group()  # type: ignore[union-attr]


def _indent_unit(text: str) -> str:
    match = re.search(r"\n([ \t]+)\S", text)
    return match.group(1) if match else "  "


def _render_value(value: Any, indent: str, unit: str) -> str:
    body = json.dumps(value, indent=len(unit) if unit.strip(" ") == "" else 1, ensure_ascii=False)
    if unit.startswith("\t"):
        body = re.sub(r"(?m)^( +)", lambda m: "\t" * len(m.group(1)), body)
    return body.replace("\n", "\n" + indent)


def _render(key: str, value: Any, indent: str, unit: str) -> str:
    return json.dumps(key, ensure_ascii=False) + ": " + _render_value(value, indent, unit)


def insert_member(text: str, container: Node, key: str, value: Any) -> str:
    """Add ``key: value`` as the last member of ``container``, matching the surrounding layout."""
    unit = _indent_unit(text)
    if container.members and "\n" not in text[container.start:container.end]:
        last = container.members[-1]
        rendered = json.dumps(key, ensure_ascii=False) + ": " + json.dumps(value, ensure_ascii=False)
        return text[:last.value.end] + ", " + rendered + text[last.value.end:]
    if container.members:
        last = container.members[-1]
        indent = _line_indent(text, last.key_start)
        rendered = _render(key, value, indent, unit)
        if last.comma is not None:  # trailing-comma style (JSONC): keep it
            return text[:last.comma + 1] + "\n" + indent + rendered + "," + text[last.comma + 1:]
        return text[:last.value.end] + ",\n" + indent + rendered + text[last.value.end:]
    outer = _line_indent(text, container.start)
    indent = outer + unit
    inner = "\n" + indent + _render(key, value, indent, unit) + "\n" + outer
    return text[:container.start + 1] + inner + text[container.end - 1:]


def replace_member_value(text: str, container: Node, key: str, value: Any) -> str:
    """Give ``key`` a new value where it stands: its neighbours, comments and key order keep their bytes."""
    member = next(m for m in container.members if m.key == key)
    if "\n" in text[member.value.start:member.value.end]:  # a value laid out over lines stays laid out so
        rendered = _render_value(value, _line_indent(text, member.key_start), _indent_unit(text))
    else:
        rendered = json.dumps(value, ensure_ascii=False)
    return text[:member.value.start] + rendered + text[member.value.end:]


def remove_member(text: str, container: Node, key: str) -> str:
    """Remove ``key`` and exactly the separator bytes `insert_member` would have added for it."""
    index = next(i for i, m in enumerate(container.members) if m.key == key)
    member = container.members[index]
    members = container.members
    if len(members) == 1:
        return text[:container.start + 1] + text[container.end - 1:]
    if index + 1 < len(members):
        return text[:member.key_start] + text[members[index + 1].key_start:]
    previous = members[index - 1]
    if member.comma is not None:  # trailing-comma style: the previous member's comma stays
        return text[:previous.comma + 1] + text[member.comma + 1:]  # type: ignore[operator]
    return text[:previous.value.end] + text[member.value.end:]


def _trailing_comma(text: str, offset: int) -> int | None:
    """The offset of a comma right after ``offset`` (past blanks and comments), if there is one."""
    after = _WS.match(text, offset)
    position = after.end() if after else offset
    return position if text.startswith(",", position) else None


def append_item(text: str, array: Node, value: Any) -> str:
    """Add ``value`` as the last item of ``array`` (VS Code's `inputs`), matching the surrounding layout."""
    unit = _indent_unit(text)
    if array.items and "\n" not in text[array.start:array.end]:
        last = array.items[-1]
        return text[:last.end] + ", " + json.dumps(value, ensure_ascii=False) + text[last.end:]
    if array.items:
        last = array.items[-1]
        indent = _line_indent(text, last.start)
        rendered = _render_value(value, indent, unit)
        comma = _trailing_comma(text, last.end)
        if comma is not None:  # trailing-comma style (JSONC): keep it
            return text[:comma + 1] + "\n" + indent + rendered + "," + text[comma + 1:]
        return text[:last.end] + ",\n" + indent + rendered + text[last.end:]
    outer = _line_indent(text, array.start)
    indent = outer + unit
    return text[:array.start + 1] + "\n" + indent + _render_value(value, indent, unit) + "\n" + outer + \
        text[array.end - 1:]


def remove_item(text: str, array: Node, index: int) -> str:
    """Remove item ``index`` and exactly the separator bytes `append_item` would have added for it."""
    items = array.items
    item = items[index]
    if len(items) == 1:
        return text[:array.start + 1] + text[array.end - 1:]
    if index + 1 < len(items):
        return text[:item.start] + text[items[index + 1].start:]
    previous = items[index - 1]
    comma = _trailing_comma(text, item.end)
    previous_comma = _trailing_comma(text, previous.end)
    if comma is not None and previous_comma is not None:  # trailing-comma style: the previous item's comma stays
        return text[:previous_comma + 1] + text[comma + 1:]
    return text[:previous.end] + text[item.end:]
