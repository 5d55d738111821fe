"""JSON specs to plain data with positions, by a strict RFC 8259 parser of our own.

The standard library's parser gives no positions, so this one records, for every value,
where it starts (and for every key, where the key starts). Runs of plain characters,
whitespace and numbers are matched by regular expressions, and a position is found by
bisecting a table of line starts, so a 10 MB file parses in time proportional to its size.
"""

from __future__ import annotations

import re
from typing import Any

from specc.diagnostics import Position, SpecPath
from specc.spec.source import (
    LIMIT,
    MAX_DEPTH,
    NUMBER,
    LineIndex,
    PositionMap,
    integer,
    number,
    quote,
    spec_error,
)

_SPACE = re.compile(r"[ \t\r\n]*")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS = (("true", True), ("false", False), ("null", None))


def read_json(text: str, file: str, positions: PositionMap) -> Any:
    """The plain data of JSON ``text``, recording positions; ``SpecError`` when it is
    not JSON (or holds a duplicate key, or a number out of range)."""
    return _JsonParser(text, file, positions).parse_document()


class _JsonParser:
    """A strict RFC 8259 parser that records positions and rejects duplicate keys."""

    def __init__(self, text: str, file: str, positions: PositionMap) -> None:
        self.text, self.file, self.positions = text, file, positions
        self.lines = LineIndex(text)
        self.index = 0

    def position(self, index: int | None = None) -> Position:
        return self.lines.position(self.index if index is None else index)

    def fail(
        self, message: str, index: int | None = None, code: str = "SPC100-syntax"
    ) -> Exception:
        prefix = "invalid JSON: " if code == "SPC100-syntax" else ""
        return spec_error(self.file, self.position(index), prefix + message, code)

    def skip_space(self) -> None:
        self.index = _SPACE.match(self.text, self.index).end()  # type: ignore[union-attr]

    def parse_document(self) -> Any:
        self.skip_space()
        if self.index >= len(self.text):
            raise spec_error(self.file, Position(1, 1), "the spec is empty")
        value = self.parse_value((), depth=1)  # the root is level 1
        self.skip_space()
        if self.index < len(self.text):
            raise self.fail("unexpected content after the document")
        return value

    def parse_value(self, path: SpecPath, depth: int) -> Any:
        self.skip_space()
        if depth > MAX_DEPTH:
            message = f"the spec nests deeper than {MAX_DEPTH} levels, which no spec needs"
            raise self.fail(message, code=LIMIT)
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
            if self.index - start - 2 == len(value):  # no escapes: columns line up
                self.positions.strings.setdefault(path, self.position(start + 1))
            return value
        for literal, value in _LITERALS:
            if self.text.startswith(literal, self.index):
                self.index += len(literal)
                return value
        match = _NUMBER.match(self.text, self.index)
        if match and match.end() > self.index:
            start, self.index = self.index, match.end()
            token = match.group(0)
            result = number(token) if match.group(1) or match.group(2) else integer(token)
            if isinstance(result, str):
                raise self.fail(result, start, NUMBER)
            return result
        raise self.fail(f"unexpected character {quote(char)}")

    def expect(self, char: str, alternative: str = "") -> None:
        self.skip_space()
        if self.index >= len(self.text) or self.text[self.index] != char:
            found = quote(self.text[self.index]) if self.index < len(self.text) else "end of input"
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
                message = f"duplicate key {quote(key)} (first defined at line {first.line})"
                raise self.fail(message, key_index)
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

    def parse_string(self) -> str:
        start = self.index
        self.index += 1
        parts: list[str] = []
        while True:
            plain = _PLAIN.match(self.text, self.index)
            assert plain is not None  # the pattern matches the empty string
            parts.append(plain.group(0))
            self.index = plain.end()
            if self.index >= len(self.text):
                raise self.fail("unterminated string", start)
            char = self.text[self.index]
            if char == '"':
                self.index += 1
                return "".join(parts)
            if char == "\\":
                parts.append(self.parse_escape())
            elif char == "\n":
                raise self.fail("unterminated string", start)
            else:
                raise self.fail(f"control character {quote(char)} in a string")

    def parse_escape(self) -> str:
        """The escape at the cursor (a backslash), decoded."""
        escape = self.text[self.index + 1 : self.index + 2]
        if escape == "u":
            return self.parse_unicode_escape()
        if escape not in _ESCAPES:
            shown = f"'\\{escape}'" if escape.isprintable() and escape != "'" else quote(escape)
            raise self.fail(f"invalid escape {shown}")
        self.index += 2
        return _ESCAPES[escape]

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
        if not _HEX4.fullmatch(digits):
            raise self.fail("invalid \\u escape")
        self.index += 6
        return int(digits, 16)
