"""The activation layers: ReLU, LeakyReLU, ELU and Softmax (PReLU, with its weight, lives
in ``prelu.py``).

Each is Keras's layer over the function of the same name in ``specc.activations``, which
holds the one lowering and NumPy reference of that formula; the layer adds Keras's
argument checks (the layer refuses negative slopes and thresholds the function accepts).
Shapes: (batch, ...) -> (batch, ...), float32.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from specc.activations import Activation, Elu, LeakyRelu, Relu
from specc.graph import GraphBuilder, Value
from specc.layers.axes import axes_list, some_axis, sorted_axes
from specc.layers.base import (
    LAYERS,
    Layer,
    Layout,
    LowerContext,
    ShapeError,
    expect_float,
    float_input,
)
from specc.lazy_numpy import np
from specc.types import TensorType


class _Pointwise(Layer):
    """An elementwise activation layer: float input, same shape, any layout."""

    supports_masking = True  # Keras passes the mask on

    def function(self) -> Activation:
        """The activation function this layer applies."""
        raise NotImplementedError

    def layout(self, inputs: list[TensorType]) -> Layout:
        return "elementwise"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float(self.type_name(), x)
        return [TensorType("float32", x.shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        x = float_input(ctx, inputs[0], input_types[0])
        return [self.function().lower(ctx.builder, x)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [self.function().reference(inputs[0].astype(np.float64))]


@LAYERS.register
class ReLU(_Pointwise):
    """ReLU: y = min(x, max_value) where x > threshold, negative_slope * (x - threshold)
    below it (Keras's ``activations.relu``); same shape."""

    type: Literal["ReLU"]
    # Keras's layer refuses negative values of all three (the function does not).
    max_value: float | None = Field(None, ge=0, allow_inf_nan=False)
    negative_slope: float = Field(0.0, ge=0, allow_inf_nan=False)
    threshold: float = Field(0.0, ge=0, allow_inf_nan=False)

    def function(self) -> Activation:
        return Relu(
            type="relu",
            max_value=self.max_value,
            negative_slope=self.negative_slope,
            threshold=self.threshold,
        )

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (6,))]),
            ({"max_value": 6.0}, [TensorType("float32", (2, 3))]),
            ({"negative_slope": 0.1}, [TensorType("float32", (5,))]),
            (
                {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.3},
                [TensorType("float16", (2, None))],
            ),
        ]


@LAYERS.register
class LeakyReLU(_Pointwise):
    """LeakyReLU: y = x where x >= 0, negative_slope * x elsewhere; same shape."""

    type: Literal["LeakyReLU"]
    negative_slope: float = Field(0.3, ge=0, allow_inf_nan=False)

    def function(self) -> Activation:
        return LeakyRelu(type="leaky_relu", negative_slope=self.negative_slope)

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (6,))]),
            ({"negative_slope": 0.05}, [TensorType("float32", (2, 3))]),
        ]


@LAYERS.register
class ELU(_Pointwise):
    """ELU: y = x where x > 0, alpha * (exp(x) - 1) elsewhere; same shape."""

    type: Literal["ELU"]
    alpha: float = Field(1.0, allow_inf_nan=False)

    def function(self) -> Activation:
        return Elu(type="elu", alpha=self.alpha)

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (6,))]),
            ({"alpha": 0.5}, [TensorType("float32", (2, 3))]),
        ]


def softmax_over(b: GraphBuilder, x: Value, axes: list[int], rank: int) -> Value:
    """Softmax of ``x`` over ``axes`` (sorted, non-negative), recorded as a softmax head so
    a crossentropy on it can use the logits when there is one axis.

    Several axes are moved to the end and flattened into one for ONNX's Softmax: the same
    numbers as Keras's exp(x - logsumexp(x)) within float32 rounding, from ops every
    training backend differentiates (onnxruntime-training has no ReduceMax gradient).
    """
    if len(axes) == 1:
        return b.activation("softmax", x, axis=axes[0])
    perm = [a for a in range(rank) if a not in axes] + axes
    moved = x if perm == list(range(rank)) else b.op("Transpose", x, perm=perm)
    kept = rank - len(axes)
    flat_shape = b.constant([0] * kept + [-1], np.int64, hint="shape")
    flat = b.op("Softmax", b.op("Reshape", moved, flat_shape), axis=kept)
    y = b.op("Reshape", flat, b.op("Shape", moved))
    if perm == list(range(rank)):
        return y
    inverse = sorted(range(rank), key=lambda i: perm[i])
    return b.op("Transpose", y, perm=inverse)


@LAYERS.register
class SoftmaxLayer(Layer):
    """Softmax: y = exp(x) / sum(exp(x)) over ``axis`` (one axis or several); same shape.

    Keras's ``mask`` call argument (masked logits set to a large negative number, their
    outputs to 0) cannot come from a sequence mask: see ``check_masks``.
    """

    supports_masking = True  # Keras passes the mask on

    # The class is named apart from the softmax activation (specc.activations.Softmax) so
    # that the JSON Schema's definitions keep both plain names; the type is Keras's.
    type: Literal["Softmax"]
    axis: int | list[int] = -1

    _check_axis = field_validator("axis")(classmethod(some_axis))

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        if masked[0]:
            # Keras's Softmax broadcasts the mask against its input from the last axis: a
            # (batch, steps) mask against (batch, steps, units) fails there.
            raise ShapeError(
                "Softmax cannot take the mask of its input (from Embedding mask_zero or "
                "Masking): Keras broadcasts it against the input's last axes and fails; "
                "use the softmax activation of the layer before it",
            )

    def _axes(self, x: TensorType) -> list[int]:
        return sorted_axes("Softmax", self.axis, x)

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("Softmax", x)
        self._axes(x)
        return [TensorType("float32", x.shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        t = input_types[0]
        x = float_input(ctx, inputs[0], t)
        return [softmax_over(ctx.builder, x, self._axes(t), t.rank)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        axes = tuple(sorted({a % x.ndim for a in axes_list(self.axis)}))
        e = np.exp(x - x.max(axis=axes, keepdims=True))
        return [e / e.sum(axis=axes, keepdims=True)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5,))]),
            ({"axis": 1}, [TensorType("float32", (3, 4))]),
            ({"axis": [1, 2]}, [TensorType("float32", (3, 4))]),
            ({"axis": [3, 1]}, [TensorType("float32", (2, 3, 4))]),
            ({"axis": [-1]}, [TensorType("float16", (2, None))]),
        ]
