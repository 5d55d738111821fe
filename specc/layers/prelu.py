"""PReLU: a leaky ReLU whose negative slope ``alpha`` is a trained weight.

Lowered as Keras computes it, relu(x) + (-alpha) * relu(-x), from Relu, Neg and Mul (ops
every training backend differentiates; ONNX's PRelu has no gradient in
onnxruntime-training).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from specc.fields import ConstraintField, InitializerField, RegularizerField, initializer
from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    Layer,
    Layout,
    LowerContext,
    ShapeError,
    WeightSpec,
    configured_weight,
    expect_float,
    float_input,
)
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class PReLU(Layer):
    """PReLU: y = x where x >= 0, alpha * x elsewhere; same shape. alpha: the input's shape
    without the batch axis, 1 on each of ``shared_axes`` (batch axis = 0, as in Keras)."""

    supports_masking = True  # Keras passes the mask on

    type: Literal["PReLU"]
    alpha_initializer: InitializerField = initializer("Zeros")
    alpha_regularizer: RegularizerField | None = None
    alpha_constraint: ConstraintField | None = None
    shared_axes: int | list[int] | None = None

    @field_validator("shared_axes")
    @classmethod
    def _positive_axes(cls, value: int | list[int] | None) -> int | list[int] | None:
        # Keras indexes alpha's shape by axis - 1, so the batch axis and counts from the
        # end name the wrong axis there; only 1 and up mean what they say.
        axes = value if isinstance(value, list) else [] if value is None else [value]
        bad = [a for a in axes if a < 1]
        if bad:
            raise ValueError(
                "shared_axes must hold axes of one sample, counted from 1 (0 is the batch "
                f"axis); got {bad[0]} in shared_axes={value}"
            )
        return value

    def _shared(self) -> set[int]:
        axes = self.shared_axes
        return set(axes if isinstance(axes, list) else [] if axes is None else [axes])

    def _alpha_shape(self, x: TensorType) -> tuple[int, ...]:
        shared = self._shared()
        too_far = [a for a in shared if a >= x.rank]
        if too_far:
            raise ShapeError(
                f"PReLU shared_axes must be axes of the input (1 to {x.rank - 1} for {x}); "
                f"got {max(too_far)} in shared_axes={self.shared_axes}",
                field="shared_axes",
            )
        shape = []
        for axis, dim in enumerate(x.shape, start=1):
            if axis in shared:
                shape.append(1)
            elif dim is None:
                raise ShapeError(
                    f"PReLU needs a known size on axis {axis} for its alpha weight (or the "
                    f"axis in shared_axes); got input {x}",
                    field="shared_axes",
                )
            else:
                shape.append(dim)
        return tuple(shape)

    def layout(self, inputs: list[TensorType]) -> Layout:
        # Elementwise but for alpha, which is cheap to move: after a convolution the layer
        # works where ONNX keeps channels, and the chain needs no transposes around it.
        return "channels_first" if inputs[0].rank >= 3 else "native"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("PReLU", x)
        self._alpha_shape(x)
        return [TensorType("float32", x.shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        return [configured_weight(self, "alpha", self._alpha_shape(inputs[0]))]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        alpha = weights["alpha"]
        if t.rank >= 3:
            # alpha has no batch axis: (*spatial, channels) -> (channels, *spatial).
            alpha = b.op("Transpose", alpha, perm=[t.rank - 2, *range(t.rank - 2)])
        negative = b.op("Relu", b.op("Neg", x))
        scaled = b.op("Mul", b.op("Neg", alpha), negative)
        return [b.op("Add", b.op("Relu", x), scaled)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        alpha = weights["alpha"].astype(np.float64)
        return [np.where(x >= 0, x, alpha * x)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (6,))]),
            ({"shared_axes": [1, 2]}, [TensorType("float32", (None, 4, 3))]),
            ({"shared_axes": 2, "alpha_initializer": "ones"}, [TensorType("float16", (3, 5))]),
        ]
