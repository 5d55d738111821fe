"""Training data: arrays named after a spec's inputs and outputs, checked, split and batched.

``load_dataset`` reads a ``.npz`` (one array per name) or a ``.csv`` (columns named so, see
``specc.train.data_csv``) and checks every array against the model's input types and the
label types its losses take (``specc.train.data_checks``), reporting every problem at once
as ``SPC5xx`` diagnostics on the data file. ``Dataset`` then does what Keras's ``fit`` does
with NumPy arrays: ``validation_split`` takes the last samples, before any shuffling, and
each epoch's batches come from one permutation of the whole (training) set, the last batch
smaller when the sample count is not a multiple of the batch size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from specc.diagnostics import Diagnostic, SpecError
from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits
from specc.npz import NpzError, NpzFile, NpzMissing
from specc.train.data_checks import ArrayChecker, check_arrays
from specc.train.data_codes import DATA_FILE, DATA_LIMIT, VALIDATION_SPLIT
from specc.train.data_csv import read_csv
from specc.train.data_targets import IdRange, Target, id_ranges, targets_for
from specc.types import TensorType

__all__ = ["Batch", "Dataset", "IdRange", "Target", "id_ranges", "load_dataset", "targets_for"]


@dataclass(frozen=True)
class Batch:
    """One batch: input arrays by input name, label arrays by output name."""

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        """The number of samples in the batch."""
        return len(next(iter({**self.inputs, **self.targets}.values())))


class Dataset:
    """Checked arrays, one entry per sample: inputs by input name, labels by output name.

    Build one with ``load_dataset`` or ``Dataset.from_arrays``; both check the arrays. The
    arrays already have the model's dtypes and per-sample shapes.
    """

    def __init__(
        self,
        inputs: Mapping[str, np.ndarray],
        targets: Mapping[str, np.ndarray],
        *,
        file: str = "<arrays>",
        unused: tuple[str, ...] = (),
    ) -> None:
        self.inputs = dict(inputs)
        self.targets = dict(targets)
        self.file = file
        #: Names in the data that no input or output takes; ignored, as Keras ignores them.
        self.unused = unused
        lengths = {len(a) for a in [*self.inputs.values(), *self.targets.values()]}
        if len(lengths) != 1:
            raise ValueError(f"a dataset needs arrays of one length; got lengths {lengths}")
        self._length = lengths.pop()

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, ArrayLike],
        inputs: Mapping[str, TensorType],
        targets: Mapping[str, TensorType | Target],
        *,
        file: str = "<arrays>",
        ids: Mapping[str, IdRange] | None = None,
    ) -> Dataset:
        """A dataset from in-memory arrays, checked as ``load_dataset`` checks a file's."""
        as_arrays = {name: np.asarray(value) for name, value in arrays.items()}
        checker = ArrayChecker(file, _array_noun, _sample_where)
        return _checked(checker, as_arrays, inputs, _targets(targets), ids=ids)

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return (
            f"Dataset({self._length} samples, inputs {list(self.inputs)}, "
            f"targets {list(self.targets)}, file {self.file!r})"
        )

    def take(self, indices: slice | np.ndarray) -> Dataset:
        """The samples at ``indices`` (a slice, or an array of sample numbers), in that order."""
        return Dataset(
            {name: a[indices] for name, a in self.inputs.items()},
            {name: a[indices] for name, a in self.targets.items()},
            file=self.file,
            unused=self.unused,
        )

    def split(self, validation_split: float) -> tuple[Dataset, Dataset | None]:
        """Training and validation sets as Keras's ``fit(validation_split=...)`` makes them.

        The validation set is the last samples, taken before any shuffling: the split point
        is ``floor(len * (1 - validation_split))``, computed in floating point exactly as
        Keras does (so 10 samples at 0.9 leave 0 for training, which is an error there and
        here). At 0 there is no validation set, as in Keras.
        """
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {validation_split}")
        if not validation_split:
            return self, None
        count = len(self)
        split_at = math.floor(count * (1.0 - validation_split))
        if split_at in (0, count):
            raise SpecError(
                [
                    Diagnostic(
                        VALIDATION_SPLIT,
                        f"validation_split={validation_split} needs at least one training and "
                        f"one validation sample; got {count} sample{'s' * (count != 1)}, which "
                        f"split into {split_at} and {count - split_at}; give more data or "
                        "another validation_split",
                        (),
                        self.file,
                    )
                ]
            )
        return self.take(slice(0, split_at)), self.take(slice(split_at, count))

    def steps(self, batch_size: int) -> int:
        """The number of batches in one epoch: ``ceil(len / batch_size)``."""
        return -(-len(self) // batch_size)

    def batches(
        self, batch_size: int, shuffle: bool = False, rng: np.random.Generator | None = None
    ) -> Iterator[Batch]:
        """One epoch's batches of ``batch_size`` samples, the last one smaller if need be.

        With ``shuffle`` the whole set is permuted first (Keras's ``shuffle=True``, one
        permutation per epoch: call once per epoch with the same generator); without it the
        samples come in file order. Pass a seeded ``rng`` for the same order on every run;
        without one a fresh, unseeded generator is used.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
        order: np.ndarray | None = None
        if shuffle:
            order = (rng if rng is not None else np.random.default_rng()).permutation(len(self))
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            # Fancy indexing copies (and stays C-contiguous); a slice is a cheap view.
            index = slice(start, stop) if order is None else order[start:stop]
            yield Batch(
                {name: a[index] for name, a in self.inputs.items()},
                {name: a[index] for name, a in self.targets.items()},
            )


def _array_noun(name: str) -> str:
    return f"array '{name}'"


def _sample_where(row: int) -> str:
    return f"sample {row}"


def _targets(targets: Mapping[str, TensorType | Target]) -> dict[str, Target]:
    return {name: t if isinstance(t, Target) else Target(t) for name, t in targets.items()}


def _checked(
    checker: ArrayChecker,
    arrays: Mapping[str, np.ndarray],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    *,
    absent: set[str] | None = None,
    unused: list[str] | None = None,
    ids: Mapping[str, IdRange] | None = None,
) -> Dataset:
    """Check ``arrays`` and build the dataset, or raise every problem found (including
    those the reader recorded in ``checker``)."""
    wanted = [*inputs, *targets]
    if absent is None:
        absent = {name for name in wanted if name not in arrays}
    if unused is None:
        unused = [name for name in arrays if name not in wanted]
    found = {name: arrays[name] for name in wanted if name in arrays}
    checked_inputs, checked_targets = check_arrays(
        checker, found, inputs, targets, absent, unused, ids
    )
    if checker.problems:
        raise SpecError(checker.problems)
    return Dataset(checked_inputs, checked_targets, file=checker.file, unused=tuple(unused))


def _read_npz(
    file: str,
    checker: ArrayChecker,
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    limits: Limits,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of the inputs and targets whose headers fit them (see ``specc.npz``;
    problems with the others are recorded), and the names of every array in the file.
    Nothing of an array that does not fit is read, however big it claims to be."""
    try:
        with NpzFile(file, limits) as npz:
            if not npz.members:
                raise _fail(file, "the file holds no arrays (an empty .npz)")
            fitting = []
            for name in [*inputs, *targets]:
                member = npz.members.get(name)
                target = targets.get(name)
                expected = inputs[name] if target is None else target.type
                if member is not None and checker.check_form(
                    name,
                    member.shape,
                    member.dtype,
                    expected,
                    target,
                    lambda name=name: npz.read([name])[name],
                ):
                    fitting.append(name)
            return npz.read(fitting), list(npz.members)
    except NpzMissing:
        raise _fail(file, f"no such data file: {file}") from None
    except NpzError as error:
        raise _fail(file, error.message, DATA_LIMIT if error.limit else DATA_FILE) from None


def _fail(file: str, message: str, code: str = DATA_FILE) -> SpecError:
    return SpecError([Diagnostic(code, message, (), file)])


def load_dataset(
    path: str | Path,
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, TensorType | Target],
    limits: Limits = DEFAULT_LIMITS,
    ids: Mapping[str, IdRange] | None = None,
) -> Dataset:
    """Read and check a ``.npz`` or ``.csv`` data file for a model, refusing sizes over
    ``limits`` before allocating them.

    ``inputs`` are the model's input types by input name; ``targets`` the labels each
    trained output takes, by output name (a ``Target`` from the output's loss, see
    ``targets_for``, or a bare label type); ``ids`` the inputs that index an Embedding
    (``id_ranges``). Raises ``SpecError`` with every problem found.
    """
    file = str(path)
    suffix = Path(file).suffix.lower()
    wanted_targets = _targets(targets)
    if suffix == ".npz":
        checker = ArrayChecker(file, _array_noun, _sample_where)
        arrays, names = _read_npz(file, checker, inputs, wanted_targets, limits)
        wanted = [*inputs, *wanted_targets]
        return _checked(
            checker,
            arrays,
            inputs,
            wanted_targets,
            absent={name for name in wanted if name not in names},
            unused=[name for name in names if name not in wanted],
            ids=ids,
        )
    if suffix == ".csv":
        table = read_csv(file, limits)
        checker = ArrayChecker(file, table.noun, table.where)
        plans: dict[str, list[int]] = {}
        roles: dict[str, tuple[TensorType, str]] = {}
        absent: set[str] = set()
        label_types = {name: t.type for name, t in wanted_targets.items()}
        for role, types in (("input", inputs), ("output", label_types)):
            for name, expected in types.items():
                scalar, indexed = table.columns(name)
                if scalar is None and not indexed:
                    absent.add(name)
                    continue
                roles[name] = (expected, f"{role} '{name}'")
                columns = table.plan(name, expected, roles[name][1], checker)
                if columns is not None:
                    plans[name] = columns
        values = table.read(plans, checker)
        shaped = {
            name: table.shaped(name, array, *roles[name], checker) for name, array in values.items()
        }
        arrays = {name: array for name, array in shaped.items() if array is not None}
        unused = table.unused([*inputs, *wanted_targets])
        return _checked(
            checker, arrays, inputs, wanted_targets, absent=absent, unused=unused, ids=ids
        )
    raise _fail(file, f"data files must be .npz or .csv; got '{excerpt(Path(file).name)}'")
