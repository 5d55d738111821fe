"""GroupNormalization: per-sample statistics over groups of channels, decomposed.

The channels are split with a Reshape (the sizes around them taken from Shape), normalized
with ReduceSum-based moments, and reshaped back; gamma and beta act per channel.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    Layout,
    LowerContext,
    ShapeError,
    WeightSpec,
    expect_float,
    float_input,
)
from specc.layers.normalization import (
    AffineWeights,
    affine_weights,
    channel_axis_layout,
    inverse_std,
    known_dim,
    moments,
    normalize_axis,
    ref_moments,
    reshape,
)
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class GroupNormalization(AffineWeights):
    """GroupNormalization: channels on ``axis`` split into ``groups``; each group normalized
    per sample over its channels and every non-batch axis, then * gamma + beta per channel.
    Same shape; gamma, beta: (channels,). ``groups=-1`` means one group per channel.
    """

    supports_masking = True  # Keras passes the mask on

    type: Literal["GroupNormalization"]
    groups: int = 32
    axis: int = -1

    @field_validator("groups")
    @classmethod
    def _valid_groups(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError(f"groups must be a positive integer or -1; got groups={value}")
        return value

    def _channel_axis(self, x: TensorType) -> int:
        axis = normalize_axis("GroupNormalization", self.axis, x)
        if axis == 0:
            raise ShapeError(
                "GroupNormalization axis must be a channel axis, not the batch axis 0; "
                f"got axis={self.axis} for input {x}",
                field="axis",
            )
        return axis

    def _groups(self, x: TensorType) -> tuple[int, int]:
        """(channel axis, groups), checked against the input."""
        axis = self._channel_axis(x)
        channels = known_dim("GroupNormalization", x, axis, "groups")
        groups = channels if self.groups == -1 else self.groups
        if channels % groups:
            raise ShapeError(
                f"GroupNormalization needs the channels ({channels} on axis {axis} of input "
                f"{x}) to be a multiple of groups; got groups={groups}",
                field="groups",
            )
        return axis, groups

    def layout(self, inputs: list[TensorType]) -> Layout:
        return channel_axis_layout(self.axis, inputs[0])

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("GroupNormalization", x)
        self._groups(x)
        return [TensorType("float32", x.shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        (x,) = inputs
        axis, _ = self._groups(x)
        return affine_weights(self, (x.full_shape[axis] or 0,), self.scale, self.center)

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        axis, groups = self._groups(t)
        dims = list(t.full_shape)
        channels = dims[axis] or 0
        if self.layout(input_types) == "channels_first":
            dims.insert(1, dims.pop(axis))
            axis = 1
        # (..., C, ...) -> (..., G, C/G, ...): the sizes around the channels come from Shape.
        parts = [
            b.op("Shape", x, start=0, end=axis),
            b.constant([groups, channels // groups], np.int64, hint="group_shape"),
        ]
        if axis < t.rank - 1:
            parts.append(b.op("Shape", x, start=axis + 1))
        grouped = b.op("Reshape", x, b.op("Concat", *parts, axis=0))
        grouped_dims = (*dims[:axis], groups, channels // groups, *dims[axis + 1 :])
        axes = [a for a in range(1, t.rank + 1) if a != axis]
        _, variance, centred = moments(b, grouped, axes, grouped_dims)
        normalized = b.op("Mul", centred, inverse_std(b, variance, self.epsilon))
        y = b.op("Reshape", normalized, b.op("Shape", x))
        per_channel = [channels] + [1] * (t.rank - 1 - axis)
        if self.scale:
            y = b.op("Mul", y, reshape(b, weights["gamma"], per_channel))
        if self.center:
            y = b.op("Add", y, reshape(b, weights["beta"], per_channel))
        return [y]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        axis = self.axis % x.ndim
        channels = x.shape[axis]
        groups = channels if self.groups == -1 else self.groups
        # Channels to the end, then (batch, rest, G, C/G), statistics per (sample, group).
        moved = np.moveaxis(x, axis, -1)
        grouped = moved.reshape(x.shape[0], -1, groups, channels // groups)
        mean, var = ref_moments(grouped, (1, 3))
        y = ((grouped - mean) / np.sqrt(var + self.epsilon)).reshape(moved.shape)
        if self.scale:
            y = y * weights["gamma"].astype(np.float64)
        if self.center:
            y = y + weights["beta"].astype(np.float64)
        return [np.moveaxis(y, -1, axis)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"groups": 2}, [TensorType("float32", (6,))]),
            ({"groups": 3}, [TensorType("float32", (5, 6))]),
            ({"groups": 2, "epsilon": 0.01}, [TensorType("float32", (3, None, 4))]),
            ({"groups": -1, "center": False}, [TensorType("float32", (3, 4, 2))]),
            ({"groups": 1, "axis": 1, "scale": False}, [TensorType("float16", (4, 3, 2))]),
            ({"groups": 2, "axis": -2}, [TensorType("float32", (2, 6, 3))]),
        ]
