"""Reshaping layers: Flatten, Reshape, Permute and RepeatVector.

None of them computes anything: they move elements. Each keeps integer and boolean
dtypes as they are and casts float16 to float32, as Keras's autocasting does.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from specc.graph import Value
from specc.layers.base import LAYERS, DataFormat, Layer, LowerContext, ShapeError, fmt_shape
from specc.layers.core import passthrough_dtype, passthrough_input
from specc.lazy_numpy import np
from specc.types import TensorType, known_size


@LAYERS.register
class Flatten(Layer):
    """Flatten: y = reshape(x, (batch, -1)); (batch, d1, ..., dk) -> (batch, d1*...*dk).

    With ``channels_first`` the channel axis is moved last first, so the element order is
    the channels_last one (Keras's rule). A (batch,) input becomes (batch, 1).
    """

    type: Literal["Flatten"]
    data_format: DataFormat = "channels_last"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        return [TensorType(passthrough_dtype(x), (known_size(x.shape),))]

    def _channels_last_perm(self, x: TensorType) -> list[int] | None:
        if self.data_format != "channels_first" or x.rank <= 2:
            return None
        return [0, *range(2, x.rank), 1]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = passthrough_input(ctx, inputs[0], t)
        perm = self._channels_last_perm(t)
        if perm is not None:
            x = b.op("Transpose", x, perm=perm)
        return [b.op("Flatten", x, axis=1)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0]
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return [x.reshape(x.shape[0], -1)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 5))]),
            ({}, [TensorType("float32", ())]),
            ({}, [TensorType("int64", (None, 2))]),
            ({"data_format": "channels_first"}, [TensorType("float32", (3, 2, 4))]),
        ]


@LAYERS.register
class Reshape(Layer):
    """Reshape: y = reshape(x, (batch, *target_shape)); one -1 entry is inferred."""

    type: Literal["Reshape"]
    target_shape: list[int]

    @field_validator("target_shape")
    @classmethod
    def _valid_target(cls, value: list[int]) -> list[int]:
        # ONNX Reshape reads 0 as "copy this dimension", so a 0 must never reach it; Keras
        # has no use for empty dimensions either.
        if value.count(-1) > 1:
            raise ValueError(f"target_shape may contain at most one -1; got target_shape={value}")
        bad = [d for d in value if d != -1 and d < 1]
        if bad:
            raise ValueError(
                f"target_shape entries must be positive integers or -1; got {bad[0]} in "
                f"target_shape={value}"
            )
        return value

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        return [TensorType(passthrough_dtype(x), self._resolved(x))]

    def _resolved(self, x: TensorType) -> tuple[int | None, ...]:
        """Keras's compute_reshape_output_shape: the -1 resolved when the size is known."""
        target = self.target_shape
        size = known_size(x.shape)
        if size is None:
            return tuple(None if d == -1 else d for d in target)
        fixed = math.prod(d for d in target if d != -1)
        if -1 not in target and size == fixed:
            return tuple(target)
        if -1 in target and size % fixed == 0:
            return tuple(size // fixed if d == -1 else d for d in target)
        if -1 in target:
            reason = f"{size} is not a multiple of {fixed}, the product of the other entries"
        else:
            reason = f"{size} elements cannot become {fixed}"
        raise ShapeError(
            f"Reshape cannot turn input {x} into target_shape {target} "
            f"({fmt_shape(tuple(None if d == -1 else d for d in target))}): {reason}",
            field="target_shape",
        )

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = passthrough_input(ctx, inputs[0], input_types[0])
        # Leading 0 copies the (variable) batch size; allowzero stays 0 for that reason.
        shape = b.constant([0, *self.target_shape], np.int64, hint="shape")
        return [b.op("Reshape", x, shape)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0]
        return [x.reshape(x.shape[0], *self.target_shape)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"target_shape": [3, 4]}, [TensorType("float32", (12,))]),
            ({"target_shape": [-1, 2, 2]}, [TensorType("float32", (3, 4))]),
            ({"target_shape": [-1]}, [TensorType("float32", (None, 3))]),
            ({"target_shape": [5, 1]}, [TensorType("int32", (5,))]),
        ]


@LAYERS.register
class Permute(Layer):
    """Permute: y = transpose(x, (0, *dims)); dims permute the axes 1..k (batch excluded)."""

    type: Literal["Permute"]
    dims: list[int] = Field(min_length=1)

    @field_validator("dims")
    @classmethod
    def _is_permutation(cls, value: list[int]) -> list[int]:
        if sorted(value) != list(range(1, len(value) + 1)):
            raise ValueError(
                f"dims must be a permutation of 1..{len(value)} (axis 0 is the batch and "
                f"stays put); got dims={value}"
            )
        return value

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        if len(x.shape) != len(self.dims):
            raise ShapeError(
                f"Permute with dims={self.dims} needs an input of rank {len(self.dims) + 1}; "
                f"got {x} (rank {x.rank})"
            )
        shape = tuple(x.shape[d - 1] for d in self.dims)
        return [TensorType(passthrough_dtype(x), shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        x = passthrough_input(ctx, inputs[0], input_types[0])
        return [ctx.builder.op("Transpose", x, perm=[0, *self.dims])]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [np.transpose(inputs[0], (0, *self.dims))]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"dims": [2, 1]}, [TensorType("float32", (3, 5))]),
            ({"dims": [3, 1, 2]}, [TensorType("float32", (2, None, 4))]),
            ({"dims": [1]}, [TensorType("int64", (3,))]),
        ]


@LAYERS.register
class RepeatVector(Layer):
    """RepeatVector: y[:, i, :] = x for i < n; (batch, features) -> (batch, n, features)."""

    type: Literal["RepeatVector"]
    n: int = Field(gt=0)

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        if len(x.shape) != 1:
            raise ShapeError(
                f"RepeatVector needs a 2D input (batch, features); got {x} (rank {x.rank})"
            )
        return [TensorType(passthrough_dtype(x), (self.n, x.shape[0]))]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = passthrough_input(ctx, inputs[0], input_types[0])
        x = b.op("Unsqueeze", x, b.constant([1], np.int64, hint="axes"))
        return [b.op("Tile", x, b.constant([1, self.n, 1], np.int64, hint="repeats"))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [np.repeat(inputs[0][:, None, :], self.n, axis=1)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"n": 3}, [TensorType("float32", (5,))]),
            ({"n": 1}, [TensorType("float32", (None,))]),
            ({"n": 2}, [TensorType("int64", (4,))]),
        ]
