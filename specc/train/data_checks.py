"""Checking named data arrays against a model's inputs and its outputs' label types.

Every array is checked on its own (shape per sample, dtype, finiteness, class range), then
the arrays against each other (one entry per sample in each); every problem found becomes a
diagnostic, and they are raised together. What is accepted follows what Keras's ``fit``
accepts from NumPy arrays (docs/data.md has the rules):

- a trailing axis of size 1 may be missing or extra, as Keras 3's functional model adjusts
  input ranks and its losses squeeze or expand labels;
- float inputs and labels take float, integer and bool arrays and cast them, as Keras casts
  to the input's dtype; integer ones take integer arrays, and float arrays whose values are
  whole numbers (CSV columns and NumPy's float defaults make those common); bool ones take
  bools, or numbers that are all 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from specc.diagnostics import Diagnostic, suggest
from specc.escape import excerpt
from specc.train.data_codes import (
    DATA_DTYPE,
    DATA_LENGTH,
    DATA_SHAPE,
    EMBEDDING_ID,
    LABEL_RANGE,
    MISSING_DATA,
    NOT_FINITE,
)
from specc.train.data_mapped import MappedArray, is_mapped, row_blocks
from specc.train.data_shapes import fit_rank, fit_shape, shape_problem
from specc.train.data_targets import IdRange, Target
from specc.types import FLOAT_DTYPES, INT_DTYPES, TensorType


def _fmt_value(value: np.generic) -> str:
    # NumPy's str() is the shortest text that reads back as the same value in its own
    # dtype ("0.1" for a float32, where float() would show 0.10000000149011612).
    return str(value)


def _whole(array: np.ndarray) -> bool:
    if array.dtype.kind in "biu":
        return True
    return bool(np.all(np.isfinite(array) & (array == np.round(array))))


@dataclass
class ArrayChecker:
    """Checks the arrays of one data file; ``problems`` collects what is wrong."""

    file: str
    # How messages refer to an array ("array 'x'", "columns 'x[0]' to 'x[63]'") and to a
    # sample ("sample 12", "line 14"): the wording differs between .npz and .csv.
    noun: Callable[[str], str]
    where: Callable[[int], str]
    # Arrays that feed no input or output (the sample weights), by key: how messages name
    # what they feed ("train.sample_weight").
    roles: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.problems: list[Diagnostic] = []

    def fail(self, code: str, message: str) -> None:
        """Record one problem with the data file."""
        self.problems.append(Diagnostic(code, message, (), self.file))

    def _first(self, array: np.ndarray, bad: np.ndarray) -> str:
        # The first offending value, where it is, and how many more there are.
        position = tuple(np.argwhere(bad)[0])
        more = int(np.count_nonzero(bad)) - 1
        tail = f" (and {more} more)" if more else ""
        return f"{_fmt_value(array[position])} at {self.where(int(position[0]))}{tail}"

    def check(
        self,
        name: str,
        array: np.ndarray,
        expected: TensorType,
        target: Target | None,
        ids: IdRange | None = None,
    ) -> np.ndarray | MappedArray | None:
        """``array`` converted to ``expected`` (dtype and rank), or None after recording why
        it cannot be. ``ids``: the input's values index an Embedding's rows."""
        what = self._what(name, target)
        if not self.check_form(name, array.shape, array.dtype, expected, target, lambda: array):
            return None
        if is_mapped(array):
            return self._check_mapped(name, array, expected, target, ids)
        fitted = fit_rank(array, expected.shape)
        if fitted is None:  # pragma: no cover - check_form refused the shape
            return None
        converted = self._convert(what, fitted, expected.dtype, target)
        if converted is not None and ids is not None and not self._check_ids(what, converted, ids):
            return None
        return converted

    def _check_mapped(
        self,
        name: str,
        array: np.ndarray,
        expected: TensorType,
        target: Target | None,
        ids: IdRange | None,
    ) -> MappedArray | None:
        """A memory-mapped array checked a block of samples at a time (the first block
        with a problem is reported, its samples numbered in the whole array) and left on
        disk, to be converted batch by batch."""
        where = self.where
        for start, block in row_blocks(array):
            part = ArrayChecker(
                self.file, self.noun, lambda row, at=start: where(at + row), self.roles
            )
            part.check(name, block, expected, target, ids)
            if part.problems:
                self.problems.extend(part.problems)
                return None
        fitted = fit_rank(array, expected.shape)
        return None if fitted is None else MappedArray(fitted, expected.dtype)

    def check_form(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        expected: TensorType,
        target: Target | None,
        values: Callable[[], np.ndarray],
    ) -> bool:
        """Whether an array of ``shape`` and ``dtype`` can be converted to ``expected``
        (recording why not), judged before its values are read: ``values`` reads them, and
        is called only for a hint that needs them."""
        what = self._what(name, target)
        if not shape:
            self.fail(
                DATA_SHAPE,
                f"{what} must have shape {expected}; got a scalar (one value for all samples)",
            )
            return False
        if dtype.kind not in "biuf":
            self.fail(
                DATA_DTYPE,
                f"{what} must hold numbers ({expected.dtype}); got dtype {dtype}",
            )
            return False
        if fit_shape(shape[1:], expected.shape) is None:
            self.fail(*shape_problem(what, shape, expected, target, lambda: _whole(values())))
            return False
        return True

    def _what(self, name: str, target: Target | None) -> str:
        return f"{self.noun(name)} for {self._role(name, 'output' if target else 'input')}"

    def _role(self, name: str, kind: str) -> str:
        return self.roles.get(name) or f"{kind} '{name}'"

    def _convert(
        self, what: str, array: np.ndarray, dtype: str, target: Target | None
    ) -> np.ndarray | None:
        if array.dtype.kind == "f":
            bad = ~np.isfinite(array)
            if bad.any():
                self.fail(
                    NOT_FINITE,
                    f"{what} must hold finite numbers; got {self._first(array, bad)}",
                )
                return None
        if dtype in FLOAT_DTYPES:
            with np.errstate(over="ignore"):  # an overflow becomes inf, reported below
                converted = array.astype(dtype)
            bad = ~np.isfinite(converted)
            if bad.any():
                self.fail(
                    NOT_FINITE,
                    f"{what} must hold numbers that fit {dtype}; got {self._first(array, bad)}",
                )
                return None
            return np.ascontiguousarray(converted)
        if dtype == "bool":
            bad = (array != 0) & (array != 1)
            if bad.any():
                self.fail(
                    DATA_DTYPE,
                    f"{what} must hold booleans (bool, or numbers 0 and 1); "
                    f"got {self._first(array, bad)}",
                )
                return None
            return np.ascontiguousarray(array.astype(bool))
        if dtype not in INT_DTYPES:
            raise ValueError(f"internal error: no conversion to {dtype}")
        kind = "class indices" if target is not None and target.form == "sparse" else dtype
        if array.dtype.kind == "f":
            bad = array != np.round(array)
            if bad.any():
                self.fail(
                    DATA_DTYPE,
                    f"{what} must hold whole numbers ({kind}); got {self._first(array, bad)}",
                )
                return None
        if (
            target is not None
            and target.form == "sparse"
            and not self._check_classes(what, array, target)
        ):
            return None
        info = np.iinfo(dtype)
        bad = (array < info.min) | (array > info.max)
        if bad.any():
            self.fail(
                DATA_DTYPE,
                f"{what} must hold numbers within the range of {dtype}; "
                f"got {self._first(array, bad)}",
            )
            return None
        return np.ascontiguousarray(array.astype(dtype))

    def _check_classes(self, what: str, array: np.ndarray, target: Target) -> bool:
        bad = array < 0
        if target.classes is not None:
            bad |= array >= target.classes
        if target.ignore_class is not None:
            bad &= array != target.ignore_class
        if not bad.any():
            return True
        needed = "0 or more"
        if target.classes is not None:
            needed = f"0 to {target.classes - 1}, for {target.classes} classes"
        if target.ignore_class is not None:
            needed += f", or ignore_class {target.ignore_class}"
        self.fail(
            LABEL_RANGE,
            f"{what} must hold class indices {needed}; got {self._first(array, bad)}",
        )
        return False

    def _check_ids(self, what: str, array: np.ndarray, ids: IdRange) -> bool:
        # The Embedding truncates float ids towards zero, as Keras's cast to int does; the
        # engine would stop mid-training on an id past its table.
        values = np.trunc(array) if array.dtype.kind == "f" else array
        bad = (values < 0) | (values >= ids.count)
        if not bad.any():
            return True
        self.fail(
            EMBEDDING_ID,
            f"{what} feeds Embedding layer '{ids.layer}' (input_dim {ids.count}), so it must "
            f"hold ids 0 to {ids.count - 1}; got {self._first(array, bad)}; raise input_dim "
            "or map the ids into range",
        )
        return False

    def missing(self, name: str, expected: TensorType, role: str, available: list[str]) -> None:
        """Record that no array was found for an input or output."""
        best = suggest(name, available)
        if best is not None:
            hint = f"; did you mean '{excerpt(best)}'?"
        elif not available:
            hint = ""
        elif len(available) <= 10:
            hint = "; the file has " + ", ".join(f"'{excerpt(a)}'" for a in available)
        else:
            hint = f"; the file has {len(available)} others"
        self.fail(
            MISSING_DATA,
            f"no {self.noun(name)} for {self._role(name, role)} of shape {expected}{hint}",
        )

    def check_lengths(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Record arrays whose sample counts differ from the first one's, or none at all."""
        if not arrays:
            return
        first, *others = arrays
        count = len(arrays[first])
        if count == 0:
            self.fail(DATA_LENGTH, f"{self.noun(first)} holds no samples; the data is empty")
        for name in others:
            if len(arrays[name]) != count:
                self.fail(
                    DATA_LENGTH,
                    f"{self.noun(name)} has {len(arrays[name])} samples but "
                    f"{self.noun(first)} has {count}; every array needs one entry per sample",
                )


def check_arrays(
    checker: ArrayChecker,
    arrays: Mapping[str, np.ndarray],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    absent: Collection[str],
    unused: list[str],
    ids: Mapping[str, IdRange] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The inputs and targets among ``arrays``, checked and converted; problems go to
    ``checker`` (the caller raises them).

    ``absent`` are the wanted names the file has no data for, ``unused`` the names it has
    that nothing wants (offered as suggestions). A wanted name in neither ``arrays`` nor
    ``absent`` was found but could not be read, which the reader has reported. ``ids``:
    the inputs that index an Embedding (see ``id_ranges``), checked against its size.
    """
    ids = ids or {}
    checked: dict[str, np.ndarray] = {}
    for name in [*inputs, *targets]:
        target = targets.get(name)
        expected = inputs[name] if target is None else target.type
        if name in absent:
            checker.missing(name, expected, "input" if target is None else "output", unused)
        elif name in arrays:
            result = checker.check(
                name, arrays[name], expected, target, ids.get(name) if target is None else None
            )
            if result is not None:
                checked[name] = result
    checker.check_lengths({name: a for name, a in arrays.items() if a.ndim > 0})
    return (
        {name: checked[name] for name in inputs if name in checked},
        {name: checked[name] for name in targets if name in checked},
    )
