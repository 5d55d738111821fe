"""Reading a ``history.json`` back (``specc plot``): untrusted input, checked whole.

The file is what ``specc train`` writes (``specc.train.outputs``): a mapping from each key
(``loss``, ``val_loss``, each metric) to a list with one value per epoch, where a value is
a number, ``null`` (a NaN or an infinity when written), or, for a per-class metric, a list
of those with one per class. Anything else is refused with one message that says where,
and sizes are bounded before anything is drawn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits

# A history has a few keys per output and metric; a file with more is not one specc wrote,
# and a picture of it would be unreadable long before.
MAX_KEYS = 1_000
# Numbers in the whole file (epochs times keys times classes): ten million is far past
# any run and still drawn in seconds.
MAX_VALUES = 10_000_000
_FLOAT32_MAX = 3.4028234663852886e38


class HistoryError(Exception):
    """A history file that cannot be read or is not a history; the message says where
    (``file:line:col`` for a JSON syntax error, the key and epoch otherwise)."""


@dataclass(frozen=True)
class Series:
    """One history key: a value per epoch, or, for a per-class metric, a list of values
    per epoch with one per class. A missing (non-finite) value is NaN."""

    key: str
    values: list[float] | list[list[float]]
    classes: int | None  # None for a scalar series

    @property
    def epochs(self) -> int:
        """The epochs recorded."""
        return len(self.values)


def read_history(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[Series]:
    """The series of a ``history.json``, in the file's order; ``HistoryError`` for a file
    that is too big, not JSON, or not a history."""
    try:
        size = path.stat().st_size
        if size > limits.file_size:
            raise HistoryError(
                f"{path}: error: the file is {size:,} bytes, more than a history holds; "
                f"{limits.hint('file_size', size)}"
            )
        text = path.read_bytes()[: limits.file_size + 1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path}: error: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise HistoryError(f"{path}: error: cannot read it: {exc.strerror or exc}") from None
    return parse_history(text, str(path))


def parse_history(text: str, file: str = "<history>") -> list[Series]:
    """``read_history`` for text held in memory."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(
            f"{file}:{exc.lineno}:{exc.colno}: error: not valid JSON: {exc.msg}"
        ) from None
    except (RecursionError, ValueError) as exc:
        # Nesting deeper than the parser's stack, or an integer of thousands of digits.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise HistoryError(f"{file}: error: not valid JSON: {reason}") from None
    if not isinstance(data, dict):
        raise HistoryError(
            f"{file}: error: a history is a JSON object mapping each key (loss, val_loss, "
            f"metrics) to a list of values per epoch; got {_kind(data)}"
        )
    if not data:
        raise HistoryError(f"{file}: error: the history holds no keys")
    if len(data) > MAX_KEYS:
        raise HistoryError(
            f"{file}: error: the history holds {len(data):,} keys; at most {MAX_KEYS:,} are drawn"
        )
    series = []
    budget = MAX_VALUES
    for key, values in data.items():
        one = _series(key, values, f"{file}: error: {json.dumps(excerpt(key))}")
        budget -= one.epochs * (one.classes or 1)
        if budget < 0:
            raise HistoryError(f"{file}: error: the history holds more than {MAX_VALUES:,} numbers")
        series.append(one)
    return series


def _series(key: str, values: object, where: str) -> Series:
    if not isinstance(values, list):
        raise HistoryError(f"{where} must be a list with a value per epoch; got {_kind(values)}")
    if len(values) > MAX_VALUES:
        raise HistoryError(f"{where} holds {len(values):,} epochs; at most {MAX_VALUES:,}")
    if not values or not isinstance(values[0], list):
        return Series(key, [_number(v, f"{where}[{k}]") for k, v in enumerate(values)], None)
    classes = len(values[0])
    if not 0 < classes <= MAX_VALUES:
        raise HistoryError(f"{where}[0] must list one value per class; got {classes:,} values")
    rows = []
    for k, row in enumerate(values):
        if not isinstance(row, list) or len(row) != classes:
            raise HistoryError(
                f"{where}[{k}] must be a list of {classes} values, one per class, as epoch 0's "
                f"is; got {_kind(row)}"
            )
        rows.append([_number(v, f"{where}[{k}][{c}]") for c, v in enumerate(row)])
    return Series(key, rows, classes)


def _number(value: object, where: str) -> float:
    """A value as a float, NaN for a missing one: ``null`` (what a non-finite value is
    written as), and a number no training run writes (NaN and Infinity, which Python's
    JSON reads, or past float32's range, in which training computes). Such values would
    leave a plot no finite axis."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HistoryError(f"{where} must be a number or null; got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer past float's range
        return math.nan
    return number if abs(number) <= _FLOAT32_MAX else math.nan  # NaN fails the test too


def _kind(value: object) -> str:
    """What a JSON value is, for a message: its type, and a short excerpt of a string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {json.dumps(excerpt(value, 30))}"
    if isinstance(value, list):
        return f"a list of {len(value):,}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
