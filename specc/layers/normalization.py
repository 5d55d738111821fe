"""LayerNormalization, and the statistics helpers every normalization layer shares.

Every normalization here is decomposed into ops the training engine differentiates
(ReduceSum, Sub, Mul, Sqrt, Reciprocal, Reshape), except a LayerNormalization over the
trailing axes, which is ONNX's LayerNormalization with its Mean and InvStdDev outputs
declared (the engine's gradient builder reads them;
``docs/engine-notes.md#declared-outputs``).
BatchNormalization and GroupNormalization live in ``normalization_batch.py`` and
``normalization_group.py``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from specc.fields import ConstraintField, InitializerField, RegularizerField, initializer
from specc.graph import GraphBuilder, Value
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
from specc.types import FLOAT, Dim, TensorType


def epsilon_field() -> Any:
    """Keras's ``epsilon=1e-3``: a finite, non-negative float."""
    return Field(1e-3, ge=0, allow_inf_nan=False)


def normalize_axis(layer: str, axis: int, x: TensorType, field: str = "axis") -> int:
    """``axis`` (batch axis included, negative from the end) as a non-negative index."""
    if not -x.rank <= axis < x.rank:
        raise ShapeError(
            f"{layer} axis must be in [-{x.rank}, {x.rank - 1}] for input {x}; got axis={axis}",
            field=field,
        )
    return axis % x.rank


def known_dim(layer: str, x: TensorType, axis: int, what: str) -> int:
    """The size of full-shape ``axis``, which ``what`` needs to be known."""
    dim = x.full_shape[axis]
    if dim is None:
        raise ShapeError(
            f"{layer} needs a known size on axis {axis} for its {what}; got input {x}",
            field="axis",
        )
    return dim


def reduce_mean(b: GraphBuilder, x: Value, axes: list[int], dims: tuple[Dim, ...]) -> Value:
    """Mean of ``x`` over ``axes``, kept as size-1 axes; ``dims`` is x's (physical) shape.

    ReduceSum divided by the count, not ReduceMean: ReduceMean moved its axes from an
    attribute to an input at opset 18, ReduceSum did so at 13, so this is valid at every
    opset specc emits. An unknown count comes from Shape, which the training engine treats
    as carrying no gradient.
    """
    axes_value = b.constant(axes, np.int64, hint="axes")
    total = b.op("ReduceSum", x, axes_value, keepdims=1)
    sizes = [dims[a] for a in axes]
    if all(s is not None for s in sizes):
        return b.op("Mul", total, b.constant(1.0 / math.prod(sizes), np.float32, hint="inv_count"))
    shape = b.op("Cast", b.op("Shape", x), to=FLOAT)
    count = b.op("ReduceProd", b.op("Gather", shape, axes_value), keepdims=1)
    return b.op("Div", total, count)


def moments(
    b: GraphBuilder, x: Value, axes: list[int], dims: tuple[Dim, ...]
) -> tuple[Value, Value, Value]:
    """(mean, biased variance, x - mean), statistics kept as size-1 axes.

    Two passes (the variance of the centred values) rather than E[x^2] - E[x]^2: the same
    value and gradient as Keras, without the cancellation.
    """
    mean = reduce_mean(b, x, axes, dims)
    centred = b.op("Sub", x, mean)
    variance = reduce_mean(b, b.op("Mul", centred, centred), axes, dims)
    return mean, variance, centred


def inverse_std(b: GraphBuilder, variance: Value, epsilon: float) -> Value:
    """1 / sqrt(variance + epsilon), as Keras's rsqrt."""
    shifted = b.op("Add", variance, b.constant(epsilon, np.float32, hint="epsilon"))
    return b.op("Reciprocal", b.op("Sqrt", shifted))


def reshape(b: GraphBuilder, value: Value, shape: list[int]) -> Value:
    """``value`` reshaped to a constant ``shape``."""
    return b.op("Reshape", value, b.constant(shape, np.int64, hint="shape"))


def affine_weights(
    layer: object, shape: tuple[int, ...], gamma: bool, beta: bool
) -> list[WeightSpec]:
    """gamma then beta (Keras's order), each where its flag asks for it, drawn as the
    layer's gamma_* and beta_* arguments say."""
    wanted = [name for name, on in (("gamma", gamma), ("beta", beta)) if on]
    return [configured_weight(layer, name, shape) for name in wanted]


def channel_axis_layout(axis: int, x: TensorType) -> Layout:
    """``channels_first`` when ``axis`` is the last axis of a rank >= 3 input, so the
    layer works where ONNX keeps channels (axis 1) and a convolution chain needs no
    transposes around it; else ``native``."""
    last = axis % x.rank == x.rank - 1 if -x.rank <= axis < x.rank else False
    return "channels_first" if last and x.rank >= 3 else "native"


def ref_moments(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """NumPy mean and biased variance over ``axes``, kept as size-1 axes."""
    return x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)


class AffineWeights(Layer):
    """The gamma/beta arguments LayerNormalization and GroupNormalization share."""

    epsilon: float = epsilon_field()
    center: bool = True
    scale: bool = True
    beta_initializer: InitializerField = initializer("zeros")
    gamma_initializer: InitializerField = initializer("ones")
    beta_regularizer: RegularizerField | None = None
    gamma_regularizer: RegularizerField | None = None
    beta_constraint: ConstraintField | None = None
    gamma_constraint: ConstraintField | None = None


@LAYERS.register
class LayerNormalization(AffineWeights):
    """LayerNormalization: y = (x - mean) / sqrt(var + epsilon) * gamma + beta, statistics
    over ``axis`` per sample; same shape. gamma, beta: the sizes of ``axis`` in its order.

    ``rms_scaling`` (deprecated in Keras 3, kept for its models) gives y = x / sqrt(var +
    epsilon) * gamma: Keras scales by the *centred* variance, not the root mean square, and
    drops beta and ``center``.
    """

    supports_masking = True  # Keras passes the mask on

    type: Literal["LayerNormalization"]
    axis: int | list[int] = -1
    rms_scaling: bool = False

    @field_validator("axis")
    @classmethod
    def _some_axis(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, list) and not value:
            raise ValueError("axis must name at least one axis; got axis=[]")
        return value

    def _axes(self, x: TensorType) -> list[int]:
        """The normalized axes in the order given (weights follow it), non-negative."""
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = [normalize_axis("LayerNormalization", a, x) for a in given]
        if len(set(axes)) != len(axes):
            raise ShapeError(
                f"LayerNormalization axis names an axis twice for input {x}; got axis={self.axis}",
                field="axis",
            )
        return axes

    def _has_gamma(self) -> bool:
        return self.scale or self.rms_scaling

    def _has_beta(self) -> bool:
        return self.center and not self.rms_scaling

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("LayerNormalization", x)
        axes = self._axes(x)
        if self._has_gamma() or self._has_beta():
            for a in axes:
                known_dim("LayerNormalization", x, a, "gamma and beta")
        return [TensorType("float32", x.shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        (x,) = inputs
        shape = tuple(x.full_shape[a] or 0 for a in self._axes(x))
        return affine_weights(self, shape, self._has_gamma(), self._has_beta())

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        axes = sorted(self._axes(t))
        dims = t.full_shape
        # gamma and beta follow the order of ``axis``; Keras reshapes (never transposes)
        # them into place, which this does too.
        trailing = [dims[a] for a in axes]
        broadcast = [dims[a] if a in axes else 1 for a in range(t.rank)][min(axes) :]
        gamma, beta = weights.get("gamma"), weights.get("beta")
        if len(axes) > 1 or axes[0] != t.rank - 1:
            gamma = reshape(b, gamma, broadcast) if gamma is not None else None
            beta = reshape(b, beta, broadcast) if beta is not None else None
        fused = axes == list(range(axes[0], t.rank)) and not self.rms_scaling
        if fused and all(d is not None for d in trailing):
            # Scale and B are always given: onnxruntime 1.19 crashes on an empty B, and its
            # gradient builder reads B. Mean and InvStdDev must be declared for the same
            # reason (docs/engine-notes.md#declared-outputs).
            if gamma is None:
                gamma = b.constant(np.ones(trailing), np.float32, hint="ones")
            if beta is None:
                beta = b.constant(np.zeros(trailing), np.float32, hint="zeros")
            y, _mean, _inv_std = b.op(
                "LayerNormalization", x, gamma, beta, axis=axes[0], epsilon=self.epsilon, outputs=3
            )
            return [y]
        _, variance, centred = moments(b, x, axes, dims)
        inv = inverse_std(b, variance, self.epsilon)
        y = b.op("Mul", x if self.rms_scaling else centred, inv)
        if gamma is not None:
            y = b.op("Mul", y, gamma)
        if beta is not None:
            y = b.op("Add", y, beta)
        return [y]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = tuple(sorted(a % x.ndim for a in given))
        shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
        mean, var = ref_moments(x, axes)
        y = (x if self.rms_scaling else x - mean) / np.sqrt(var + self.epsilon)
        if "gamma" in weights:
            y = y * weights["gamma"].astype(np.float64).reshape(shape)
        if "beta" in weights:
            y = y + weights["beta"].astype(np.float64).reshape(shape)
        return [y]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5,))]),
            ({"axis": [-2, -1], "epsilon": 0.01}, [TensorType("float32", (3, 4))]),
            # Axes listed out of order: gamma is (4, 3), reshaped into place as in Keras.
            ({"axis": [2, 1]}, [TensorType("float32", (3, 4))]),
            ({"axis": 1, "center": False}, [TensorType("float32", (3, 2, 4))]),
            ({"axis": [1, 3], "scale": False}, [TensorType("float16", (3, 2, 5))]),
            ({"scale": False, "center": False}, [TensorType("float32", (None, 6))]),
            ({"axis": -2, "scale": False, "center": False}, [TensorType("float32", (None, 6))]),
            ({"rms_scaling": True}, [TensorType("float32", (2, 7))]),
        ]
