"""Loading YAML and JSON specs into plain data, remembering where every node came from.

YAML is read with PyYAML's safe composer and YAML 1.2 core-schema scalars (``1e-3`` is a
float, ``yes`` is a string), and only the core tags; nothing in a spec is constructed as a
Python object. JSON is read by a small parser of our own because the standard library's
gives no positions. Both record, for every spec path, the position of the value and (for
mapping entries) of the key, so that every later error can point into the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from specc.diagnostics import Diagnostic, Position, SpecError, SpecPath

# A spec is small; a node count far beyond any real model means an alias bomb.
MAX_NODES = 200_000


@dataclass
class PositionMap:
    """Where each spec path's value (and, for mapping entries, its key) sits in the file."""

    values: dict[SpecPath, Position] = field(default_factory=dict)
    keys: dict[SpecPath, Position] = field(default_factory=dict)

    def locate(self, path: SpecPath, at_key: bool = False) -> Position | None:
        """The position of ``path``, or of its nearest enclosing node that has one."""
        if at_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return None


@dataclass
class LoadedSpec:
    """A spec's plain data (dicts, lists, scalars) and where each part of it came from."""

    data: Any
    positions: PositionMap
    file: str

    def locate(self, diagnostic: Diagnostic) -> Diagnostic:
        """Pin a diagnostic to this file at its path (or its key, for an unknown key)."""
        position = self.positions.locate(diagnostic.path, diagnostic.at_key)
        return diagnostic.located(self.file, position)


def _error(file: str, line: int, column: int, message: str) -> SpecError:
    return SpecError([Diagnostic("SPC100-syntax", message, (), file, Position(line, column))])


def load_spec(path: str | Path) -> LoadedSpec:
    """Read a spec file (YAML or JSON, chosen by extension) with positions."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(str(path), 1, 1, f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(str(path), 1, 1, f"cannot read {path}: {exc}") from None
    return load_text(text, str(path), is_json=path.suffix.lower() == ".json")


def load_text(text: str, file: str = "<spec>", is_json: bool = False) -> LoadedSpec:
    """Parse spec text (YAML, or JSON when ``is_json``) with positions."""
    positions = PositionMap()
    if is_json:
        data = _JsonParser(text, file, positions).parse_document()
    else:
        data = _load_yaml(text, file, positions)
    return LoadedSpec(data, positions, file)


# ----------------------------------------------------------------------------- YAML


class _Yaml12Loader(yaml.SafeLoader):
    """A safe loader whose implicit scalar types follow the YAML 1.2 core schema."""


_Yaml12Loader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", [*list("~nN"), ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
]
for _tag, _pattern, _first in _CORE_RESOLVERS:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def _load_yaml(text: str, file: str, positions: PositionMap) -> Any:
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _error(file, line, col, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise _error(file, 1, 1, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _error(file, 1, 1, "invalid YAML: nesting is too deep") from None
    if node is None:
        raise _error(file, 1, 1, "the spec is empty")
    counter = [0]
    try:
        return _convert(node, (), file, positions, counter)
    except RecursionError:
        raise _error(file, 1, 1, "invalid YAML: nesting is too deep") from None


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(
    node: yaml.Node, path: SpecPath, file: str, positions: PositionMap, counter: list[int]
) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        pos = _mark(node)
        raise _error(file, pos.line, pos.column, "the spec is too large (alias expansion?)")
    positions.values.setdefault(path, _mark(node))
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_pos = _mark(key_node)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise _error(
                    file, key_pos.line, key_pos.column, "mapping keys must be plain strings"
                )
            key = key_node.value
            if key in result:
                first = positions.keys[(*path, key)]
                raise _error(
                    file,
                    key_pos.line,
                    key_pos.column,
                    f"duplicate key '{key}' (first defined at line {first.line})",
                )
            positions.keys[(*path, key)] = key_pos
            result[key] = _convert(value_node, (*path, key), file, positions, counter)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, i), file, positions, counter)
            for i, item in enumerate(node.value)
        ]
    return _scalar(node, file)


def _scalar(node: yaml.Node, file: str) -> Any:
    tag, value = node.tag, node.value
    if tag not in _SCALAR_TAGS:
        pos = _mark(node)
        raise _error(file, pos.line, pos.column, f"YAML tag '{tag}' is not allowed in a spec")
    if tag.endswith(":str"):
        return value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return value.lower() == "true"
    if tag.endswith(":int"):
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(value)


# ----------------------------------------------------------------------------- JSON

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class _JsonParser:
    """A strict RFC 8259 parser that records positions and rejects duplicate keys."""

    def __init__(self, text: str, file: str, positions: PositionMap) -> None:
        self.text, self.file, self.positions = text, file, positions
        self.index = 0
        self.nodes = 0

    def position(self, index: int | None = None) -> Position:
        index = self.index if index is None else index
        line = self.text.count("\n", 0, index) + 1
        column = index - (self.text.rfind("\n", 0, index) + 1) + 1
        return Position(line, column)

    def fail(self, message: str, index: int | None = None) -> SpecError:
        pos = self.position(index)
        return _error(self.file, pos.line, pos.column, f"invalid JSON: {message}")

    def skip_space(self) -> None:
        while self.index < len(self.text) and self.text[self.index] in " \t\r\n":
            self.index += 1

    def parse_document(self) -> Any:
        self.skip_space()
        if self.index >= len(self.text):
            raise _error(self.file, 1, 1, "the spec is empty")
        value = self.parse_value((), depth=0)
        self.skip_space()
        if self.index < len(self.text):
            raise self.fail("unexpected content after the document")
        return value

    def parse_value(self, path: SpecPath, depth: int) -> Any:
        if depth > 500:
            raise self.fail("nesting is too deep")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail("the spec is too large")
        self.skip_space()
        self.positions.values.setdefault(path, self.position())
        if self.index >= len(self.text):
            raise self.fail("unexpected end of input")
        char = self.text[self.index]
        if char == "{":
            return self.parse_object(path, depth)
        if char == "[":
            return self.parse_array(path, depth)
        if char == '"':
            return self.parse_string()
        for literal, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(literal, self.index):
                self.index += len(literal)
                return value
        match = _JSON_NUMBER.match(self.text, self.index)
        if match and match.end() > self.index:
            self.index = match.end()
            token = match.group(0)
            return float(token) if match.group(1) or match.group(2) else int(token)
        raise self.fail(f"unexpected character {char!r}")

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.index >= len(self.text) or self.text[self.index] != char:
            found = repr(self.text[self.index]) if self.index < len(self.text) else "end of input"
            raise self.fail(f"expected '{char}', found {found}")
        self.index += 1

    def parse_object(self, path: SpecPath, depth: int) -> dict[str, Any]:
        self.index += 1
        result: dict[str, Any] = {}
        self.skip_space()
        if self.text.startswith("}", self.index):
            self.index += 1
            return result
        while True:
            self.skip_space()
            key_index = self.index
            if not self.text.startswith('"', self.index):
                raise self.fail("expected a string key")
            key = self.parse_string()
            if key in result:
                first = self.positions.keys[(*path, key)]
                raise self.fail(
                    f"duplicate key '{key}' (first defined at line {first.line})", key_index
                )
            self.positions.keys[(*path, key)] = self.position(key_index)
            self.expect(":")
            result[key] = self.parse_value((*path, key), depth + 1)
            self.skip_space()
            if self.text.startswith(",", self.index):
                self.index += 1
                continue
            self.expect("}")
            return result

    def parse_array(self, path: SpecPath, depth: int) -> list[Any]:
        self.index += 1
        result: list[Any] = []
        self.skip_space()
        if self.text.startswith("]", self.index):
            self.index += 1
            return result
        while True:
            result.append(self.parse_value((*path, len(result)), depth + 1))
            self.skip_space()
            if self.text.startswith(",", self.index):
                self.index += 1
                continue
            self.expect("]")
            return result

    def parse_string(self) -> str:
        start = self.index
        self.index += 1
        parts: list[str] = []
        while True:
            if self.index >= len(self.text):
                raise self.fail("unterminated string", start)
            char = self.text[self.index]
            if char == '"':
                self.index += 1
                return "".join(parts)
            if char == "\\":
                escape = self.text[self.index + 1 : self.index + 2]
                if escape == "u":
                    digits = self.text[self.index + 2 : self.index + 6]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                        raise self.fail("invalid \\u escape")
                    parts.append(chr(int(digits, 16)))
                    self.index += 6
                    continue
                if escape not in _JSON_ESCAPES:
                    raise self.fail(f"invalid escape '\\{escape}'")
                parts.append(_JSON_ESCAPES[escape])
                self.index += 2
                continue
            if ord(char) < 0x20:
                raise self.fail("control character in string")
            parts.append(char)
            self.index += 1
