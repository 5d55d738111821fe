"""The sample data ``specc export --quantize int8 --data`` measures the int8 model on.

An ``.npz`` with arrays named after the model's inputs (required) and outputs (optional
labels). It is read with every member's size checked before it is inflated, and refused
unless numeric and finite: a NaN compares unequal to everything, so an accuracy measured
on it says nothing (``1.0000 -> 1.0000`` on data that is all NaN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.limits import Limits
from specc.npz import NpzError, read_npz
from specc.types import DTYPES

# The data file codes of ``specc train``: the same problems, reported the same way.
DATA_FILE, MISSING_DATA = "SPC521-data-file", "SPC522-missing-data"
DATA_LENGTH, DATA_SHAPE, DATA_DTYPE = "SPC523-data-length", "SPC524-data-shape", "SPC525-data-dtype"
NOT_FINITE, DATA_LIMIT = "SPC528-not-finite", "SPC530-data-limit"


def load_samples(data: Path, description: dict[str, Any], limits: Limits) -> dict[str, np.ndarray]:
    """The .npz arrays named after the inputs (required) and the outputs (optional),
    numeric and finite, the inputs converted to their dtypes."""
    arrays = _read_npz(data, limits)
    problems = []

    def fail(code: str, message: str) -> None:
        problems.append(Diagnostic(code, message, (), str(data)))

    # NaN or infinity in inputs or labels would make every comparison false (or true) and
    # any accuracy meaningless.
    wanted = [e["name"] for e in description["inputs"]] + [
        e["name"] for e in description["outputs"]
    ]
    usable = {}
    for name in wanted:
        array = arrays.get(name)
        if array is None:
            continue
        if array.dtype.kind not in "biuf":
            fail(DATA_DTYPE, f"array '{name}' must hold numbers; got dtype {array.dtype}")
        elif non_finite(array):
            fail(NOT_FINITE, f"array '{name}' must hold finite numbers; {_first_bad(array)}")
        else:
            usable[name] = array
    samples = set()
    for entry in description["inputs"]:
        name = entry["name"]
        if name not in arrays:
            found_names = ", ".join(sorted(arrays)) or "none"
            fail(MISSING_DATA, f"no array '{name}' for input '{name}'; the file has: {found_names}")
            continue
        if name not in usable:
            continue
        array = usable[name]
        want = entry["shape"][1:]
        fits = array.ndim == len(want) + 1 and all(
            w is None or w == g for w, g in zip(want, array.shape[1:], strict=True)
        )
        if not fits:
            fail(
                DATA_SHAPE,
                f"array '{name}' should have per-sample shape {want}; got {list(array.shape[1:])}",
            )
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            converted = array.astype(DTYPES[entry["dtype"]])
        if non_finite(converted):
            fail(NOT_FINITE, f"array '{name}' must fit {entry['dtype']}; {_first_bad(converted)}")
            continue
        usable[name] = converted
        samples.add(len(array))
    if len(samples) > 1:
        fail(DATA_SHAPE, f"the input arrays have different sample counts: {sorted(samples)}")
    elif samples == {0}:
        fail(DATA_LENGTH, "the input arrays hold no samples")
    if problems:
        raise SpecError(problems)
    return usable


def _first_bad(array: np.ndarray) -> str:
    """How many values are NaN or infinite, and in which sample the first one is."""
    bad = ~np.isfinite(array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1))
    sample = int(np.flatnonzero(bad.any(axis=1))[0])
    return f"got {int(bad.sum()):,} NaN or infinite value(s), the first in sample {sample}"


def non_finite(values: np.ndarray) -> int:
    """How many values are NaN or infinite (0 for integers)."""
    if values.dtype.kind not in "fc":
        return 0
    return int(np.count_nonzero(~np.isfinite(values)))


def _read_npz(data: Path, limits: Limits) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read by ``specc.npz``: each member's header checked
    against ``limits`` before its data is inflated, nothing ever unpickled."""
    try:
        return read_npz(data, limits)
    except NpzError as error:
        code = DATA_LIMIT if error.limit else DATA_FILE
        raise SpecError([Diagnostic(code, error.message, (), str(data))]) from None
