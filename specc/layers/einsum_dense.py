"""EinsumDense: ``activation(einsum(equation, inputs, kernel) + bias)``.

Shapes: the input's axes as the equation's first operand names them, the output's as its
result names them (``output_shape`` gives the sizes of those the input does not). Weights:
kernel with the equation's second operand's axes, bias over ``bias_axes`` (see
``EinsumPlan``). Lowered to Transpose, Reshape and one MatMul: the autodiff has rules for
those, and onnxruntime's CPU MatMul is its fastest contraction.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
    ShapeList,
    WeightSpec,
    activate,
    activate_np,
    expect_float,
    float_input,
)
from specc.layers.einsum_plan import (
    EinsumPlan,
    einsum_dense,
    einsum_dense_np,
    einsum_weights,
    plan_einsum,
)
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class EinsumDense(Layer):
    """EinsumDense: y = activation(einsum(equation, x, kernel) + bias).

    ``equation`` is ``ab,bc->ac``, ``...ab,bc->...ac`` or ``ab...,bc->ac...`` (the first
    operand's letters include the batch axis); ``output_shape`` gives the output's sizes
    without the batch axis and the ellipsis, ``null`` where the input sets them.
    """

    type: Literal["EinsumDense"]
    equation: str = Field(min_length=1, max_length=64)
    output_shape: Annotated[int, Field(gt=0)] | ShapeList
    activation: ActivationField | None = None
    bias_axes: str | None = Field(None, min_length=1, max_length=52, pattern="^[a-zA-Z]+$")
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    def plan(self, inputs: list[TensorType]) -> EinsumPlan:
        """The equation analysed for this input (``ShapeError`` if they do not fit)."""
        (x,) = inputs
        expect_float("EinsumDense", x)
        return plan_einsum(self.equation, self.bias_axes, x, self.output_shape)

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        return [TensorType("float32", self.plan(inputs).output_shape[1:])]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        return einsum_weights(self, self.plan(inputs))

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = float_input(ctx, inputs[0], input_types[0])
        return [activate(b, self.activation, einsum_dense(b, self.plan(input_types), x, weights))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        y = einsum_dense_np(self.equation, inputs[0].astype(np.float64), weights)
        return [activate_np(self.activation, y)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            (
                {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"},
                [TensorType("float32", (3,))],
            ),
            (
                {"equation": "abc,cd->abd", "output_shape": [None, 5], "activation": "tanh"},
                [TensorType("float32", (None, 3))],
            ),
            (
                {"equation": "abc,cde->abde", "output_shape": [2, 3, 4], "bias_axes": "de"},
                [TensorType("float32", (2, 5))],
            ),
            (
                {"equation": "abcd,cde->abe", "output_shape": [2, 3], "bias_axes": "e"},
                [TensorType("float32", (2, 4, 3))],
            ),
            (
                {"equation": "...b,bc->...c", "output_shape": 3, "bias_axes": "c"},
                [TensorType("float32", (2, 4))],
            ),
            # The kernel's free axis before the input's, a right ellipsis, a bias on an
            # inner axis (broadcast over the ones after it).
            (
                {"equation": "abc,cd->adb", "output_shape": [3, 2], "bias_axes": "d"},
                [TensorType("float32", (2, 4))],
            ),
            (
                {"equation": "ab...,bc->ac...", "output_shape": 3, "bias_axes": "c"},
                [TensorType("float16", (4, 2))],
            ),
        ]
