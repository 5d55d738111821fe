"""Training data: arrays feeding a spec's inputs and outputs, checked, split and batched.

``load_dataset`` reads a ``.npz`` (one array per name), a ``.csv`` (columns named so, see
``specc.train.data_csv``), a folder of ``.npy`` files (memory-mapped) or of ``.npz`` shards
(``specc.train.data_shards``), the arrays named after the inputs and outputs or as
``DataKeys`` say (``specc.train.data_read``). It checks every array against the model's
input types and the label types its losses take (``specc.train.data_checks``), reporting
every problem at once as ``SPC5xx`` diagnostics on the data file. ``Dataset`` then does what
Keras's ``fit`` does with NumPy arrays: ``validation_split`` takes the last samples (and
their sample weights), before any shuffling, and each epoch's batches come from one
permutation of the whole (training) set, the last batch smaller when the sample count is
not a multiple of the batch size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from specc.diagnostics import Diagnostic, SpecError
from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits
from specc.train.data_checks import check_arrays
from specc.train.data_codes import VALIDATION_SPLIT
from specc.train.data_mapped import MappedArray
from specc.train.data_read import (
    SAMPLE_WEIGHT,
    ReadArrays,
    array_checker,
    fail,
    found_arrays,
    read_csv_arrays,
    read_npy_folder,
    read_npz,
)
from specc.train.data_targets import IdRange, Target, id_ranges, targets_for
from specc.train.data_weights import class_weight_to_sample_weights
from specc.types import TensorType

if TYPE_CHECKING:
    from specc.train.data_shards import ShardedDataset

__all__ = [
    "Batch",
    "DataKeys",
    "Dataset",
    "IdRange",
    "Target",
    "id_ranges",
    "load_dataset",
    "targets_for",
]


_WEIGHT_TYPE = TensorType("float32", ())

# An array of a dataset: in memory, or on disk and read per batch.
Column = np.ndarray | MappedArray


@dataclass(frozen=True)
class DataKeys:
    """Which array (or ``.csv`` column prefix) feeds each input and output (the spec's
    ``train.data_keys``; others use their own name), and which holds the sample weights."""

    arrays: Mapping[str, str] = field(default_factory=dict)
    sample_weight: str | None = None

    def sources(self, names: list[str]) -> dict[str, str]:
        """The array of each of ``names``, and of the sample weights if there are any."""
        found = {name: self.arrays.get(name, name) for name in names}
        if self.sample_weight is not None:
            found[SAMPLE_WEIGHT] = self.sample_weight
        return found


@dataclass(frozen=True)
class Batch:
    """One batch: input arrays by input name, label arrays by output name, and the loss
    weight of each sample by output name (outputs whose losses are weighted)."""

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The number of samples in the batch."""
        return len(next(iter({**self.inputs, **self.targets}.values())))


def _take(array: Column, index: slice | np.ndarray) -> Column:
    # A slice of an array on disk stays on disk; anything else is read.
    if isinstance(array, MappedArray) and isinstance(index, slice):
        return array.view(index)
    return array[index]


class Dataset:
    """Checked arrays, one entry per sample: inputs by input name, labels by output name,
    and optionally a loss weight per sample (``sample_weight``, for every output with a
    label) or class weights by output (``class_weight``, Keras's, turned into sample
    weights batch by batch).

    Build one with ``load_dataset`` or ``Dataset.from_arrays``; both check the arrays. The
    arrays already have the model's dtypes and per-sample shapes (or are ``MappedArray``s,
    converted as each batch is read).
    """

    def __init__(
        self,
        inputs: Mapping[str, Column],
        targets: Mapping[str, Column],
        *,
        file: str = "<arrays>",
        unused: tuple[str, ...] = (),
        sample_weight: Column | None = None,
        class_weight: Mapping[str, Mapping[int, float]] | None = None,
    ) -> None:
        self.inputs = dict(inputs)
        self.targets = dict(targets)
        self.file = file
        #: Names in the data that no input or output takes; ignored, as Keras ignores them.
        self.unused = unused
        self.sample_weight = sample_weight
        self.class_weight = dict(class_weight or {})
        arrays = [*self.inputs.values(), *self.targets.values()]
        lengths = {len(a) for a in [*arrays, *([] if sample_weight is None else [sample_weight])]}
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
        keys: DataKeys | None = None,
    ) -> Dataset:
        """A dataset from in-memory arrays, checked as ``load_dataset`` checks a file's."""
        keys = keys or DataKeys()
        wanted = _targets(targets)
        sources = keys.sources([*inputs, *wanted])
        given = {name: np.asarray(value) for name, value in arrays.items()}
        found = {name: given[source] for name, source in sources.items() if source in given}
        read = found_arrays(array_checker(file, sources), found, list(given), sources)
        return _checked(read, _with_weights(inputs, keys), wanted, ids)

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return (
            f"Dataset({self._length} samples, inputs {list(self.inputs)}, "
            f"targets {list(self.targets)}, file {self.file!r})"
        )

    def take(self, indices: slice | np.ndarray) -> Dataset:
        """The samples at ``indices`` (a slice, or an array of sample numbers), in that order."""
        weight = self.sample_weight
        return Dataset(
            {name: _take(a, indices) for name, a in self.inputs.items()},
            {name: _take(a, indices) for name, a in self.targets.items()},
            file=self.file,
            unused=self.unused,
            sample_weight=None if weight is None else _take(weight, indices),
            class_weight=self.class_weight,
        )

    def with_class_weight(self, class_weight: Mapping[str, Mapping[int, float]]) -> Dataset:
        """This data with Keras's ``class_weight`` (by output) weighting its batches."""
        taken = self.take(slice(None))
        taken.class_weight = dict(class_weight)
        return taken

    def split(self, validation_split: float) -> tuple[Dataset, Dataset | None]:
        """Training and validation sets as Keras's ``fit(validation_split=...)`` makes them.

        The validation set is the last samples, taken before any shuffling: the split point
        is ``floor(len * (1 - validation_split))``, computed in floating point exactly as
        Keras does (so 10 samples at 0.9 leave 0 for training, which is an error there and
        here). At 0 there is no validation set, as in Keras. The sample weights are split
        with the samples, as Keras splits them.
        """
        split_at = split_point(len(self), validation_split, self.file)
        if split_at is None:
            return self, None
        return self.take(slice(0, split_at)), self.take(slice(split_at, len(self)))

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
            yield self.batch(index)

    def batch(self, index: slice | np.ndarray) -> Batch:
        """The samples at ``index`` as one batch, read into memory, with their weights."""
        targets = {name: np.asarray(a[index]) for name, a in self.targets.items()}
        weights: dict[str, np.ndarray] = {}
        if self.sample_weight is not None:
            weight = np.asarray(self.sample_weight[index])
            weights = dict.fromkeys(targets, weight)
        for output, by_class in self.class_weight.items():
            weights[output] = class_weight_to_sample_weights(targets[output], by_class)
        return Batch(
            {name: np.asarray(a[index]) for name, a in self.inputs.items()}, targets, weights
        )


def concatenate(first: Dataset, second: Dataset) -> Dataset:
    """The samples of ``first`` then those of ``second`` (in memory), with their weights."""

    def joined(a: Column, b: Column) -> np.ndarray:
        return np.concatenate([np.asarray(a[:]), np.asarray(b[:])])

    weight = None
    if first.sample_weight is not None and second.sample_weight is not None:
        weight = joined(first.sample_weight, second.sample_weight)
    return Dataset(
        {name: joined(a, second.inputs[name]) for name, a in first.inputs.items()},
        {name: joined(a, second.targets[name]) for name, a in first.targets.items()},
        file=first.file,
        unused=first.unused,
        sample_weight=weight,
        class_weight=first.class_weight,
    )


def split_point(count: int, validation_split: float, file: str) -> int | None:
    """Where Keras's ``validation_split`` cuts ``count`` samples (None: no split), or
    ``SpecError`` when a side would be empty."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1); got {validation_split}")
    if not validation_split:
        return None
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
                    file,
                )
            ]
        )
    return split_at


def _targets(targets: Mapping[str, TensorType | Target]) -> dict[str, Target]:
    return {name: t if isinstance(t, Target) else Target(t) for name, t in targets.items()}


def _with_weights(inputs: Mapping[str, TensorType], keys: DataKeys) -> dict[str, TensorType]:
    """The arrays checked like inputs: the inputs, and the sample weights if any (a float
    per sample, checked as an input of that type would be)."""
    if keys.sample_weight is None:
        return dict(inputs)
    return {**inputs, SAMPLE_WEIGHT: _WEIGHT_TYPE}


def _checked(
    read: ReadArrays,
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    ids: Mapping[str, IdRange] | None = None,
) -> Dataset:
    """Check what was read (by input or output name, the sample weights under
    ``SAMPLE_WEIGHT``) and build the dataset, or raise every problem found (including
    those the reader recorded)."""
    checker = read.checker
    checked_inputs, checked_targets = check_arrays(
        checker, read.arrays, inputs, targets, read.absent, read.unused, ids
    )
    if checker.problems:
        raise SpecError(checker.problems)
    weight = checked_inputs.pop(SAMPLE_WEIGHT, None)
    return Dataset(
        checked_inputs,
        checked_targets,
        file=checker.file,
        unused=tuple(read.unused),
        sample_weight=weight,
    )


def load_dataset(
    path: str | Path,
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, TensorType | Target],
    limits: Limits = DEFAULT_LIMITS,
    ids: Mapping[str, IdRange] | None = None,
    keys: DataKeys | None = None,
) -> Dataset | ShardedDataset:
    """Read and check data for a model, refusing sizes over ``limits`` before allocating
    them: a ``.npz`` or ``.csv`` file, a folder of ``.npy`` files (one per array,
    memory-mapped: the data may be larger than memory), or a folder of ``.npz`` shards
    (read one at a time, see ``specc.train.data_shards``).

    ``inputs`` are the model's input types by input name; ``targets`` the labels each
    trained output takes, by output name (a ``Target`` from the output's loss, see
    ``targets_for``, or a bare label type); ``ids`` the inputs that index an Embedding
    (``id_ranges``); ``keys`` the arrays that feed them, when not named after them, and
    the sample weights. Raises ``SpecError`` with every problem found.
    """
    file = str(path)
    keys = keys or DataKeys()
    wanted_targets = _targets(targets)
    sources = keys.sources([*inputs, *wanted_targets])
    expected = _with_weights(inputs, keys)
    suffix = Path(file).suffix.lower()
    if Path(file).is_dir() and any(Path(file).glob("*.npz")):
        from specc.train.data_shards import load_shards

        return load_shards(Path(file), inputs, wanted_targets, limits, ids, keys)
    if Path(file).is_dir():
        read = read_npy_folder(Path(file), sources, expected, wanted_targets)
    elif suffix == ".npz":
        read = read_npz(file, sources, expected, wanted_targets, limits)
    elif suffix == ".csv":
        read = read_csv_arrays(file, sources, expected, wanted_targets, limits)
    else:
        raise fail(
            file,
            "data must be a .npz or .csv file, or a folder of .npy files or of .npz shards; "
            f"got '{excerpt(Path(file).name)}'",
        )
    return _checked(read, expected, wanted_targets, ids)
