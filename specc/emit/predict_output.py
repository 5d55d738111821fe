"""The file ``specc predict`` writes: ``.npz`` or ``.csv``, chosen by ``--out``'s extension.

``.npz``: one array per name (``specc.emit.predict.Predictions``), labels as NumPy text
arrays (read back without pickle). ``.csv``: a header row, then one row per sample; an
array with one value per sample is one column named after it, any other is flattened in
C order into columns ``name[0]``, ``name[1]``, ... (the layout ``specc train`` reads from a
.csv). Names and labels come from a spec or a trained folder, so every text field is
escaped for CSV (``specc.escape.csv_text``): a label cannot add columns or rows, or run as
a spreadsheet formula. Either file is written atomically (``specc.atomic``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from specc.atomic import open_atomic
from specc.diagnostics import Diagnostic, SpecError
from specc.emit.predict import PREDICTION_FILE
from specc.escape import csv_text, excerpt

FORMATS = (".npz", ".csv")


def check_prediction_path(path: Path) -> None:
    """Refuse an ``--out`` whose extension names no format predict writes, before work."""
    if path.suffix.lower() not in FORMATS:
        message = (
            f"--out must end in {' or '.join(FORMATS)}, which decides the format; "
            f"got '{excerpt(path.name)}'"
        )
        raise SpecError([Diagnostic(PREDICTION_FILE, message, (), str(path))])
    if path.is_dir():
        message = f"--out names a folder; give a file ending in {' or '.join(FORMATS)}"
        raise SpecError([Diagnostic(PREDICTION_FILE, message, (), str(path))])


def write_predictions(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` (one entry per sample each) to ``path`` in its extension's format."""
    check_prediction_path(path)
    if path.suffix.lower() == ".npz":
        with open_atomic(path, "wb") as handle:
            np.savez(handle, **arrays)
        return
    with open_atomic(path, "w", encoding="utf-8") as handle:
        for line in csv_lines(arrays):
            handle.write(line)


def csv_lines(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The CSV text of ``arrays``, line by line (``\\r\\n`` ends each, as RFC 4180 has it)."""
    header: list[str] = []
    columns: list[np.ndarray] = []
    for name, array in arrays.items():
        flat = array.reshape(len(array), -1)
        if array.ndim == 1:
            header.append(csv_text(name))
        else:
            header += [csv_text(f"{name}[{i}]") for i in range(flat.shape[1])]
        columns += [_cells(flat[:, i]) for i in range(flat.shape[1])]
    lines = [",".join(header) + "\r\n"]
    rows = zip(*columns, strict=True) if columns else ()
    lines += [",".join(row) + "\r\n" for row in rows]
    return lines


def _cells(column: np.ndarray) -> list[str]:
    if column.dtype.kind in "US":
        return [csv_text(str(value)) for value in column]
    if column.dtype.kind == "f":
        # The shortest text that reads back as the same float32 (or float16) value.
        return [str(value) for value in column]
    return [str(int(value)) for value in column]
