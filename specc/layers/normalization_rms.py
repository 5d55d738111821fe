"""UnitNormalization and RMSNormalization: inputs scaled by a root of their mean or sum
of squares over some axes.

Both are Keras's ``ops.normalize`` / ``ops.rms_normalization`` on the JAX backend, decomposed
into ops every training backend differentiates (ReduceSum, Mul, Sqrt, Reciprocal, Min).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from specc.graph import Value
from specc.initializers import Ones
from specc.layers.axes import axes_list, some_axis, sorted_axes
from specc.layers.base import (
    LAYERS,
    Layer,
    LowerContext,
    ShapeError,
    WeightSpec,
    expect_float,
    float_input,
)
from specc.layers.normalization import known_dim, reduce_mean
from specc.lazy_numpy import np
from specc.types import TensorType

# ops.normalize's epsilon as UnitNormalization passes it: the norm's inverse is capped at
# 1 / epsilon, so an all-zero vector stays zero.
UNIT_EPSILON = 1e-12


@LAYERS.register
class UnitNormalization(Layer):
    """UnitNormalization: y = x / ||x||_2 over ``axis`` (x * min(1 / sqrt(sum(x^2)), 1e12),
    as Keras computes it); same shape."""

    supports_masking = True  # Keras passes the mask on

    type: Literal["UnitNormalization"]
    axis: int | list[int] = -1

    _check_axis = field_validator("axis")(classmethod(some_axis))

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("UnitNormalization", x)
        sorted_axes("UnitNormalization", self.axis, x)
        return [TensorType("float32", x.shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        axes = b.constant(sorted_axes("UnitNormalization", self.axis, t), np.int64, hint="axes")
        squares = b.op("ReduceSum", b.op("Mul", x, x), axes, keepdims=1)
        inverse = b.op("Reciprocal", b.op("Sqrt", squares))
        capped = b.op("Min", inverse, b.constant(1.0 / UNIT_EPSILON, np.float32, hint="cap"))
        return [b.op("Mul", x, capped)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        axes = tuple(sorted({a % x.ndim for a in axes_list(self.axis)}))
        norm = np.sqrt((x * x).sum(axis=axes, keepdims=True))
        return [x / np.maximum(norm, UNIT_EPSILON)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (6,))]),
            ({"axis": [1, 2]}, [TensorType("float32", (3, 4))]),
            ({"axis": 1}, [TensorType("float16", (3, None))]),
        ]


@LAYERS.register
class RMSNormalization(Layer):
    """RMSNormalization: y = x / sqrt(mean(x^2) + epsilon) * scale, the mean over ``axis``;
    same shape. scale: the sizes of the (sorted) axes, broadcast against the input's
    trailing axes as Keras multiplies it (so axes that are not trailing must fit there)."""

    type: Literal["RMSNormalization"]
    axis: int | list[int] = -1
    epsilon: float = Field(1e-6, ge=0, allow_inf_nan=False)

    _check_axis = field_validator("axis")(classmethod(some_axis))

    def _scale_shape(self, x: TensorType) -> tuple[int, ...]:
        axes = sorted_axes("RMSNormalization", self.axis, x)
        # Keras keeps the axes as given when an int (a negative one too), sorted when a list.
        given = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(known_dim("RMSNormalization", x, a % x.rank, "scale") for a in given)
        trailing = x.full_shape[x.rank - len(shape) :] if len(shape) <= x.rank else ()
        fits = len(shape) <= x.rank and all(
            s == 1 or d is None or s == d for s, d in zip(shape, trailing, strict=True)
        )
        if not fits or (len(axes) != len(given)):
            raise ShapeError(
                f"RMSNormalization multiplies by a scale of shape {shape} (the sizes of axis="
                f"{self.axis}), which must broadcast against the trailing axes of its input "
                f"{x}, as in Keras; normalize over trailing axes",
                field="axis",
            )
        return shape

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("RMSNormalization", x)
        self._scale_shape(x)
        return [TensorType("float32", x.shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        # Keras's layer takes no initializer argument for it: scale starts at ones.
        return [WeightSpec("scale", self._scale_shape(inputs[0]), Ones(type="ones"))]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        axes = sorted_axes("RMSNormalization", self.axis, t)
        mean_square = reduce_mean(b, b.op("Mul", x, x), axes, t.full_shape)
        shifted = b.op("Add", mean_square, b.constant(self.epsilon, np.float32, hint="epsilon"))
        normalized = b.op("Mul", x, b.op("Reciprocal", b.op("Sqrt", shifted)))
        return [b.op("Mul", normalized, weights["scale"])]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        axes = tuple(sorted({a % x.ndim for a in axes_list(self.axis)}))
        rms = np.sqrt((x * x).mean(axis=axes, keepdims=True) + self.epsilon)
        return [x / rms * weights["scale"].astype(np.float64)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (6,))]),
            ({"axis": [1, 2], "epsilon": 0.01}, [TensorType("float32", (3, 4))]),
            ({"axis": -2}, [TensorType("float16", (4, 4))]),
        ]
