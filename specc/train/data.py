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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from specc.diagnostics import Diagnostic, SpecError
from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits
from specc.npz import NpzError, NpzFile, NpzMissing
from specc.train.data_checks import ArrayChecker, check_arrays
from specc.train.data_codes import DATA_FILE, DATA_LIMIT, VALIDATION_SPLIT
from specc.train.data_csv import read_csv
from specc.train.data_mapped import MappedArray, map_folder
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


#: The key of the sample weights among a file's checked arrays (no input can be named so).
SAMPLE_WEIGHT = "<sample_weight>"
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
        checker = ArrayChecker(file, _array_noun(sources), _sample_where, _ROLES)
        given = {name: np.asarray(value) for name, value in arrays.items()}
        found = {name: given[source] for name, source in sources.items() if source in given}
        absent = {name for name, source in sources.items() if source not in given}
        unused = [name for name in given if name not in sources.values()]
        expected = _with_weights(inputs, keys)
        return _checked(checker, found, expected, wanted, absent=absent, unused=unused, ids=ids)

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


_ROLES = {SAMPLE_WEIGHT: "train.sample_weight"}


def _array_noun(sources: Mapping[str, str]) -> Callable[[str], str]:
    """How messages name the array feeding an input or output (its own name by default)."""
    return lambda name: f"array '{excerpt(sources.get(name, name))}'"


def _sample_where(row: int) -> str:
    return f"sample {row}"


def _targets(targets: Mapping[str, TensorType | Target]) -> dict[str, Target]:
    return {name: t if isinstance(t, Target) else Target(t) for name, t in targets.items()}


def _with_weights(inputs: Mapping[str, TensorType], keys: DataKeys) -> dict[str, TensorType]:
    """The arrays checked like inputs: the inputs, and the sample weights if any (a float
    per sample, checked as an input of that type would be)."""
    if keys.sample_weight is None:
        return dict(inputs)
    return {**inputs, SAMPLE_WEIGHT: _WEIGHT_TYPE}


def _checked(
    checker: ArrayChecker,
    arrays: Mapping[str, np.ndarray],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    *,
    absent: set[str],
    unused: list[str],
    ids: Mapping[str, IdRange] | None = None,
) -> Dataset:
    """Check ``arrays`` (by input or output name, the sample weights under
    ``SAMPLE_WEIGHT``) and build the dataset, or raise every problem found (including
    those the reader recorded in ``checker``)."""
    checked_inputs, checked_targets = check_arrays(
        checker, arrays, inputs, targets, absent, unused, ids
    )
    if checker.problems:
        raise SpecError(checker.problems)
    weight = checked_inputs.pop(SAMPLE_WEIGHT, None)
    return Dataset(
        checked_inputs,
        checked_targets,
        file=checker.file,
        unused=tuple(unused),
        sample_weight=weight,
    )


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


def _read_npz(
    file: str,
    checker: ArrayChecker,
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    limits: Limits,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays (by input or output name) whose headers fit them (see ``specc.npz``;
    problems with the others are recorded), and the names of every array in the file.
    Nothing of an array that does not fit is read, however big it claims to be."""
    try:
        with NpzFile(file, limits) as npz:
            if not npz.members:
                raise _fail(file, "the file holds no arrays (an empty .npz)")
            headers = {key: (m.shape, m.dtype) for key, m in npz.members.items()}
            fitting = _fitting(
                checker, sources, inputs, targets, headers, lambda key: npz.read([key])[key]
            )
            read = npz.read(dict.fromkeys(sources[name] for name in fitting))
            return {name: read[sources[name]] for name in fitting}, list(npz.members)
    except NpzMissing:
        raise _fail(file, f"no such data file: {file}") from None
    except NpzError as error:
        raise _fail(file, error.message, DATA_LIMIT if error.limit else DATA_FILE) from None


def _read_folder(
    folder: Path,
    checker: ArrayChecker,
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """``_read_npz`` for a folder of ``.npy`` files, memory-mapped instead of read."""
    try:
        mapped, names = map_folder(folder, sources.values())
    except NpzError as error:
        raise _fail(str(folder), error.message) from None
    headers = {key: (a.shape, a.dtype) for key, a in mapped.items()}
    fitting = _fitting(checker, sources, inputs, targets, headers, lambda key: mapped[key])
    return {name: mapped[sources[name]] for name in fitting}, names


def _fail(file: str, message: str, code: str = DATA_FILE) -> SpecError:
    return SpecError([Diagnostic(code, message, (), file)])


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
    if Path(file).is_dir():
        if any(Path(file).glob("*.npz")):
            from specc.train.data_shards import load_shards

            return load_shards(Path(file), inputs, wanted_targets, limits, ids, keys)
        checker = ArrayChecker(file, _array_noun(sources), _sample_where, _ROLES)
        arrays, names = _read_folder(Path(file), checker, sources, expected, wanted_targets)
        return _checked_file(checker, arrays, names, sources, expected, wanted_targets, ids)
    suffix = Path(file).suffix.lower()
    if suffix == ".npz":
        checker = ArrayChecker(file, _array_noun(sources), _sample_where, _ROLES)
        arrays, names = _read_npz(file, checker, sources, expected, wanted_targets, limits)
        return _checked_file(checker, arrays, names, sources, expected, wanted_targets, ids)
    if suffix == ".csv":
        table = read_csv(file, limits)
        checker = ArrayChecker(
            file, lambda name: table.noun(sources.get(name, name)), table.where, _ROLES
        )
        plans: dict[str, list[int]] = {}
        roles: dict[str, tuple[TensorType, str]] = {}
        absent: set[str] = set()
        label_types = {name: t.type for name, t in wanted_targets.items()}
        for role, types in (("input", expected), ("output", label_types)):
            for name, wanted in types.items():
                source = sources[name]
                scalar, indexed = table.columns(source)
                if scalar is None and not indexed:
                    absent.add(name)
                    continue
                roles[name] = (wanted, _ROLES.get(name) or f"{role} '{name}'")
                if source not in plans:  # one column group may feed two (an autoencoder)
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
        return _checked(
            checker, arrays, expected, wanted_targets, absent=absent, unused=unused, ids=ids
        )
    raise _fail(
        file,
        "data must be a .npz or .csv file, or a folder of .npy files or of .npz shards; "
        f"got '{excerpt(Path(file).name)}'",
    )


def _checked_file(
    checker: ArrayChecker,
    arrays: Mapping[str, np.ndarray],
    names: list[str],
    sources: Mapping[str, str],
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    ids: Mapping[str, IdRange] | None,
) -> Dataset:
    """``_checked`` for the arrays read from a file holding ``names``."""
    used = set(sources.values())
    return _checked(
        checker,
        arrays,
        inputs,
        targets,
        absent={name for name, source in sources.items() if source not in names},
        unused=[name for name in names if name not in used],
        ids=ids,
    )
