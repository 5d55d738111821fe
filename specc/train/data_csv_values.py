"""Turning the columns a ``.csv`` data file's inputs and outputs need into numbers.

One pass over the rows after the header keeps only the cells of the planned columns and
converts them a block of rows at a time, so memory grows with the numbers kept, never with
the text around them (a long note in another column is dropped as its row is read).
Whole numbers come back as int64 (exact class labels and ids, also past 2**53 when written
as integers), anything else as float64.
"""

from __future__ import annotations

import contextlib
from array import array
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from specc.escape import excerpt
from specc.train.data_checks import ArrayChecker
from specc.train.data_codes import DATA_FILE
from specc.train.data_csv_text import fail, rows

if TYPE_CHECKING:
    from specc.train.data_csv import CsvTable

# Integers below this are exact in float64.
_EXACT = 2**53
# Cells turned into numbers at a time.
_BLOCK_CELLS = 2**20


def read_columns(
    table: CsvTable, plans: dict[str, list[int]], checker: ArrayChecker
) -> dict[str, np.ndarray]:
    """The values of each planned name (its columns, in order), one row per sample; fills
    ``table.lines``. A cell that is not a number is recorded and its name left out; a
    ragged line raises ``SpecError``."""
    return _Reader(table, plans, checker).run()


def is_number(text: str) -> bool:
    """Whether Python reads ``text`` as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Reader:
    """One pass over a table's rows, turning the planned columns into numbers."""

    def __init__(self, table: CsvTable, plans: dict[str, list[int]], checker: ArrayChecker):
        self.table, self.checker = table, checker
        self.plans = plans
        self.getters = {name: itemgetter(*columns) for name, columns in plans.items()}
        self.cells: dict[str, list[str]] = {name: [] for name in plans}
        self.blocks: dict[str, list[np.ndarray]] = {name: [] for name in plans}
        self.failed: set[str] = set()
        width = sum(len(columns) for columns in plans.values())
        self.block_rows = max(1, _BLOCK_CELLS // max(width, 1))

    def run(self) -> dict[str, np.ndarray]:
        table = self.table
        table.lines = array("q")
        block_start = 0
        with open(table.file, "rb") as handle:
            body = rows(handle, table.file, table.limits)
            next(body, None)  # the header, read by read_csv
            for line, row in body:
                if len(row) != len(table.header):
                    raise fail(
                        table.file,
                        f"line {line} has {len(row):,} value{'s' * (len(row) != 1)}; the "
                        f"header names {len(table.header):,} columns",
                    )
                table.lines.append(line)
                for name, getter in self.getters.items():
                    picked = getter(row)
                    self.cells[name].extend((picked,) if isinstance(picked, str) else picked)
                if len(table.lines) - block_start >= self.block_rows:
                    self._convert(block_start)
                    block_start = len(table.lines)
        self._convert(block_start)
        return {name: self._joined(name) for name in self.plans if name not in self.failed}

    def _convert(self, start: int) -> None:
        for name, cells in self.cells.items():
            if name in self.failed or not cells:
                continue
            try:
                values = np.array(cells, dtype=np.float64)
            except ValueError:
                self._not_a_number(name, cells, start)
                continue
            if _whole(values) and np.any(abs(values) >= _EXACT):
                # Integers past float64's exact range: read again as int64 when they are
                # written as integers, so that ids and labels stay exact.
                with contextlib.suppress(ValueError, OverflowError):
                    values = np.array(cells, dtype=np.int64)
            self.blocks[name].append(values.reshape(-1, len(self.plans[name])))
            cells.clear()

    def _not_a_number(self, name: str, cells: list[str], start: int) -> None:
        self.failed.add(name)
        width = len(self.plans[name])
        for k, text in enumerate(cells):
            if not is_number(text.strip()):
                got = f"'{excerpt(text.strip())}'" if text.strip() else "an empty cell"
                column = self.plans[name][k % width]
                self.checker.fail(
                    DATA_FILE,
                    f"column {self.table.heading(column)} must hold numbers; got {got} at "
                    f"{self.table.where(start + k // width)}",
                )
                return
        self.checker.fail(DATA_FILE, f"{self.table.noun(name)} must hold numbers")

    def _joined(self, name: str) -> np.ndarray:
        blocks = self.blocks[name]
        if not blocks:
            return np.zeros((0, len(self.plans[name])), np.int64)
        # All whole numbers: integers (exact class labels and ids); else floats.
        if all(b.dtype.kind == "i" or (_whole(b) and not np.any(abs(b) >= _EXACT)) for b in blocks):
            return np.concatenate([b.astype(np.int64) for b in blocks])
        return np.concatenate([b.astype(np.float64) for b in blocks])


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values) & (values == np.round(values))))
