"""Cropping1D/2D/3D: drop entries at both ends of each spatial axis.

Lowered to one Slice (positive steps, which the training engine differentiates); an end
counted from the axis's end keeps variable sizes free of Shape ops.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from specc.graph import Value
from specc.layers.base import LAYERS, LowerContext, ShapeError
from specc.layers.core import passthrough_dtype, passthrough_input
from specc.layers.spatial import INT64_MAX, DataFormat, SpatialLayer, int_pairs, spatial_axes
from specc.lazy_numpy import np
from specc.types import Dim, TensorType


class _Cropping(SpatialLayer):
    """Cropping: y = x without ``cropping[i] = (before, after)`` entries at spatial axis i."""

    cropping: int | list[int | list[int]] = 1

    @field_validator("cropping")
    @classmethod
    def _valid_cropping(cls, value: Any) -> Any:
        int_pairs(value, cls.spatial_rank, "cropping")
        return value

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        spatial, channels = self.split(x)
        pairs = int_pairs(self.cropping, self.spatial_rank, "cropping")
        out: list[Dim] = []
        for i, (d, (a, z)) in enumerate(zip(spatial, pairs, strict=True)):
            if d is not None and a + z >= d:
                raise ShapeError(
                    f"{self.type_name()} cropping must leave at least one entry on every "
                    f"spatial axis; got cropping {list(pairs[i])} ({a + z} in all) on "
                    f"spatial axis {i + 1} of size {d}, input {x}",
                    field="cropping",
                )
            out.append(None if d is None else d - a - z)
        return [self.join(passthrough_dtype(x), tuple(out), channels)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = passthrough_input(ctx, inputs[0], input_types[0])
        pairs = int_pairs(self.cropping, self.spatial_rank, "cropping")
        axes = [a for a, (s, e) in zip(spatial_axes(self), pairs, strict=True) if s or e]
        if not axes:
            return [x]
        kept = [(s, e) for s, e in pairs if s or e]
        # A negative end counts from the axis's end, so variable sizes need no Shape op.
        starts = [s for s, _ in kept]
        ends = [-e if e else INT64_MAX for _, e in kept]
        return [
            b.op(
                "Slice",
                x,
                b.constant(starts, np.int64, hint="starts"),
                b.constant(ends, np.int64, hint="ends"),
                b.constant(axes, np.int64, hint="axes"),
            )
        ]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = self.to_channels_last(inputs[0])
        pairs = int_pairs(self.cropping, self.spatial_rank, "cropping")
        index = tuple(slice(a, n - z) for (a, z), n in zip(pairs, x.shape[1:-1], strict=True))
        return [self.from_channels_last(x[(slice(None), *index, slice(None))])]


@LAYERS.register
class Cropping1D(_Cropping):
    """Cropping1D: (batch, steps, features) -> (batch, steps - before - after, features).

    ``cropping``: an int (both sides) or ``[before, after]``; at least one step must stay.
    """

    type: Literal["Cropping1D"]
    spatial_rank: ClassVar[int] = 1
    cropping: int | list[int] = 1

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5, 3))]),
            ({"cropping": [0, 2]}, [TensorType("float32", (None, 2))]),
            ({"cropping": [2, 0]}, [TensorType("int64", (4, 2))]),
        ]


@LAYERS.register
class Cropping2D(_Cropping):
    """Cropping2D: (batch, h, w, c) -> (batch, h - top - bottom, w - left - right, c).

    ``cropping``: an int, ``[h, w]`` or ``[[top, bottom], [left, right]]`` (mixable).
    """

    type: Literal["Cropping2D"]
    spatial_rank: ClassVar[int] = 2
    data_format: DataFormat = "channels_last"
    cropping: int | list[int | list[int]] = 0

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"cropping": 1}, [TensorType("float32", (4, 5, 2))]),
            ({"cropping": [[0, 2], [1, 0]]}, [TensorType("float32", (None, 4, 2))]),
            (
                {"cropping": [1, [0, 2]], "data_format": "channels_first"},
                [TensorType("float32", (2, 4, 5))],
            ),
            ({}, [TensorType("float32", (2, 2, 1))]),
        ]


@LAYERS.register
class Cropping3D(_Cropping):
    """Cropping3D: (batch, d1, d2, d3, c) -> each d_i shrunk by its before + after.

    ``cropping``: an int, three ints, or three ``[before, after]`` pairs (mixable).
    """

    type: Literal["Cropping3D"]
    spatial_rank: ClassVar[int] = 3
    data_format: DataFormat = "channels_last"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 4, 3, 2))]),
            ({"cropping": [[1, 0], 0, [0, 2]]}, [TensorType("float32", (2, None, 3, 1))]),
            (
                {"cropping": [1, 0, [1, 1]], "data_format": "channels_first"},
                [TensorType("float32", (2, 3, 2, 4))],
            ),
        ]
