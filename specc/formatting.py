"""``specc format``'s work: a spec's text in one canonical layout, meaning unchanged.

YAML keeps every comment (``format_comments``) and is written by ``format_yaml``; JSON is
written with two-space indents. Both get the canonical key order (``format_order``).
Before any text is handed back it is read again and checked: the same data in the same
order, and the same comments. A formatter bug then stops the run instead of changing a
spec (the formatter never writes anything it has not read back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from specc.diagnostics import SpecError
from specc.format_anchors import find_anchors
from specc.format_comments import comment_texts, find_comments
from specc.format_order import ordered
from specc.format_yaml import LINE_LENGTH, render_yaml
from specc.limits import DEFAULT_LIMITS, Limits
from specc.spec.loader import load_text, read_spec_text
from specc.spec.model import validate_spec


class FormatterError(RuntimeError):
    """The formatted text would not mean what the spec means: a bug in specc format."""


@dataclass(frozen=True)
class Formatted:
    """A spec's text before and after formatting."""

    path: Path
    original: str
    formatted: str

    @property
    def changed(self) -> bool:
        """Whether formatting changes the file."""
        return self.original != self.formatted


def format_file(
    path: Path, limits: Limits = DEFAULT_LIMITS, line_length: int = LINE_LENGTH
) -> Formatted:
    """The formatted text of the spec at ``path`` (nothing written); ``SpecError`` when it
    does not parse."""
    text = read_spec_text(path, limits)
    formatted = format_text(text, str(path), _is_json(path), limits, line_length)
    return Formatted(path, text, formatted)


def format_text(
    text: str,
    file: str = "<spec>",
    is_json: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    line_length: int = LINE_LENGTH,
) -> str:
    """``text`` in canonical layout, YAML's flow collections at most ``line_length``
    columns wide; ``SpecError`` when it does not parse."""
    loaded = load_text(text, file, is_json=is_json, limits=limits)
    data = ordered(loaded.data, _validated(loaded))
    if is_json:
        result = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    else:
        anchors = find_anchors(text, file)
        comments = find_comments(text, loaded.positions, anchors)
        result = render_yaml(data, comments, anchors, line_length)
    _check_same(text, result, data, file, is_json, limits)
    return result


def _is_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _validated(loaded: Any) -> BaseModel | None:
    try:
        return validate_spec(loaded)
    except SpecError:
        return None  # still formatted, by the structure every spec has


def _check_same(
    original: str, result: str, data: Any, file: str, is_json: bool, limits: Limits
) -> None:
    try:
        again = load_text(result, file, is_json=is_json, limits=limits).data
    except SpecError as exc:
        raise FormatterError(f"the formatted {file} does not parse: {exc}") from None
    if not same_data(again, data):
        raise FormatterError(f"formatting {file} would change its data")
    # Reordered keys take their comments along: the same comments, perhaps in a new order.
    if not is_json and sorted(comment_texts(result)) != sorted(comment_texts(original)):
        raise FormatterError(f"formatting {file} would lose or change a comment")


def same_data(a: Any, b: Any) -> bool:
    """Equal values of equal types, mappings in the same key order (``1 == 1.0 == True``
    in Python, not in a spec)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b  # NaN
    return bool(a == b)
