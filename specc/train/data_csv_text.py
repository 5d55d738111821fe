"""The text of a ``.csv`` data file, line by line, within limits.

A line is read whole before ``csv`` splits it, so its length is bounded
(``Limits.csv_line``) before it is read, as are its columns (``Limits.csv_columns``) before
it is split and each field (``Limits.csv_field``) while it is. Bytes that are not UTF-8 and
NUL bytes are refused with the line they are on.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import BinaryIO

from specc.diagnostics import Diagnostic, SpecError
from specc.limits import Limits
from specc.train.data_codes import DATA_FILE, DATA_LIMIT


def fail(file: str, message: str, code: str = DATA_FILE) -> SpecError:
    """One problem with the whole data file."""
    return SpecError([Diagnostic(code, message, (), file)])


def too_many_columns(file: str, line: int, count: int | None, limits: Limits) -> SpecError:
    """Line ``line`` has ``count`` columns (None: more than the limit, not counted)."""
    got = f"{count:,} columns" if count is not None else "more columns than the limit"
    return fail(
        file,
        f"line {line} has {got}; {limits.hint('csv_columns', count)}",
        DATA_LIMIT,
    )


def _lines(handle: BinaryIO, file: str, limits: Limits) -> Iterator[str]:
    number = 0
    while True:
        raw = handle.readline(limits.csv_line + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limits.csv_line:
            raise fail(
                file,
                f"line {number} is longer than the limit on one line; {limits.hint('csv_line')}",
                DATA_LIMIT,
            )
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if b"\0" in raw:
            raise fail(file, f"line {number} holds a NUL byte; a .csv data file is text")
        # Fewer separators than the limit bound the columns before csv splits the line;
        # commas inside quotes would be counted too, so a quoted line is split and counted.
        if raw.count(b",") >= limits.csv_columns and b'"' not in raw:
            raise too_many_columns(file, number, None, limits)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(
                file,
                f"line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                f"{exc.start + 1}); save the file as UTF-8",
            ) from None


def rows(handle: BinaryIO, file: str, limits: Limits) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row of the file with the line it starts on, cells as written.

    ``csv``'s field size limit is process-wide; it is set to ``limits.csv_field`` while
    the rows are read and restored after.
    """
    reader = csv.reader(_lines(handle, file, limits))
    previous = csv.field_size_limit(limits.csv_field)
    try:
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _csv_error(file, reader.line_num, exc, limits) from None
            if row:  # a blank line
                yield line, row
            line = reader.line_num + 1
    finally:
        csv.field_size_limit(previous)


def _csv_error(file: str, line: int, exc: csv.Error, limits: Limits) -> SpecError:
    # csv has one exception type for every problem; only its text tells this one apart.
    if "field larger than field limit" in str(exc):
        return fail(
            file,
            f"line {line} has a field longer than the limit on one field; "
            f"{limits.hint('csv_field')}",
            DATA_LIMIT,
        )
    return fail(file, f"line {line} cannot be read as .csv: {exc}")
