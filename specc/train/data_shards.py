"""Data in several ``.npz`` shards, read one shard at a time.

A folder of ``.npz`` files (taken in name order) is one dataset: the samples of the first
shard, then those of the next. Every shard is read and checked once when the data is
loaded (each problem names its shard), then again, one at a time, as an epoch reaches it;
only one shard and the batch being cut are in memory.

Batches run across shard ends, so without shuffling the batches are exactly those of the
same samples in one ``.npz``. With shuffling, each epoch permutes the order of the shards,
then the samples within each shard, both with the run's generator: a batch holds samples
of at most two neighbouring shards, never a draw from the whole set as Keras's global
permutation is. Shards that each hold a random mix of the data make the two equivalent in
effect; shards sorted by class do not.

``validation_split`` takes the last samples of the last shards, as Keras takes the last
samples of one array.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specc.limits import Limits
from specc.train.data import (
    Batch,
    DataKeys,
    Dataset,
    IdRange,
    Target,
    concatenate,
    load_dataset,
    split_point,
)
from specc.types import TensorType


@dataclass(frozen=True)
class Segment:
    """Samples ``start`` to ``stop`` of one shard."""

    path: Path
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class _Reader:
    """How a shard is read and checked: the same for every shard of a dataset."""

    inputs: Mapping[str, TensorType]
    targets: Mapping[str, Target]
    limits: Limits
    ids: Mapping[str, IdRange] | None
    keys: DataKeys

    def read(self, path: Path) -> Dataset:
        data = load_dataset(path, self.inputs, self.targets, self.limits, self.ids, self.keys)
        if not isinstance(data, Dataset):  # pragma: no cover - shards are files
            raise ValueError(f"internal error: shard {path} read as {data!r}")
        return data


class ShardedDataset:
    """The samples of several ``.npz`` shards, in order (see the module docstring); the
    interface ``fit`` uses of a ``Dataset``: ``len``, ``steps``, ``split``, ``batches``."""

    def __init__(
        self,
        reader: _Reader,
        segments: list[Segment],
        file: str,
        unused: tuple[str, ...],
        class_weight: Mapping[str, Mapping[int, float]] | None = None,
    ) -> None:
        self._reader = reader
        self.segments = segments
        self.file = file
        self.unused = unused
        self.class_weight = dict(class_weight or {})

    def __len__(self) -> int:
        return sum(len(segment) for segment in self.segments)

    def __repr__(self) -> str:
        return f"ShardedDataset({len(self)} samples in {len(self.segments)} shards, {self.file!r})"

    def steps(self, batch_size: int) -> int:
        """The number of batches in one epoch: ``ceil(len / batch_size)``."""
        return -(-len(self) // batch_size)

    def _with(self, segments: list[Segment], class_weight: Mapping | None) -> ShardedDataset:
        return ShardedDataset(self._reader, segments, self.file, self.unused, class_weight)

    def with_class_weight(self, class_weight: Mapping[str, Mapping[int, float]]) -> ShardedDataset:
        """This data with Keras's ``class_weight`` (by output) weighting its batches."""
        return self._with(self.segments, class_weight)

    def split(self, validation_split: float) -> tuple[ShardedDataset, ShardedDataset | None]:
        """Keras's ``validation_split``: the last samples, across shards."""
        split_at = split_point(len(self), validation_split, self.file)
        if split_at is None:
            return self, None
        training: list[Segment] = []
        validation: list[Segment] = []
        seen = 0
        for segment in self.segments:
            cut = min(max(split_at - seen, 0), len(segment)) + segment.start
            if cut > segment.start:
                training.append(Segment(segment.path, segment.start, cut))
            if cut < segment.stop:
                validation.append(Segment(segment.path, cut, segment.stop))
            seen += len(segment)
        return self._with(training, self.class_weight), self._with(validation, None)

    def batches(
        self, batch_size: int, shuffle: bool = False, rng: np.random.Generator | None = None
    ) -> Iterator[Batch]:
        """One epoch's batches, a shard at a time; the last batch smaller if need be."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
        rng = rng if rng is not None else np.random.default_rng()
        order = (
            [self.segments[i] for i in rng.permutation(len(self.segments))]
            if shuffle
            else self.segments
        )
        carried: Dataset | None = None
        for segment in order:
            data = self._reader.read(segment.path).take(slice(segment.start, segment.stop))
            if shuffle:
                data = data.take(rng.permutation(len(data)))
            if carried is not None:
                data = concatenate(carried, data)
            data.class_weight = self.class_weight
            whole = len(data) - len(data) % batch_size
            for start in range(0, whole, batch_size):
                yield data.batch(slice(start, start + batch_size))
            carried = data.take(slice(whole, len(data))) if whole < len(data) else None
        if carried is not None:
            yield carried.batch(slice(0, len(carried)))


def load_shards(
    folder: Path,
    inputs: Mapping[str, TensorType],
    targets: Mapping[str, Target],
    limits: Limits,
    ids: Mapping[str, IdRange] | None,
    keys: DataKeys,
) -> ShardedDataset:
    """The ``.npz`` shards of ``folder``, each read and checked once (raising
    ``SpecError`` for the first shard with problems, each problem naming it)."""
    reader = _Reader(inputs, targets, limits, ids, keys)
    segments = []
    unused: tuple[str, ...] = ()
    for path in sorted(p for p in folder.glob("*.npz") if p.is_file()):
        data = reader.read(path)
        segments.append(Segment(path, 0, len(data)))
        unused = unused or data.unused
    return ShardedDataset(reader, segments, str(folder), unused)
