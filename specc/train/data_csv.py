"""Reading a ``.csv`` data file into named arrays.

A header row names the columns. A column named exactly like an input or output holds one
number per sample; columns ``name[0]``, ``name[1]``, ... hold a sample's values flattened
in C order (row-major, as NumPy's ``reshape``), and are reshaped to the input's or label's
shape. Columns nobody asks for are never parsed, so they may hold text (ids, notes).

The header is read first; column indices are checked against the shape they fill before
anything else is read. Then one pass over the rows keeps only the columns asked for
(``specc.train.data_csv_values``), within the limits on lines, columns and fields
(``specc.train.data_csv_text``).
"""

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass, field

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits
from specc.train.data_checks import ArrayChecker
from specc.train.data_codes import DATA_FILE, DATA_SHAPE
from specc.train.data_csv_text import fail, rows, too_many_columns
from specc.train.data_csv_values import is_number, read_columns
from specc.types import TensorType

# ``name[i]``: ASCII digits (``x[03]`` is ``x[3]``; both at once is an error).
_INDEX = r"\[([0-9]+)\]"
_INDEXED = re.compile(r"(?P<base>.+)" + _INDEX)
# Indices longer than this are past any shape (and int() refuses 4,300 digits and more).
_MAX_DIGITS = 18
_TOO_BIG = 10**_MAX_DIGITS
# Problems of one kind listed one by one, at most.
_SHOWN = 10


def _index(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else _TOO_BIG


@dataclass
class CsvTable:
    """The header of a ``.csv`` data file, and once ``read``, the columns asked for."""

    file: str
    header: list[str]
    limits: Limits = DEFAULT_LIMITS
    lines: array = field(default_factory=lambda: array("q"))  # each row's file line
    _columns: dict[str, tuple[int | None, dict[int, int]]] = field(default_factory=dict)
    _repeated: dict[str, tuple[int, int]] = field(default_factory=dict)  # two columns, one index

    def columns(self, name: str) -> tuple[int | None, dict[int, int]]:
        """The column named ``name`` (or None), and the columns ``name[i]`` by ``i``."""
        if name not in self._columns:
            pattern = re.compile(re.escape(name) + _INDEX)
            indexed: dict[int, int] = {}
            for column, heading in enumerate(self.header):
                match = pattern.fullmatch(heading)
                if match:
                    first = indexed.setdefault(_index(match[1]), column)
                    if first != column:
                        self._repeated.setdefault(name, (first, column))
            scalar = self.header.index(name) if name in self.header else None
            self._columns[name] = (scalar, indexed)
        return self._columns[name]

    def heading(self, column: int) -> str:
        """A column's name, quoted for messages."""
        return f"'{excerpt(self.header[column])}'"

    def noun(self, name: str) -> str:
        """How messages refer to the data for ``name``."""
        scalar, indexed = self.columns(name)
        if scalar is None and indexed:
            return self._indexed_noun(indexed)
        if scalar is not None:
            return f"column '{excerpt(name)}'"
        return f"column '{name}' (or columns '{name}[0]', '{name}[1]', ...)"

    def _indexed_noun(self, indexed: dict[int, int]) -> str:
        first, last = indexed[min(indexed)], indexed[max(indexed)]
        if first == last:
            return f"column {self.heading(last)}"
        return f"columns {self.heading(first)} to {self.heading(last)}"

    def where(self, row: int) -> str:
        """Where a sample is, for messages: its line in the file."""
        return f"line {self.lines[row]}"

    def unused(self, wanted: list[str]) -> list[str]:
        """The names (``x`` for ``x[0]``, ``x[1]``, ...) of columns no wanted name uses."""
        used: set[int] = set()
        for name in wanted:
            scalar, indexed = self.columns(name)
            used.update(indexed.values())
            if scalar is not None:
                used.add(scalar)
        names: dict[str, None] = {}
        for column, heading in enumerate(self.header):
            if column not in used:
                match = _INDEXED.fullmatch(heading)
                names[match["base"] if match else heading] = None
        return list(names)

    def plan(
        self, name: str, expected: TensorType, role: str, checker: ArrayChecker
    ) -> list[int] | None:
        """The columns holding ``name``'s values, in order, or None when they are missing
        (nothing recorded: the caller reports it) or wrong (recorded): both forms given,
        an index past the values of ``expected``, gaps. Nothing is read."""
        scalar, indexed = self.columns(name)
        if scalar is not None and indexed:
            checker.fail(
                DATA_FILE,
                f"both column '{excerpt(name)}' and {self._indexed_noun(indexed)} are given for "
                f"{role}; "
                "use one of the two forms",
            )
            return None
        if scalar is not None:
            return [scalar]
        if not indexed:
            return None
        if name in self._repeated:
            first, second = self._repeated[name]
            checker.fail(
                DATA_FILE,
                f"columns {self.heading(first)} and {self.heading(second)} give the same "
                f"value of {role}; keep one of them",
            )
            return None
        last = max(indexed)
        if last + 1 == len(indexed):
            return [indexed[i] for i in range(len(indexed))]
        # Gaps. An index past every value of a fixed shape is likelier a typo than a gap.
        size = math.prod(expected.shape) if None not in expected.shape else None
        if size is not None and last >= size:
            checker.fail(
                DATA_SHAPE,
                f"column {self.heading(indexed[last])} is past the {size:,} values of "
                f"{role} (shape {expected}); its columns are '{excerpt(name)}[0]' to "
                f"'{excerpt(name)}[{size - 1}]'",
            )
            return None
        # The first missing index, without building the range up to a huge ``last``.
        present = sorted(indexed)
        first = next((i for i, index in enumerate(present) if index != i), len(present))
        more = last + 1 - len(indexed) - 1 if last < _TOO_BIG else 0
        checker.fail(
            DATA_SHAPE,
            f"{self.noun(name)} for {role} must be numbered without gaps; got no column "
            f"'{excerpt(name)}[{first}]'" + (f" (and {more:,} more)" if more else ""),
        )
        return None

    def read(self, plans: dict[str, list[int]], checker: ArrayChecker) -> dict[str, np.ndarray]:
        """The values of each planned name, one row per sample: int64 where all are whole
        numbers (exact class labels and ids), else float64. A cell that is not a number is
        recorded and its name left out; a ragged line raises ``SpecError``."""
        return read_columns(self, plans, checker)

    def shaped(
        self, name: str, values: np.ndarray, expected: TensorType, role: str, checker: ArrayChecker
    ) -> np.ndarray | None:
        """The values of ``name`` (one row per sample) shaped for ``expected``, as far as
        they fit (a mismatch is left for the shape check, which names both shapes)."""
        if self.columns(name)[0] is not None:
            return values[:, 0]  # one column: one value per sample
        shape = expected.shape
        if len(shape) <= 1:
            return values  # (rows, k) is already the shape, or a mismatch to report
        known = math.prod(d for d in shape if d is not None)
        variable = sum(d is None for d in shape)
        if variable > 1:
            checker.fail(
                DATA_SHAPE,
                f"{role} has shape {expected} with several variable dimensions, which "
                "columns cannot give; use a .npz file",
            )
            return None
        count = values.shape[1]
        if count % known or (not variable and count != known):
            return values
        return values.reshape(len(values), *(-1 if d is None else d for d in shape))


def read_csv(file: str, limits: Limits = DEFAULT_LIMITS) -> CsvTable:
    """The header of a ``.csv`` data file, or ``SpecError`` when it cannot be read as one
    (no such file, no header, too many columns, duplicate or unnamed columns)."""
    try:
        with open(file, "rb") as handle:
            first = next(rows(handle, file, limits), None)
    except FileNotFoundError:
        raise fail(file, f"no such data file: {file}") from None
    except OSError as exc:
        raise fail(file, f"cannot read data file {file}: {exc.strerror or exc}") from None
    if first is None:
        raise fail(file, "the file is empty; expected a header row naming the columns")
    line, cells = first
    header = [cell.strip() for cell in cells]
    if len(header) > limits.csv_columns:
        raise too_many_columns(file, line, len(header), limits)
    if all(is_number(name) for name in header):
        shown = excerpt(",".join(header[:4]) + (",..." if len(header) > 4 else ""))
        raise fail(
            file,
            f"the first row must be a header naming the columns (inputs and outputs, "
            f"'x[0]', 'x[1]', ... for several values); got numbers: {shown}",
        )
    problems: list[str] = []
    seen: dict[str, int] = {}
    for column, name in enumerate(header, 1):
        if not name:
            problems.append(f"header column {column} has no name")
        elif name in seen:
            problems.append(
                f"column '{excerpt(name)}' appears twice (columns {seen[name]} and {column})"
            )
        seen.setdefault(name, column)
    if problems:
        shown = problems[:_SHOWN]
        if len(problems) > _SHOWN:
            shown.append(f"and {len(problems) - _SHOWN:,} more problems with the header")
        raise SpecError([Diagnostic(DATA_FILE, problem, (), file) for problem in shown])
    return CsvTable(file, header, limits)
