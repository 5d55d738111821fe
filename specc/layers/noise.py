"""Training-only noise: GaussianNoise, GaussianDropout and AlphaDropout.

SpatialDropout1D/2D/3D, which share this module's base, live in noise_spatial.py.

Each is the identity at inference, so its NumPy reference is the identity; an inference
model computes no noise at all. In a training graph the noise comes from
``specc.random_ops`` (a function of the layer's stream, the step counter and the element),
drawn in a shape that comes from Shape(x), which carries no gradient, so the only op
between x and y that is differentiated is the final Mul/Add: the gradient is the noise
itself. The training flag enters through scalars (the noise's scale, AlphaDropout's
affine constants), which make the noise neutral when it is False; the noise is then drawn
in one element (``draw_shape``), nearly free.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    Layer,
    Layout,
    LowerContext,
    Seed,
    ShapeError,
    draw_shape,
    expect_float,
    float_input,
    training_scalar,
)
from specc.layers.core import positive_noise_dims
from specc.lazy_numpy import np
from specc.random_ops import normal, uniform
from specc.types import FLOAT, TensorType

# SELU's constants, as Keras's AlphaDropout writes them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _rate_below_one(value: float, what: str) -> float:
    if value >= 1:
        raise ValueError(f"rate must be below 1 ({what}); got rate={value}")
    return value


def _standard_normal(ctx: LowerContext, x: Value, rank: int, seed: int | None) -> Value:
    """N(0, 1) noise in x's shape in training, one element otherwise."""
    b = ctx.builder
    shape = draw_shape(ctx, b.op("Shape", x), rank)
    return normal(b, shape, ctx.random_step, ctx.op_stream(seed))


class NoiseLayer(Layer):
    """Shared shape rule: (batch, ...) float -> the same shape, float32."""

    supports_masking = True  # Keras passes the mask on

    def layout(self, inputs: list[TensorType]) -> Layout:
        return "elementwise"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float(self.type_name(), x)
        return [TensorType("float32", x.shape)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [inputs[0].astype(np.float64)]


@LAYERS.register
class GaussianNoise(NoiseLayer):
    """GaussianNoise: y = x + N(0, stddev^2) noise in training, y = x at inference; same shape."""

    type: Literal["GaussianNoise"]
    # Keras 3 bounds stddev to [0, 1].
    stddev: float = Field(ge=0, le=1, allow_inf_nan=False)
    seed: Seed | None = None

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        if self.stddev == 0 or not ctx.for_training:
            return [x]
        noise = _standard_normal(ctx, x, t.rank, self.seed)
        return [b.op("Add", x, b.op("Mul", noise, training_scalar(ctx, self.stddev, 0.0)))]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"stddev": 0.5}, [TensorType("float32", (5,))]),
            ({"stddev": 1.0, "seed": 3}, [TensorType("float16", (2, None, 3))]),
            ({"stddev": 0.0}, [TensorType("float32", (3,))]),
        ]


@LAYERS.register
class GaussianDropout(NoiseLayer):
    """GaussianDropout: y = x * N(1, rate / (1 - rate)) noise in training, y = x at inference;
    same shape.
    """

    type: Literal["GaussianDropout"]
    rate: float = Field(ge=0, allow_inf_nan=False)
    seed: Seed | None = None

    @field_validator("rate")
    @classmethod
    def _finite_noise(cls, value: float) -> float:
        return _rate_below_one(value, "the noise's stddev sqrt(rate / (1 - rate)) is infinite at 1")

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        if self.rate == 0 or not ctx.for_training:
            return [x]
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = _standard_normal(ctx, x, t.rank, self.seed)
        scaled = b.op("Mul", noise, training_scalar(ctx, stddev, 0.0))
        one = b.constant(1.0, np.float32, hint="one")
        return [b.op("Mul", x, b.op("Add", scaled, one))]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"rate": 0.3}, [TensorType("float32", (4,))]),
            ({"rate": 0.5, "seed": 1}, [TensorType("float32", (2, 3, 2))]),
        ]


@LAYERS.register
class AlphaDropout(NoiseLayer):
    """AlphaDropout: in training, y = a * (x * keep + alpha' * (1 - keep)) + b with keep ~
    Bernoulli(1 - rate), alpha' = -SELU alpha * scale, a = ((1 - rate)(1 + rate alpha'^2))^-1/2,
    b = -a alpha' rate (mean and variance kept); y = x at inference. Same shape;
    ``noise_shape`` (batch axis included, null = the input's size) shares ``keep`` along
    axes where it is 1.
    """

    type: Literal["AlphaDropout"]
    rate: float = Field(ge=0, allow_inf_nan=False)
    noise_shape: list[int | None] | None = None
    seed: Seed | None = None

    @field_validator("rate")
    @classmethod
    def _finite_scale(cls, value: float) -> float:
        return _rate_below_one(value, "the affine correction a = ((1 - rate) ...)^-1/2 is infinite")

    _positive_noise_dims = field_validator("noise_shape")(classmethod(positive_noise_dims))

    def layout(self, inputs: list[TensorType]) -> Layout:
        # noise_shape names axes in the spec's layout.
        return "elementwise" if self.noise_shape is None else "native"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        noise = self.noise_shape
        if noise is not None:
            if len(noise) != x.rank:
                raise ShapeError(
                    "AlphaDropout noise_shape must have one entry per input axis, batch axis "
                    f"included ({x.rank} for input {x}); got noise_shape={noise}",
                    field="noise_shape",
                )
            for axis, (n, d) in enumerate(zip(noise, x.full_shape, strict=True)):
                # The noise is broadcast against the input: each entry is 1 or the size.
                if n is not None and n != 1 and n != d:
                    raise ShapeError(
                        "AlphaDropout noise_shape must be 1, null or the input's size on each "
                        f"axis; got {n} on axis {axis} for input {x} (noise_shape={noise})",
                        field="noise_shape",
                    )
        return super().output_types(inputs)

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        if self.rate == 0 or not ctx.for_training:
            return [x]
        shape = b.op("Shape", x)
        if self.noise_shape is not None:
            # Size 1 where the noise is shared, the input's size elsewhere.
            shared = np.array([n == 1 for n in self.noise_shape])
            ones = b.constant(np.ones(t.rank), np.int64, hint="ones_shape")
            shape = b.op("Where", b.constant(shared, np.bool_, hint="shared_axes"), ones, shape)
        shape = draw_shape(ctx, shape, t.rank)
        uniform_draw = uniform(b, shape, ctx.random_step, ctx.op_stream(self.seed))
        # Keras keeps where uniform >= rate; never when not training (a threshold below 0).
        keep = b.op("GreaterOrEqual", uniform_draw, training_scalar(ctx, self.rate, -1.0))
        keep = b.op("Cast", keep, to=FLOAT)
        alpha_p = -SELU_ALPHA * SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        # a * (x * keep + alpha' * (1 - keep)) + b with b = -a alpha' rate is
        # x * (a keep) + (a alpha' (1 - rate) - a alpha' keep); when not training keep is 1
        # and the constants (1, 0, 0) make that x.
        scale = b.op("Mul", keep, training_scalar(ctx, a, 1.0))
        offset = b.op(
            "Add",
            b.op("Mul", keep, training_scalar(ctx, -a * alpha_p, 0.0)),
            training_scalar(ctx, a * alpha_p * (1 - self.rate), 0.0),
        )
        return [b.op("Add", b.op("Mul", x, scale), offset)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"rate": 0.2}, [TensorType("float32", (6,))]),
            (
                {"rate": 0.4, "noise_shape": [None, 1, 3], "seed": 5},
                [TensorType("float32", (4, 3))],
            ),
        ]
