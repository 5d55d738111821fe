"""SpatialDropout1D/2D/3D: Dropout of whole channels in training, the identity at inference.

The mask is core Dropout's (``dropout_mask`` in specc/layers/base.py), here of shape
(batch, channels, 1, ...), multiplied into the input. Both data formats put the
channels on axis 1 of what ``lower`` sees (channels_last through the channels-first layout),
so the mask's shape is the same either way.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    DataFormat,
    Layout,
    LowerContext,
    Seed,
    ShapeError,
    dropout_mask,
    float_input,
    trivial_dropout,
)
from specc.layers.noise import NoiseLayer
from specc.lazy_numpy import np
from specc.types import TensorType


class _SpatialDropout(NoiseLayer):
    """Dropout of whole channels: the mask has shape (batch, channels), broadcast over space."""

    rate: float = Field(ge=0, le=1, allow_inf_nan=False)
    seed: Seed | None = None

    spatial_rank: ClassVar[int]

    def _channels_first(self) -> bool:
        return getattr(self, "data_format", "channels_last") == "channels_first"

    def layout(self, inputs: list[TensorType]) -> Layout:
        # Either way the channels end up on axis 1 of what ``lower`` sees.
        return "native" if self._channels_first() else "channels_first"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        want = self._rank() + 2
        if x.rank != want:
            raise ShapeError(
                f"{self.type_name()} needs a rank-{want} input (batch, "
                f"{self._axes_text()}); got {x}"
            )
        return super().output_types(inputs)

    def _rank(self) -> int:
        return self.spatial_rank

    def _axes_text(self) -> str:
        space = ", ".join(["steps"] if self._rank() == 1 else ["dim"] * self._rank())
        return f"channels, {space}" if self._channels_first() else f"{space}, channels"

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        trivial = trivial_dropout(ctx, x, self.rate)
        if trivial is not None:
            return [trivial]
        # Core Dropout's mask, in shape (batch, channels, 1, ...).
        space = b.constant(np.ones(self._rank()), np.int64, hint="ones_shape")
        shape = b.op("Concat", b.op("Shape", x, start=0, end=2), space, axis=0)
        return [b.op("Mul", x, dropout_mask(ctx, shape, t.rank, self.rate, self.seed))]


@LAYERS.register
class SpatialDropout1D(_SpatialDropout):
    """SpatialDropout1D: Dropout of whole channels in training, identity at inference;
    (batch, steps, channels), same shape.
    """

    type: Literal["SpatialDropout1D"]
    spatial_rank: ClassVar[int] = 1

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"rate": 0.5}, [TensorType("float32", (5, 3))]),
            ({"rate": 1.0}, [TensorType("float32", (None, 2))]),
        ]


@LAYERS.register
class SpatialDropout2D(_SpatialDropout):
    """SpatialDropout2D: Dropout of whole channels in training, identity at inference;
    (batch, rows, cols, channels) or channels_first, same shape.
    """

    type: Literal["SpatialDropout2D"]
    spatial_rank: ClassVar[int] = 2
    data_format: DataFormat = "channels_last"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"rate": 0.3, "seed": 2}, [TensorType("float32", (3, 4, 2))]),
            ({"rate": 0.5, "data_format": "channels_first"}, [TensorType("float32", (2, 3, 5))]),
        ]


@LAYERS.register
class SpatialDropout3D(_SpatialDropout):
    """SpatialDropout3D: Dropout of whole channels in training, identity at inference;
    (batch, d1, d2, d3, channels) or channels_first, same shape.
    """

    type: Literal["SpatialDropout3D"]
    spatial_rank: ClassVar[int] = 3
    data_format: DataFormat = "channels_last"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"rate": 0.25}, [TensorType("float32", (2, 3, 2, 3))]),
            ({"rate": 0.0, "data_format": "channels_first"}, [TensorType("float16", (2, 2, 1, 3))]),
        ]
