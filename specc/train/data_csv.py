"""Reading a ``.csv`` data file into named arrays.

A header row names the columns. A column named exactly like an input or output holds one
number per sample; columns ``name[0]``, ``name[1]``, ... hold a sample's values flattened
in C order (row-major, as NumPy's ``reshape``), and are reshaped to the input's or label's
shape. Columns nobody asks for are never parsed, so they may hold text (ids, notes).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.train.data_checks import DATA_FILE, DATA_SHAPE, ArrayChecker
from specc.types import TensorType

_INDEXED = re.compile(r"(?P<base>.+)\[(?P<index>\d+)\]")


def _fail(file: str, message: str) -> SpecError:
    return SpecError([Diagnostic(DATA_FILE, message, (), file)])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _indexed_noun(name: str, indexed: dict[int, int]) -> str:
    last = max(indexed)
    return f"columns '{name}[0]' to '{name}[{last}]'" if last else f"column '{name}[0]'"


@dataclass
class CsvTable:
    """The header and the (still textual) cells of a ``.csv`` data file."""

    file: str
    header: list[str]
    cells: np.ndarray  # (rows, columns), str
    lines: list[int]  # the file line each row came from, for messages
    _columns: dict[str, tuple[int | None, dict[int, int]]] = field(default_factory=dict)

    def columns(self, name: str) -> tuple[int | None, dict[int, int]]:
        """The column named ``name`` (or None), and the columns ``name[i]`` by ``i``."""
        if name not in self._columns:
            pattern = re.compile(re.escape(name) + r"\[(\d+)\]")
            indexed: dict[int, int] = {}
            for column, heading in enumerate(self.header):
                match = pattern.fullmatch(heading)
                if match:
                    indexed.setdefault(int(match[1]), column)
            scalar = self.header.index(name) if name in self.header else None
            self._columns[name] = (scalar, indexed)
        return self._columns[name]

    def noun(self, name: str) -> str:
        """How messages refer to the data for ``name``."""
        scalar, indexed = self.columns(name)
        if scalar is None and indexed:
            return _indexed_noun(name, indexed)
        if scalar is not None:
            return f"column '{name}'"
        return f"column '{name}' (or columns '{name}[0]', '{name}[1]', ...)"

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

    def array(
        self, name: str, expected: TensorType, role: str, checker: ArrayChecker
    ) -> np.ndarray | None:
        """The samples of ``name`` shaped for ``expected``, or None when its columns are
        missing (nothing recorded: the caller reports it) or wrong (recorded)."""
        scalar, indexed = self.columns(name)
        if scalar is not None and indexed:
            checker.fail(
                DATA_FILE,
                f"both column '{name}' and {_indexed_noun(name, indexed)} are given for "
                f"{role}; "
                "use one of the two forms",
            )
            return None
        if scalar is not None:
            parsed = self._parse([scalar], checker)
            return None if parsed is None else parsed[:, 0]
        if not indexed:
            return None
        count = max(indexed) + 1
        gaps = [i for i in range(count) if i not in indexed]
        if gaps:
            more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
            checker.fail(
                DATA_SHAPE,
                f"{self.noun(name)} for {role} must be numbered without gaps; "
                f"got no column '{name}[{gaps[0]}]'{more}",
            )
            return None
        values = self._parse([indexed[i] for i in range(count)], checker)
        if values is None:
            return None
        return self._reshape(values, expected, role, checker)

    def _parse(self, columns: list[int], checker: ArrayChecker) -> np.ndarray | None:
        block = self.cells[:, columns]
        # Integers stay integers (exact class labels and ids); anything else is float64.
        for dtype in (np.int64, np.float64):
            try:
                return block.astype(dtype)
            except (ValueError, OverflowError):
                pass
        for row, values in enumerate(block):
            for column, text in zip(columns, values, strict=True):
                if not _is_number(text):
                    got = f"'{text}'" if text else "an empty cell"
                    checker.fail(
                        DATA_FILE,
                        f"column '{self.header[column]}' must hold numbers; got {got} at "
                        f"{self.where(row)}",
                    )
                    return None
        return None  # pragma: no cover - NumPy refused what Python's float() reads

    def _reshape(
        self, values: np.ndarray, expected: TensorType, role: str, checker: ArrayChecker
    ) -> np.ndarray | None:
        shape = expected.shape
        if len(shape) <= 1:
            return values  # (rows, k) is already the shape, or a mismatch to report
        known = int(np.prod([d for d in shape if d is not None], dtype=np.int64))
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
            return values  # the shape check names both shapes
        return values.reshape(len(values), *(-1 if d is None else d for d in shape))


def read_csv(file: str) -> CsvTable:
    """The header and cells of a ``.csv`` data file, or ``SpecError`` when it cannot be read
    as one (no such file, no header, rows of different lengths, duplicate columns)."""
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if row:  # blank lines
                    rows.append([cell.strip() for cell in row])
                    lines.append(reader.line_num)
    except FileNotFoundError:
        raise _fail(file, f"no such data file: {file}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(file, f"cannot read data file {file} as .csv: {exc}") from None
    if not rows:
        raise _fail(file, "the file is empty; expected a header row naming the columns")
    header, *body = rows
    if all(_is_number(name) for name in header):
        shown = ",".join(header[:4]) + (",..." if len(header) > 4 else "")
        raise _fail(
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
            problems.append(f"column '{name}' appears twice (columns {seen[name]} and {column})")
        seen.setdefault(name, column)
    for row, line in zip(body, lines[1:], strict=True):
        if len(row) != len(header):
            problems.append(
                f"line {line} has {len(row)} value{'s' * (len(row) != 1)}; the header "
                f"names {len(header)} columns"
            )
            break  # one ragged line is enough to say the file is malformed
    if problems:
        raise SpecError([Diagnostic(DATA_FILE, p, (), file) for p in problems])
    cells = np.array(body, dtype=str).reshape(len(body), len(header))
    return CsvTable(file, header, cells, lines[1:])
