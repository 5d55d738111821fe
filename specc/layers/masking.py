"""Masking: marks the time steps whose features all equal ``mask_value`` as padding.

Shapes: (batch, steps, ...) -> the same shape, with a (batch, steps) mask for the layers
after it (specc.layers.masks).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.graph import Value
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError, expect_float, float_input
from specc.layers.masks import MaskRule, any_over_last, expand_last, not_equal
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class Masking(Layer):
    """Masking: m = any(x != mask_value, axis=-1); y = x * m[..., None].

    (batch, steps, features) -> the same shape; the output's mask is m (batch, steps).
    """

    type: Literal["Masking"]
    mask_value: float = Field(
        0.0,
        allow_inf_nan=False,
        description="A step whose every feature equals this is padding: masked for later "
        "layers and set to zero.",
    )

    def mask_rule(self) -> MaskRule:
        return MaskRule("compute")

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("Masking", x)
        if x.rank < 2:
            raise ShapeError(f"Masking needs a (batch, steps, features) input; got {x}")
        return [TensorType("float32", x.shape)]

    def make_mask(
        self, ctx: LowerContext, inputs: list[Value], input_types: list[TensorType]
    ) -> Value:
        b = ctx.builder
        x = float_input(ctx, inputs[0], input_types[0])
        return any_over_last(b, not_equal(b, x, "float32", self.mask_value))

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        # Keras's where(mask, x, 0) as a product by the 0/1 mask (see specc.layers.masks).
        # make_mask builds the (batch, steps) mask again: a small reduction, and it keeps
        # the layer's lowering a pure function of its inputs.
        b = ctx.builder
        x = float_input(ctx, inputs[0], input_types[0])
        mask = any_over_last(b, not_equal(b, x, "float32", self.mask_value))
        return [b.op("Mul", x, expand_last(b, mask))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = np.asarray(inputs[0], np.float64)
        keep = np.any(x != np.float32(self.mask_value), axis=-1, keepdims=True)
        return [x * keep]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5, 3))]),
            ({"mask_value": 0.5}, [TensorType("float32", (None, 2))]),
        ]
