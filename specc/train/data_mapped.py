"""Arrays larger than memory: a folder of ``.npy`` files, memory-mapped.

Each array stays on disk (``specc.npz.map_npy``); its values are checked a block of samples
at a time (the same checks as an in-memory array's), and each batch is read and converted
to the model's dtype when it is taken. Only the batch being prepared is in memory: the
pages of the file are the operating system's cache, not the process's own memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from specc.escape import excerpt
from specc.npz import NpzError, map_npy

# Reading scattered samples with one system call each needs preadv (POSIX).
_PREADV = hasattr(os, "preadv")

#: How many bytes of one array are checked at once.
CHECK_BLOCK_BYTES = 64 * 2**20


class MappedArray:
    """An array on disk, read per batch in the model's dtype: ``array[index]`` is an
    in-memory ``numpy.ndarray`` (C order, ``dtype``); ``view`` another ``MappedArray``.

    A run of samples (a slice: batches without shuffling) is read from the file with one
    ``pread`` into a new buffer, which the kernel serves with read-ahead; samples picked
    at random (shuffled batches) are gathered through the mapping. Either way the batch is
    a copy, made on the thread that prepares it: a view of the mapping would leave the
    reading (its page faults) to the training step that touches it.
    """

    def __init__(self, mapped: np.ndarray, dtype: str, first: int | None = 0) -> None:
        self.mapped = mapped
        self.dtype = np.dtype(dtype)
        # The file row of sample 0 (a view's start), for reading runs of rows directly;
        # None for a strided view, whose rows do not follow one another.
        self.first = first

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape, samples first."""
        return tuple(self.mapped.shape)

    def __len__(self) -> int:
        return len(self.mapped)

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        if isinstance(index, slice) and self._readable():
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._read(start, max(start, stop))
        if isinstance(index, np.ndarray) and self._readable() and _PREADV:
            rows = index.astype(np.int64, copy=False)
            if rows.ndim == 1 and (not len(rows) or 0 <= rows.min() <= rows.max() < len(self)):
                return self._gather(rows)
        return np.array(self.mapped[index], dtype=self.dtype, order="C", copy=True)

    def view(self, index: slice) -> MappedArray:
        """The samples at ``index``, still on disk."""
        start, _, step = index.indices(len(self))
        first = self.first + start if step == 1 and self.first is not None else None
        return MappedArray(self.mapped[index], self.dtype.name, first)

    def _readable(self) -> bool:
        # A C-ordered view of whole rows of a mapped file: its rows lie one after another.
        mapped = self.mapped
        return (
            self.first is not None
            and isinstance(mapped, np.memmap)
            and mapped.flags.c_contiguous
            and getattr(mapped, "filename", None) is not None
        )

    def _read(self, start: int, stop: int) -> np.ndarray:
        mapped = self.mapped
        buffer = np.empty((stop - start, *mapped.shape[1:]), mapped.dtype)
        row_bytes = buffer[:1].nbytes if len(buffer) else 0
        with open(mapped.filename, "rb", buffering=0) as file:
            file.seek(mapped.offset + ((self.first or 0) + start) * row_bytes)
            got = file.readinto(memoryview(buffer).cast("B"))
        if got != buffer.nbytes:  # the file shrank since it was mapped: read it as mapped
            return np.array(mapped[start:stop], dtype=self.dtype, order="C", copy=True)
        return buffer if buffer.dtype == self.dtype else buffer.astype(self.dtype)

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        # One read per sample: a system call costs less than the page faults of touching
        # scattered rows through the mapping (4 KiB rows, bench/data_memory.py --shuffle:
        # 116,000 samples/s against 90,000).
        mapped = self.mapped
        buffer = np.empty((len(rows), *mapped.shape[1:]), mapped.dtype)
        row_bytes = buffer[:1].nbytes if len(buffer) else 0
        base = mapped.offset + (self.first or 0) * row_bytes
        view = memoryview(buffer).cast("B")
        with open(mapped.filename, "rb", buffering=0) as file:
            descriptor = file.fileno()
            for k, row in enumerate(rows.tolist()):
                part = view[k * row_bytes : (k + 1) * row_bytes]
                if os.preadv(descriptor, [part], base + row * row_bytes) != row_bytes:
                    return np.array(mapped[rows], dtype=self.dtype, order="C", copy=True)
        return buffer if buffer.dtype == self.dtype else buffer.astype(self.dtype)


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
