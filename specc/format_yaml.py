"""A spec's data written as canonical YAML, with its comments in place.

The layout: two-space indents, block mappings and sequences, and flow style only for a
short list of scalars (``shape: [28, 28, 1]``, ``metrics: [accuracy]``) that holds no
comment and fits in ``WIDTH`` columns. Scalars are written so that YAML 1.2 (specc) and
YAML 1.1 readers (PyYAML, many editors' older parsers) read the same value: floats always
have a dot and a signed exponent (``1.0e-3``, never ``1e-3``, which YAML 1.1 reads as a
string), and strings are quoted only where a plain one would read differently
(``"yes"``, ``"1.0"``, ``"a: b"``), in double quotes with JSON's escapes.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Any

import yaml

from specc.diagnostics import SpecPath
from specc.format_anchors import Anchors
from specc.format_comments import BLANK, Comments
from specc.spec.loader import load_text

INDENT = 2
WIDTH = 100
# Integer keys of train.class_weight are kept as their text by the loader; written plain.
_CLASS_KEY = re.compile(r"^[0-9]+$")


def render_yaml(data: Any, comments: Comments, anchors: Anchors | None = None) -> str:
    """The canonical text of ``data`` with ``comments`` placed and the parts ``anchors``
    names written once (anchored where they first come, aliased after); ends with one
    newline."""
    writer = _Writer(comments)
    if anchors is not None:
        writer.place_anchors(data, anchors)
    writer.lines.extend(comments.header)
    if isinstance(data, dict) and data:
        writer.mapping(data, (), 0)
    elif isinstance(data, list) and data:
        writer.sequence(data, (), 0)
    else:
        writer.lines.append(scalar(data))
    if comments.footer:
        writer.lines.extend(comments.footer)
    return "\n".join(writer.lines) + "\n"


class _Writer:
    """The formatted lines, written in one pass over the data, in document order."""

    def __init__(self, comments: Comments) -> None:
        self.comments = comments
        self.lines: list[str] = []
        self.anchor_at: dict[SpecPath, str] = {}
        self.alias_at: dict[SpecPath, str] = {}

    def place_anchors(self, data: Any, anchors: Anchors) -> None:
        """Anchor each repeated part where the formatted text first has it (keys may have
        moved), and alias it everywhere else."""
        order = {path: index for index, path in enumerate(_paths(data, ()))}
        taken: set[str] = set()
        for name, paths in anchors.groups:
            unique, number = name, 2
            while unique in taken:  # a name defined twice in the file: one each here
                unique, number = f"{name}_{number}", number + 1
            taken.add(unique)
            first, *others = sorted(paths, key=order.__getitem__)
            self.anchor_at[first] = unique
            self.alias_at.update(dict.fromkeys(others, unique))

    def repeats(self, path: SpecPath) -> bool:
        """Whether ``path`` carries an anchor or is an alias."""
        return path in self.anchor_at or path in self.alias_at

    def before(self, path: SpecPath, indent: int) -> None:
        for line in self.comments.before.get(path, []):
            self.lines.append(line if line == BLANK else " " * indent + line)

    def line(self, text: str, path: SpecPath) -> None:
        tail = self.comments.end_of_line.get(path)
        self.lines.append(f"{text}  {' '.join(tail)}" if tail else text)

    def inline(self, value: Any, path: SpecPath, prefix_width: int) -> str | None:
        """``value`` on one line (a scalar, an empty collection or a short scalar list),
        or None when it takes a block of its own."""
        if isinstance(value, dict):
            return "{}" if not value else None
        if isinstance(value, list):
            if not value:
                return "[]"
            if any(_is_block(item) for item in value) or self.comments.inside(path):
                return None
            if any(self.repeats((*path, index)) for index in range(len(value))):
                return None
            flow = "[" + ", ".join(scalar(item, flow=True) for item in value) + "]"
            return flow if prefix_width + len(flow) <= WIDTH else None
        return None if _literal(value) is not None else scalar(value)

    def value(self, head: str, value: Any, path: SpecPath, indent: int) -> None:
        """``head`` (``key:`` or ``-``) and ``value``, at ``indent`` for its block."""
        if path in self.alias_at:
            self.line(f"{head} *{self.alias_at[path]}", path)
            return
        if path in self.anchor_at:
            head = f"{head} &{self.anchor_at[path]}"
        inline = self.inline(value, path, len(head) + 1)
        if inline is not None:
            self.line(f"{head} {inline}", path)
            return
        literal = _literal(value)
        if literal is not None:
            indicator, body = literal
            self.line(f"{head} {indicator}", path)
            pad = " " * indent
            self.lines.extend(pad + line if line else line for line in body)
        elif isinstance(value, dict):
            self.line(head, path)
            self.mapping(value, path, indent)
        else:
            self.line(head, path)
            self.sequence(value, path, indent)

    def mapping(self, data: dict[Any, Any], path: SpecPath, indent: int, dash: str = "") -> None:
        """A block mapping; ``dash``: the ``- `` its first key follows, in a sequence."""
        for index, (key, value) in enumerate(data.items()):
            child = (*path, key)
            first_after_dash = dash and index == 0
            if not first_after_dash:
                self.before(child, indent)
            head = (dash if first_after_dash else " " * indent) + scalar_key(key, child) + ":"
            self.value(head, value, child, indent + INDENT)

    def sequence(self, data: list[Any], path: SpecPath, indent: int, dash: str = "") -> None:
        """A block sequence; ``dash``: the ``- `` its first item follows, in a sequence."""
        for index, item in enumerate(data):
            child = (*path, index)
            first_after_dash = dash and index == 0
            if not first_after_dash:
                self.before(child, indent)
            head = (dash if first_after_dash else " " * indent) + "-"
            # An anchored or aliased item goes on a line of its own ("- &init" then the
            # mapping): on the dash's line an anchor would name the first key instead.
            nested = isinstance(item, (dict, list)) and item and not self.repeats(child)
            if nested and (
                isinstance(item, dict) or self.inline(item, child, len(head) + 1) is None
            ):
                # A block collection starts on the dash's line ("- name: x", "- - 1"), so
                # that the line holds a node of its own: its comments go with that node.
                first = next(iter(item)) if isinstance(item, dict) else 0
                self.before((*child, first), indent)
                tail = self.comments.end_of_line.get(child, [])
                if tail:
                    self.comments.end_of_line.setdefault((*child, first), [])[:0] = tail
                nest = self.mapping if isinstance(item, dict) else self.sequence
                nest(item, child, indent + INDENT, dash=head + " ")
            else:
                self.value(head, item, child, indent + INDENT)


def _paths(value: Any, path: SpecPath) -> list[SpecPath]:
    """Every path under ``path``, in the order the formatted text writes them."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _is_block(value: Any) -> bool:
    return isinstance(value, (dict, list)) or _literal(value) is not None


def _literal(value: Any) -> tuple[str, list[str]] | None:
    """A multi-line string as a literal block (``|`` or ``|-``) where one reads back the
    same; None otherwise (a one-line string, or one a block cannot hold)."""
    if not isinstance(value, str) or "\n" not in value:
        return None
    body = value[:-1] if value.endswith("\n") else value
    lines = body.split("\n")
    if (
        body.endswith("\n")
        or not lines[0]
        or lines[0][0] in " \t"
        or any(line != line.rstrip() for line in lines)
        or any(not _printable(char) for char in body if char != "\n")
    ):
        return None
    return ("|" if value.endswith("\n") else "|-"), lines


def scalar_key(key: Any, path: SpecPath) -> str:
    """A mapping key as written."""
    if isinstance(key, str) and path[:2] == ("train", "class_weight") and _CLASS_KEY.match(key):
        return key
    return scalar(key)


def scalar(value: Any, flow: bool = False) -> str:
    """A scalar as written: both YAML 1.1 and 1.2 read it back as ``value``."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, str):
        return value if _plain_reads_back(value, flow) else double_quoted(value)
    raise TypeError(f"no YAML spelling for {type(value).__name__}")


def float_text(value: float) -> str:
    """A float in the spelling both YAML 1.1 and 1.2 read as a float: ``0.001``, ``1.0``,
    ``1.0e-5``, ``2.5e+20`` (YAML 1.1 needs the dot and the exponent's sign)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def double_quoted(text: str) -> str:
    """``text`` in double quotes, escaped as JSON escapes (YAML's double-quoted strings
    take the same), non-printable characters included."""
    parts = ['"']
    for char in text:
        if char in '"\\':
            parts.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif not _printable(char):
            code = ord(char)
            parts.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _printable(char: str) -> bool:
    # YAML's printable set, less the line and paragraph separators it reads as breaks.
    category = unicodedata.category(char)
    return not (category.startswith("C") or category in ("Zl", "Zp")) or char == "\t"


@functools.lru_cache(maxsize=4096)
def _plain_reads_back(text: str, flow: bool) -> bool:
    """Whether ``text`` written plain reads back as this string, as a key and a value,
    in YAML 1.2 (specc) and YAML 1.1 (PyYAML)."""
    if not text or text != text.strip() or not all(_printable(c) and c != "\t" for c in text):
        return False
    documents = {f"{text}: {text}\n": {text: text}}
    if flow:
        documents[f"k: [{text}]\n"] = {"k": [text]}
    for document, expected in documents.items():
        for read in (_read_yaml_1_1, _read_yaml_1_2):
            try:
                if read(document) != expected:
                    return False
            except Exception:  # any reading error means: not as a plain scalar
                return False
    return True


def _read_yaml_1_1(text: str) -> Any:
    return yaml.safe_load(text)


def _read_yaml_1_2(text: str) -> Any:
    return load_text(text).data
