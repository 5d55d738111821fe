"""Reading a data file's arrays for a model's inputs and outputs, before the value checks.

Each reader (``.npz``, a folder of ``.npy`` files, ``.csv``) finds the array feeding each
input and output (``DataKeys``: its own name unless ``train.data_keys`` names another),
checks what it can before reading values (shapes and dtypes from headers), reads the
arrays that fit, and returns them by input or output name (the sample weights under
``SAMPLE_WEIGHT``) with the names it found no data for and the names nobody asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.escape import excerpt
from specc.limits import Limits
from specc.npz import NpzError, NpzFile, NpzMissing
from specc.train.data_checks import ArrayChecker
from specc.train.data_codes import DATA_FILE, DATA_LIMIT
from specc.train.data_csv import read_csv
from specc.train.data_mapped import map_folder
from specc.train.data_targets import Target
from specc.types import TensorType

#: The key of the sample weights among a file's arrays (no input can be named so).
SAMPLE_WEIGHT = "<sample_weight>"
# What messages say the sample weights feed.
_ROLES = {SAMPLE_WEIGHT: "train.sample_weight"}


@dataclass
class ReadArrays:
    """What a reader found: the arrays by input or output name, the names it has no data
    for, the file's names nobody asked for, and the checker holding the problems so far."""

    checker: ArrayChecker
    arrays: dict[str, np.ndarray]
    absent: set[str]
    unused: list[str]


def fail(file: str, message: str, code: str = DATA_FILE) -> SpecError:
    """One problem with the data file ``file``."""
    return SpecError([Diagnostic(code, message, (), file)])


def array_checker(file: str, sources: Mapping[str, str]) -> ArrayChecker:
    """A checker whose messages name each array as the file does."""
    return ArrayChecker(file, _array_noun(sources), _sample_where, _ROLES)


def _array_noun(sources: Mapping[str, str]) -> Callable[[str], str]:
    """How messages name the array feeding an input or output (its own name by default)."""
    return lambda name: f"array '{excerpt(sources.get(name, name))}'"


def _sample_where(row: int) -> str:
    return f"sample {row}"


def found_arrays(
    checker: ArrayChecker,
    arrays: dict[str, np.ndarray],
    names: list[str],
    sources: Mapping[str, str],
) -> ReadArrays:
    """``arrays`` read from a file holding ``names``."""
    used = set(sources.values())
    absent = {name for name, source in sources.items() if source not in names}
    return ReadArrays(checker, arrays, absent, [name for name in names if name not in used])


def _fitting(
    checker: ArrayChecker,
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    headers: Mapping[str, tuple[tuple[int, ...], np.dtype]],
    values: Callable[[str], np.ndarray],
) -> list[str]:
    """The names whose array's header (shape, dtype) fits them; the others are recorded.
    ``values`` reads an array, for a hint that needs its values."""
    fitting = []
    for name, source in sources.items():
        header = headers.get(source)
        target = targets.get(name)
        expected = inputs[name] if target is None else target.type
        if header is not None and checker.check_form(
            name, *header, expected, target, lambda source=source: values(source)
        ):
            fitting.append(name)
    return fitting


def read_npz(
    file: str,
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    limits: Limits,
) -> ReadArrays:
    """The arrays of an ``.npz`` whose headers fit (see ``specc.npz``; problems with the
    others are recorded). Nothing of an array that does not fit is read, however big it
    claims to be."""
    checker = array_checker(file, sources)
    try:
        with NpzFile(file, limits) as npz:
            if not npz.members:
                raise fail(file, "the file holds no arrays (an empty .npz)")
            headers = {key: (m.shape, m.dtype) for key, m in npz.members.items()}
            fitting = _fitting(
                checker, sources, inputs, targets, headers, lambda key: npz.read([key])[key]
            )
            read = npz.read(dict.fromkeys(sources[name] for name in fitting))
            arrays = {name: read[sources[name]] for name in fitting}
            return found_arrays(checker, arrays, list(npz.members), sources)
    except NpzMissing:
        raise fail(file, f"no such data file: {file}") from None
    except NpzError as error:
        raise fail(file, error.message, DATA_LIMIT if error.limit else DATA_FILE) from None


def read_npy_folder(
    folder: Path,
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
) -> ReadArrays:
    """``read_npz`` for a folder of ``.npy`` files, memory-mapped instead of read."""
    checker = array_checker(str(folder), sources)
    try:
        mapped, names = map_folder(folder, sources.values())
    except NpzError as error:
        raise fail(str(folder), error.message) from None
    headers = {key: (a.shape, a.dtype) for key, a in mapped.items()}
    fitting = _fitting(checker, sources, inputs, targets, headers, lambda key: mapped[key])
    return found_arrays(checker, {name: mapped[sources[name]] for name in fitting}, names, sources)


def read_csv_arrays(
    file: str,
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    limits: Limits,
) -> ReadArrays:
    """The columns of a ``.csv`` (see ``specc.train.data_csv``), shaped per input or
    output; a column group may feed two (an autoencoder's input and output)."""
    table = read_csv(file, limits)
    checker = ArrayChecker(
        file, lambda name: table.noun(sources.get(name, name)), table.where, _ROLES
    )
    plans: dict[str, list[int]] = {}
    roles: dict[str, tuple[TensorType, str]] = {}
    absent: set[str] = set()
    label_types = {name: t.type for name, t in targets.items()}
    for role, types in (("input", inputs), ("output", label_types)):
        for name, wanted in types.items():
            source = sources[name]
            scalar, indexed = table.columns(source)
            if scalar is None and not indexed:
                absent.add(name)
                continue
            roles[name] = (wanted, _ROLES.get(name) or f"{role} '{name}'")
            if source not in plans:
                columns = table.plan(source, wanted, roles[name][1], checker)
                if columns is not None:
                    plans[source] = columns
    values = table.read(plans, checker)
    shaped = {
        name: table.shaped(sources[name], values[sources[name]], *roles[name], checker)
        for name in roles
        if sources[name] in values
    }
    arrays = {name: array for name, array in shaped.items() if array is not None}
    unused = table.unused(list(dict.fromkeys(sources.values())))
    return ReadArrays(checker, arrays, absent, unused)
