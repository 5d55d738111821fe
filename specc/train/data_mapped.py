"""Arrays larger than memory: a folder of ``.npy`` files, memory-mapped.

Each array stays on disk (``specc.npz.map_npy``); its values are checked a block of samples
at a time (the same checks as an in-memory array's), and each batch is read and converted
to the model's dtype when it is taken. Only the batch being prepared is in memory: the
pages of the file are the operating system's cache, not the process's own memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from specc.escape import excerpt
from specc.npz import NpzError, map_npy

#: How many bytes of one array are checked at once.
CHECK_BLOCK_BYTES = 64 * 2**20


class MappedArray:
    """An array on disk, read per batch in the model's dtype: ``array[index]`` is an
    in-memory ``numpy.ndarray`` (C order, ``dtype``); ``view`` another ``MappedArray``."""

    def __init__(self, mapped: np.ndarray, dtype: str) -> None:
        self.mapped = mapped
        self.dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape, samples first."""
        return tuple(self.mapped.shape)

    def __len__(self) -> int:
        return len(self.mapped)

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        # Always a copy, even where the dtype matches: a view of the mapping would leave
        # the reading (page faults) to whoever touches it, the training step, instead of
        # the thread that prepares the batch.
        return np.array(self.mapped[index], dtype=self.dtype, order="C", copy=True)

    def view(self, index: slice) -> MappedArray:
        """The samples at ``index``, still on disk."""
        return MappedArray(self.mapped[index], self.dtype.name)


def row_blocks(array: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """(first row, rows) of ``array`` in blocks of about ``CHECK_BLOCK_BYTES``, read into
    memory one block at a time."""
    row_bytes = max(1, array[:1].nbytes)
    rows = max(1, CHECK_BLOCK_BYTES // row_bytes)
    for start in range(0, len(array), rows):
        yield start, np.asarray(array[start : start + rows])


def map_folder(folder: Path, names: Iterable[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The ``<name>.npy`` files of ``folder`` among ``names``, memory-mapped, and the names
    of every ``.npy`` file there. Raises ``NpzError``."""
    present = sorted(path.stem for path in folder.glob("*.npy") if path.is_file())
    if not present:
        raise NpzError(f"folder '{excerpt(str(folder))}' holds no .npy files")
    wanted = [name for name in dict.fromkeys(names) if name in present]
    return {name: map_npy(folder / f"{name}.npy") for name in wanted}, present


def is_mapped(array: object) -> bool:
    """Whether ``array`` is memory-mapped (checked in blocks, never read whole)."""
    return isinstance(array, np.memmap)
