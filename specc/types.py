"""Tensor types as shape inference sees them: a dtype and a shape without the batch axis."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# The dtypes a spec may name, each with NumPy's name for it (``np.dtype`` and ``astype``
# take these); names, not dtype objects, so that shape inference never imports NumPy.
DTYPES: dict[str, str] = {
    "float32": "float32",
    "float16": "float16",
    "int32": "int32",
    "int64": "int64",
    "bool": "bool",
}
FLOAT_DTYPES = ("float32", "float16")

# ONNX element types for Cast's ``to``: onnx.TensorProto's values, named here so that
# graph-building code needs no onnx import (only specc.emit imports it).
FLOAT = 1  # onnx.TensorProto.FLOAT
INT64 = 7  # onnx.TensorProto.INT64
INT_DTYPES = ("int32", "int64")

Dim = int | None


@dataclass(frozen=True)
class TensorType:
    """A tensor's dtype and its shape after the batch axis (``None`` is a variable size)."""

    dtype: str
    shape: tuple[Dim, ...]
    # False for the few tensors with no batch axis: a loss, the training flag.
    batched: bool = True

    @property
    def rank(self) -> int:
        """The rank including the batch axis, as ONNX and Keras count it."""
        return len(self.full_shape)

    @property
    def full_shape(self) -> tuple[Dim, ...]:
        """The shape with the (always variable) batch axis in front, if it has one."""
        return (None, *self.shape) if self.batched else self.shape

    def with_shape(self, shape: tuple[Dim, ...]) -> TensorType:
        """The same dtype with another shape."""
        return TensorType(self.dtype, tuple(shape), self.batched)

    def __str__(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.full_shape)
        if len(self.full_shape) == 1:
            dims += ","
        return f"({dims})"


def scalar(dtype: str = "float32") -> TensorType:
    """A tensor of rank 0 with no batch axis."""
    return TensorType(dtype, (), batched=False)


def known_size(shape: tuple[Dim, ...]) -> int | None:
    """The number of elements in ``shape``, or None when a dimension is variable."""
    size = 1
    for dim in shape:
        if dim is None:
            return None
        size *= dim
    return size


def elements(shape: Iterable[Dim]) -> int:
    """Elements of a per-sample shape, a variable dimension counted as 1."""
    return math.prod(d for d in shape if d is not None)
