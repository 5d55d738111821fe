"""BatchNormalization, and the moving-statistic updates it declares for training.

ONNX's BatchNormalization is not used: with training_mode=0 inside a training graph the
engine silently swaps in batch statistics and their gradient
(``docs/engine-notes.md#batch-normalization``), so the inference maths is decomposed, x *
inv + (beta - mean * inv) with inv = gamma / sqrt(var + epsilon), and the engine
differentiates it exactly.

Training mode. A trainable BatchNormalization reads the ``specc.training`` flag:

    mean = Where(training, batch_mean, moving_mean)
    var  = Where(training, batch_var,  moving_variance)

where the batch statistics (biased variance, as Keras) are computed from the input over
every axis but the channel axis. With the flag False (the inference model) this is the
moving-statistics formula; with it True, the batch-statistics formula and its gradient,
also through the statistics. What the graph cannot do is update the moving statistics:
the lowering declares each update (``LowerContext.update_moving``) and training applies
it, as Keras does after each training call: moving = moving * momentum + batch * (1 -
momentum). A layer with ``trainable: false`` always uses its moving statistics, as in Keras.
"""

from __future__ import annotations

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
    expect_float,
    float_input,
)
from specc.layers.normalization import (
    affine_weights,
    channel_axis_layout,
    epsilon_field,
    inverse_std,
    known_dim,
    moments,
    normalize_axis,
    reshape,
)
from specc.lazy_numpy import np
from specc.types import TensorType

# Keras's backend.epsilon(), which its masked moments add to the kept count.
KERAS_EPSILON = 1e-7


@LAYERS.register
class BatchNormalization(Layer):
    """BatchNormalization: y = (x - mean) / sqrt(var + epsilon) * gamma + beta per channel on
    ``axis``; same shape. Inference uses the moving statistics; gamma, beta, moving_mean,
    moving_variance: (channels,), the last two non-trainable.
    """

    supports_masking = True  # Keras passes the mask on

    type: Literal["BatchNormalization"]
    axis: int = -1
    momentum: float = Field(0.99, allow_inf_nan=False)
    epsilon: float = epsilon_field()
    center: bool = True
    scale: bool = True
    beta_initializer: InitializerField = initializer("zeros")
    gamma_initializer: InitializerField = initializer("ones")
    moving_mean_initializer: InitializerField = initializer("zeros")
    moving_variance_initializer: InitializerField = initializer("ones")
    beta_regularizer: RegularizerField | None = None
    gamma_regularizer: RegularizerField | None = None
    beta_constraint: ConstraintField | None = None
    gamma_constraint: ConstraintField | None = None
    synchronized: bool = False

    @field_validator("synchronized")
    @classmethod
    def _single_device(cls, value: bool) -> bool:
        # Keras 3 accepts it only on TensorFlow, for multi-device training specc lacks.
        if value:
            raise ValueError(
                "synchronized=true (batch statistics across devices) is not supported: "
                "specc trains on one device; got synchronized=true"
            )
        return value

    def _axis(self, x: TensorType) -> int:
        return normalize_axis("BatchNormalization", self.axis, x)

    def layout(self, inputs: list[TensorType]) -> Layout:
        return channel_axis_layout(self.axis, inputs[0])

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("BatchNormalization", x)
        known_dim("BatchNormalization", x, self._axis(x), "per-channel weights")
        return [TensorType("float32", x.shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        (x,) = inputs
        shape = (x.full_shape[self._axis(x)] or 0,)
        specs = affine_weights(self, shape, self.scale, self.center)
        specs.append(
            WeightSpec("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        )
        specs.append(
            WeightSpec("moving_variance", shape, self.moving_variance_initializer, trainable=False)
        )
        return specs

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        axis = self._axis(t)
        dims = list(t.full_shape)
        channels = dims[axis] or 0
        if self.layout(input_types) == "channels_first":
            dims.insert(1, dims.pop(axis))
            axis = 1
        mean, variance = weights["moving_mean"], weights["moving_variance"]
        if self.trainable:
            others = [a for a in range(t.rank) if a != axis]
            mask = ctx.input_masks[0] if ctx.input_masks else None
            if mask is None:
                batch_mean, batch_var, _ = moments(b, x, others, tuple(dims))
            else:
                batch_mean, batch_var = masked_moments(b, x, mask, axis, others)
            # Shaped like the moving statistics, which a training step moves towards them.
            batch_mean = reshape(b, batch_mean, [channels])
            batch_var = reshape(b, batch_var, [channels])
            ctx.update_moving(mean, batch_mean, self.momentum)
            ctx.update_moving(variance, batch_var, self.momentum)
            mean = b.op("Where", ctx.training, batch_mean, mean)
            variance = b.op("Where", ctx.training, batch_var, variance)
        # Per channel first (cheap), then one multiply-add over the input, as Keras does.
        inv = inverse_std(b, variance, self.epsilon)
        if self.scale:
            inv = b.op("Mul", inv, weights["gamma"])
        shift = b.op("Mul", mean, inv)
        shift = b.op("Sub", weights["beta"], shift) if self.center else b.op("Neg", shift)
        if axis != t.rank - 1:
            per_channel = [channels] + [1] * (t.rank - 1 - axis)
            inv, shift = reshape(b, inv, per_channel), reshape(b, shift, per_channel)
        return [b.op("Add", b.op("Mul", x, inv), shift)]

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        (x,) = inputs
        if masked[0] and self._axis(x) != x.rank - 1:
            # Keras's masked moments broadcast the (batch, steps) mask over the last axis.
            raise ShapeError(
                "BatchNormalization reading a mask (Embedding mask_zero or Masking) "
                f"normalizes the last axis only; got axis={self.axis} for input {x}",
                field="axis",
            )

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = np.moveaxis(inputs[0].astype(np.float64), self.axis % inputs[0].ndim, -1)
        w = {k: v.astype(np.float64) for k, v in weights.items()}
        y = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + self.epsilon)
        if self.scale:
            y = y * w["gamma"]
        if self.center:
            y = y + w["beta"]
        return [np.moveaxis(y, -1, self.axis % inputs[0].ndim)]

    @staticmethod
    def masked_moments_np(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``masked_moments`` in NumPy float64, over every axis but the last."""
        w = np.asarray(mask, np.float64)[..., None]
        axes = tuple(range(x.ndim - 1))
        weighted = np.asarray(x, np.float64) * w
        total = np.sum(np.broadcast_to(w, x.shape), axis=axes) + KERAS_EPSILON
        mean = np.sum(weighted, axis=axes) / total
        variance = np.sum(w * (weighted - mean) ** 2, axis=axes) / total
        return mean, variance

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        # The test matrix draws every weight from N(0, 0.5), moving_variance included; an
        # epsilon of 3 keeps var + epsilon positive (a negative one is NaN, as in Keras).
        return [
            ({"epsilon": 3.0}, [TensorType("float32", (5,))]),
            ({"axis": 1, "epsilon": 3.0, "momentum": 0.9}, [TensorType("float32", (3, 4))]),
            ({"epsilon": 3.0, "center": False}, [TensorType("float32", (3, 4, 5))]),
            ({"epsilon": 3.0, "scale": False}, [TensorType("float16", (None, 3))]),
            ({"axis": -2, "epsilon": 4.0}, [TensorType("float32", (3, 2, 2))]),
            (
                {"epsilon": 3.0, "scale": False, "center": False, "trainable": False},
                [TensorType("float32", (2, 3))],
            ),
        ]


def masked_moments(
    b: GraphBuilder, x: Value, mask: Value, channels: int, axes: list[int]
) -> tuple[Value, Value]:
    """Keras's ``BatchNormalization._moments`` with a (batch, steps) mask, x's channels on
    axis ``channels`` (last in Keras's layout, 1 in channels-first): the mean and variance
    of the kept steps, each a sum over the kept count plus ``backend.epsilon()`` (not the
    layer's epsilon). Keras centres the masked inputs (zeros at masked steps), then weighs
    the squares by the mask."""
    at = b.constant(np.asarray([channels], np.int64), np.int64, hint="axes")
    w = b.op("Unsqueeze", mask, at)
    weighted = b.op("Mul", x, w)
    count = b.op("Add", b.reduce_sum(w, axes, keepdims=True), b.constant(KERAS_EPSILON))
    mean = b.op("Div", b.reduce_sum(weighted, axes, keepdims=True), count)
    centred = b.op("Sub", weighted, mean)
    squares = b.op("Mul", w, b.op("Mul", centred, centred))
    variance = b.op("Div", b.reduce_sum(squares, axes, keepdims=True), count)
    return mean, variance
