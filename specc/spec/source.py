"""What the YAML and JSON readers share: positions, errors, quoting and number literals.

A spec comes from someone else, so everything here assumes the worst of it: a position is
found in logarithmic time (a 10 MB file has hundreds of thousands of values), a key or value
quoted in a message is escaped and shortened, and a number literal is checked for range
before Python is asked to build it.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from specc.diagnostics import Diagnostic, Position, SpecError, SpecPath

SYNTAX = "SPC100-syntax"
NUMBER = "SPC106-number"
LIMIT = "SPC110-limit"

# Deeper than any spec (a Bidirectional LSTM's initializer mapping is five levels down), and
# shallow enough that every recursive walk of the data stays far inside Python's stack.
MAX_DEPTH = 100
# Integers are what ONNX attributes and NumPy shapes hold: 64-bit signed.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# The most characters of a user's key or value quoted in a message.
QUOTE_LIMIT = 80


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` quoted for a one-line message: escaped like ``repr`` (so newlines, escape
    sequences and direction marks show as ``\\n``, ``\\x1b``, ``\\u202e``) and, past
    ``limit`` characters, cut short with ``...``."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[: limit - 3]!r}... ({len(text):,} characters)"


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Hold off Python's cycle collector while a spec is read and checked.

    Reading builds millions of small objects that all stay alive, and each full collection
    walks every one of them again: past a few megabytes, collections made reading
    quadratic (10 MB of YAML took 24 s rather than 7). Nothing read forms a cycle that
    needs collecting early; the collector runs again as soon as the work is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def spec_error(file: str, position: Position, message: str, code: str = SYNTAX) -> SpecError:
    """A ``SpecError`` with one diagnostic at ``position`` of ``file``."""
    return SpecError([Diagnostic(code, message, (), file, position)])


class LineIndex:
    """Turns an offset into ``text`` into a line and column in logarithmic time."""

    def __init__(self, text: str) -> None:
        self.starts = [0, *(match.end() for match in re.finditer("\n", text))]

    def position(self, index: int) -> Position:
        """The 1-based line and column of the character at ``index``."""
        line = bisect.bisect_right(self.starts, index)
        return Position(line, index - self.starts[line - 1] + 1)


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


def integer(literal: str) -> int | str:
    """The value of an integer literal (decimal with an optional sign, or YAML's ``0x`` and
    ``0o`` forms), or a message saying why it is out of range. The length is checked
    before Python converts it: a 1 MB literal would take a while, and one over 4,300
    decimal digits raises."""
    base = {"0x": 16, "0o": 8}.get(literal[:2], 10)
    negative = literal.startswith("-")
    digits = (literal[2:] if base != 10 else literal.lstrip("+-")).lstrip("0")
    # The digits of 2**63 in each base; a longer literal cannot fit (leading zeros aside,
    # which Python would count towards its 4,300).
    if len(digits) <= {8: 21, 10: 19, 16: 16}[base]:
        value = int(digits or "0", base) * (-1 if negative else 1)
        if INT_MIN <= value <= INT_MAX:
            return value
    return (
        f"integer {_shorten(literal)} is out of range; a spec's integers must fit in 64 bits "
        f"({INT_MIN} to {INT_MAX})"
    )


def number(literal: str) -> float | str:
    """The value of a decimal float literal, or a message when it overflows a 64-bit float
    (``1e999`` would silently become infinity). Infinities are written ``.inf`` in YAML."""
    value = float(literal)
    if math.isfinite(value):
        return value
    return f"number {_shorten(literal)} is too large for a 64-bit float (at most about 1.8e308)"


def _shorten(literal: str) -> str:
    # A number literal holds only digits, signs, a point, an exponent and a 0x or 0o prefix.
    if len(literal) <= 40:
        return literal
    return f"{literal[:24]}... ({len(literal):,} characters)"
