"""The training state as one binary file an app reads without a zip or NumPy library.

``state.bin`` is every state tensor's raw little-endian bytes (row-major), one after the
other, each starting at a multiple of 8 bytes so that a memory-mapped file gives aligned
float32 and int64 views; ``training.json`` lists each tensor's ``offset``, ``bytes``,
``dtype`` and ``shape``. An app reads a tensor with ``ByteBuffer.order(LITTLE_ENDIAN)``
(Kotlin) or ``Data.withUnsafeBytes`` (Swift), and saves the trained state by writing the
same layout back: the shapes never change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from specc.atomic import open_atomic

STATE_FILE = "state.bin"
ALIGNMENT = 8


def write_state(path: Path, state: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Write ``state`` to ``path`` in order; return each tensor's entry (name, dtype,
    shape, offset, bytes) for ``training.json``."""
    entries: list[dict[str, Any]] = []
    offset = 0
    with open_atomic(path, "wb") as file:
        for name, value in state.items():
            array = np.asarray(value)
            data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
            padding = -offset % ALIGNMENT
            file.write(b"\0" * padding)
            offset += padding
            entries.append(
                {
                    "name": name,
                    "dtype": str(array.dtype),
                    "shape": list(array.shape),
                    "offset": offset,
                    "bytes": len(data),
                }
            )
            file.write(data)
            offset += len(data)
    return entries


def read_state(path: Path, entries: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The tensors of a state file (``write_state``'s, or one an app saved) by name."""
    data = path.read_bytes()
    state = {}
    for entry in entries:
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        start, size = int(entry["offset"]), int(entry["bytes"])
        if start + size > len(data):
            raise ValueError(f"{path} ends before tensor '{entry['name']}' ({start + size} bytes)")
        array = np.frombuffer(data, dtype, size // dtype.itemsize, start)
        state[entry["name"]] = array.reshape(entry["shape"]).astype(dtype.newbyteorder("="))
    return state
