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
from specc.limits import DEFAULT_LIMITS, Limits

# A spec is small; a node count far beyond any real model means an alias bomb.
MAX_NODES = 200_000
# Far deeper than any spec, and well inside Python's recursion limit (the JSON parser
# uses two frames a level).
MAX_DEPTH = 100


@dataclass
class PositionMap:
    """Where each spec path's value (and, for mapping entries, its key) sits in the file."""

    values: dict[SpecPath, Position] = field(default_factory=dict)
    keys: dict[SpecPath, Position] = field(default_factory=dict)
    # The first character of each one-line string written without escapes, so an error
    # at a character inside it (an offset) can point at that very character.
    strings: dict[SpecPath, Position] = field(default_factory=dict)

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
        start = self.positions.strings.get(diagnostic.path)
        if diagnostic.offset is not None and start is not None and not diagnostic.at_key:
            position = Position(start.line, start.column + diagnostic.offset)
        return diagnostic.located(self.file, position)


def _error(file: str, line: int, column: int, message: str) -> SpecError:
    return SpecError([Diagnostic("SPC100-syntax", message, (), file, Position(line, column))])


def load_spec(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> LoadedSpec:
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

# The core schema's patterns, to check scalars whose tag was written explicitly
# (``!!int abc`` must be an error, not a crash or a silent coercion).
_CORE_PATTERNS = {tag: re.compile(pattern) for tag, pattern, _ in _CORE_RESOLVERS}
_SCALAR_TAGS = {"tag:yaml.org,2002:str", *_CORE_PATTERNS}
_COLLECTION_TAGS = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _load_yaml(text: str, file: str, positions: PositionMap) -> Any:
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_syntax_error(exc, text, file) from None
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


def _yaml_syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> SpecError:
    """A syntax error at PyYAML's problem mark, with its context ("while parsing a flow
    sequence") named; when the problem is the end of the file, point at the context (the
    unclosed bracket) instead, which is where the fix goes."""
    problem, context = exc.problem or "invalid YAML", exc.context
    mark = exc.problem_mark or exc.context_mark
    at_end = mark is not None and mark.index >= len(text.rstrip())
    if exc.context_mark is not None and (mark is None or at_end):
        mark = exc.context_mark
    message = f"invalid YAML: {problem}"
    if context and exc.context_mark is not None:
        where = exc.context_mark
        message += f" ({context} started at line {where.line + 1}, column {where.column + 1})"
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return _error(file, line, col, message)


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
    expected_tag = _COLLECTION_TAGS.get(type(node))
    if expected_tag is not None and node.tag != expected_tag:
        pos = _mark(node)
        raise _error(file, pos.line, pos.column, f"YAML tag '{node.tag}' is not allowed in a spec")
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
    value = _scalar(node, file)
    if isinstance(value, str):
        _record_string(node, value, path, positions)
    return value


def _record_string(node: yaml.Node, value: str, path: SpecPath, positions: PositionMap) -> None:
    """Remember where a one-line string's characters start, when the file holds them as is."""
    start, end = node.start_mark, node.end_mark
    if start.buffer is None or start.line != end.line or node.style not in (None, "'", '"'):
        return
    quote = 0 if node.style is None else 1
    if start.buffer[start.index + quote : end.index - quote] == value:
        positions.strings[path] = Position(start.line + 1, start.column + 1 + quote)


def _scalar(node: yaml.Node, file: str) -> Any:
    tag, value = node.tag, node.value
    if tag not in _SCALAR_TAGS:
        pos = _mark(node)
        raise _error(file, pos.line, pos.column, f"YAML tag '{tag}' is not allowed in a spec")
    pattern = _CORE_PATTERNS.get(tag)
    if pattern is not None and not pattern.match(value):
        pos = _mark(node)
        kind = tag.rsplit(":", 1)[-1]
        raise _error(file, pos.line, pos.column, f"{value!r} is not a valid !!{kind}")
    if tag.endswith(":str"):
        if _SURROGATE.search(value):
            pos = _mark(node)
            raise _error(file, pos.line, pos.column, "a string holds an unpaired UTF-16 surrogate")
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
        if depth > MAX_DEPTH:
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
            start = self.index
            value = self.parse_string()
            if self.text[start + 1 : self.index - 1] == value:  # no escapes: columns line up
                self.positions.strings.setdefault(path, self.position(start + 1))
            return value
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

    def expect(self, char: str, alternative: str = "") -> None:
        self.skip_space()
        if self.index >= len(self.text) or self.text[self.index] != char:
            found = repr(self.text[self.index]) if self.index < len(self.text) else "end of input"
            wanted = f"'{alternative}' or '{char}'" if alternative else f"'{char}'"
            raise self.fail(f"expected {wanted}, found {found}")
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
            self.expect("}", ",")
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
            self.expect("]", ",")
            return result

    def parse_unicode_escape(self) -> str:
        """``\\uXXXX`` at the cursor, joining a UTF-16 surrogate pair into one character."""
        start = self.index
        code = self.read_hex_escape()
        if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.index):
            low = self.read_hex_escape()
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        elif not 0xD800 <= code < 0xE000:
            return chr(code)
        raise self.fail("unpaired UTF-16 surrogate in \\u escape", start)

    def read_hex_escape(self) -> int:
        digits = self.text[self.index + 2 : self.index + 6]
        if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
            raise self.fail("invalid \\u escape")
        self.index += 6
        return int(digits, 16)

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
                    parts.append(self.parse_unicode_escape())
                    continue
                if escape not in _JSON_ESCAPES:
                    raise self.fail(f"invalid escape '\\{escape}'")
                parts.append(_JSON_ESCAPES[escape])
                self.index += 2
                continue
            if char == "\n":
                raise self.fail("unterminated string", start)
            if ord(char) < 0x20:
                raise self.fail("control character in string")
            parts.append(char)
            self.index += 1
