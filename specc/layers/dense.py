"""Dense: ``activation(inputs @ kernel + bias)`` on the last axis.

Shapes: (batch, ..., d) -> (batch, ..., units). Weights: kernel [d, units], bias [units].
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.fields import (
    ActivationField,
    ConstraintField,
    InitializerField,
    RegularizerField,
    initializer,
)
from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    Layer,
    LowerContext,
    ShapeError,
    WeightSpec,
    activate,
    activate_np,
    configured_weight,
    expect_float,
    float_input,
    optional_bias,
)
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class Dense(Layer):
    """Dense: y = activation(x @ kernel + bias); (batch, ..., d) -> (batch, ..., units)."""

    supports_masking = True  # Keras passes the mask on

    type: Literal["Dense"]
    units: int = Field(gt=0)
    activation: ActivationField | None = None
    use_bias: bool = True
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("Dense", x)
        if not x.shape or x.shape[-1] is None:
            raise ShapeError(
                f"Dense needs an input of rank >= 2 with a known last dimension; got {x}"
            )
        return [TensorType("float32", (*x.shape[:-1], self.units))]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        in_dim = inputs[0].shape[-1]
        assert in_dim is not None  # output_types rejected an unknown last dimension
        return [
            configured_weight(self, "kernel", (in_dim, self.units)),
            *optional_bias(self, (self.units,)),
        ]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        y = b.op("MatMul", float_input(ctx, inputs[0], input_types[0]), weights["kernel"])
        if self.use_bias:
            y = b.op("Add", y, weights["bias"])
        return [activate(b, self.activation, y)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        y = inputs[0].astype(np.float64) @ weights["kernel"].astype(np.float64)
        if self.use_bias:
            y = y + weights["bias"]
        return [activate_np(self.activation, y)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"units": 4}, [TensorType("float32", (3,))]),
            (
                {"units": 5, "activation": "tanh", "use_bias": False},
                [TensorType("float32", (2, 3))],
            ),
        ]
