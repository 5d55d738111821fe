"""Keras 3 activations: config, lowering to ONNX ops that have gradients, NumPy reference.

Elu, Selu, Softplus, Softsign and HardSigmoid have no gradient in onnxruntime-training
1.19.2 (``docs/engine-notes.md#no-gradient-builder``), so they are lowered to elementary
ops; Mish and HardSwish too. Each entry's ``reference`` is written from Keras's documented
formula, independently of its lowering, so tests compare two derivations.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel
from specc.types import FLOAT

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Activation(SpecModel):
    """An elementwise (or softmax-style) activation function."""

    # False for activations that work along an axis (softmax): they need the spec's layout.
    pointwise: ClassVar[bool] = True

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        """Emit ONNX ops computing the activation of ``x``."""
        raise NotImplementedError

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The Keras formula in NumPy (float64 internally)."""
        raise NotImplementedError


ACTIVATIONS: Registry[Activation] = Registry("activation")


def _elu_ops(b: GraphBuilder, x: Value, alpha: float) -> Value:
    # relu(x) + alpha * (exp(min(x, 0)) - 1): the negative part is exactly 0 where x > 0,
    # so this equals Where(x > 0, x, ...) value for value and subgradient for subgradient,
    # without a Where over the tensor (~10x slower than these ops on onnxruntime's CPU).
    negative = b.op(
        "Mul",
        b.constant(alpha),
        b.op("Sub", b.op("Exp", b.op("Min", x, b.constant(0.0))), b.constant(1.0)),
    )
    return b.op("Add", b.op("Relu", x), negative)


def _np_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


@ACTIVATIONS.register
class Linear(Activation):
    """linear(x) = x."""

    type: Literal["linear"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return x

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x


@ACTIVATIONS.register
class Relu(Activation):
    """relu(x) = max(x, 0), with Keras's optional negative_slope, max_value and threshold."""

    type: Literal["relu"]
    negative_slope: float = Field(0.0, ge=0)
    max_value: float | None = Field(None, ge=0)
    threshold: float = 0.0

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        slope, cap, threshold = self.negative_slope, self.max_value, self.threshold
        if slope == 0 and cap is None and threshold == 0:
            return b.op("Relu", x)
        if slope != 0 and cap is None and threshold == 0:
            return b.op("LeakyRelu", x, alpha=slope)
        # Keras 3's general form, term by term.
        if threshold != 0:
            positive = b.op(
                "Mul", x, b.op("Cast", b.op("Greater", x, b.constant(threshold)), to=FLOAT)
            )
        else:
            positive = b.op("Relu", x)
        if cap is not None:
            positive = b.op("Clip", positive, b.constant(0.0), b.constant(cap))
        if slope == 0:
            return positive
        shifted = (
            b.op("Add", b.op("Neg", x), b.constant(threshold)) if threshold else b.op("Neg", x)
        )
        return b.op("Sub", positive, b.op("Mul", b.constant(slope), b.op("Relu", shifted)))

    def reference(self, x: np.ndarray) -> np.ndarray:
        slope, cap, threshold = self.negative_slope, self.max_value, self.threshold
        if slope != 0 and cap is None and threshold == 0:
            return np.where(x >= 0, x, slope * x)
        negative = np.maximum(threshold - x, 0.0)
        out = x * (x > threshold) if threshold != 0 else np.maximum(x, 0.0)
        if cap is not None:
            out = np.clip(out, 0.0, cap)
        return out - slope * negative if slope else out


@ACTIVATIONS.register
class LeakyRelu(Activation):
    """leaky_relu(x) = x if x >= 0 else negative_slope * x."""

    type: Literal["leaky_relu"]
    negative_slope: float = 0.2

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("LeakyRelu", x, alpha=self.negative_slope)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, self.negative_slope * x)


@ACTIVATIONS.register
class Relu6(Activation):
    """relu6(x) = min(max(x, 0), 6)."""

    type: Literal["relu6"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Clip", x, b.constant(0.0), b.constant(6.0))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(x, 0.0), 6.0)


@ACTIVATIONS.register
class Elu(Activation):
    """elu(x) = x if x > 0 else alpha * (exp(x) - 1)."""

    type: Literal["elu"]
    alpha: float = 1.0

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return _elu_ops(b, x, self.alpha)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))


@ACTIVATIONS.register
class Selu(Activation):
    """selu(x) = scale * elu(x, alpha), scale ~ 1.0507 and alpha ~ 1.6733."""

    type: Literal["selu"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Mul", b.constant(SELU_SCALE), _elu_ops(b, x, SELU_ALPHA))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


@ACTIVATIONS.register
class Softplus(Activation):
    """softplus(x) = log(exp(x) + 1)."""

    type: Literal["softplus"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.softplus(x)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return _np_softplus(x)


@ACTIVATIONS.register
class Softsign(Activation):
    """softsign(x) = x / (|x| + 1)."""

    type: Literal["softsign"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Div", x, b.op("Add", b.op("Abs", x), b.constant(1.0)))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x / (np.abs(x) + 1.0)


@ACTIVATIONS.register
class Softmax(Activation):
    """softmax(x) = exp(x) / sum(exp(x)) along ``axis``."""

    type: Literal["softmax"]
    axis: int = -1
    pointwise: ClassVar[bool] = False

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.activation("softmax", x, axis=self.axis)

    def reference(self, x: np.ndarray) -> np.ndarray:
        shifted = np.exp(x - x.max(axis=self.axis, keepdims=True))
        return shifted / shifted.sum(axis=self.axis, keepdims=True)


@ACTIVATIONS.register
class LogSoftmax(Activation):
    """log_softmax(x) = x - log(sum(exp(x))) along ``axis``."""

    type: Literal["log_softmax"]
    axis: int = -1
    pointwise: ClassVar[bool] = False

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("LogSoftmax", x, axis=self.axis)

    def reference(self, x: np.ndarray) -> np.ndarray:
        top = x.max(axis=self.axis, keepdims=True)
        return x - top - np.log(np.exp(x - top).sum(axis=self.axis, keepdims=True))


@ACTIVATIONS.register
class Sigmoid(Activation):
    """sigmoid(x) = 1 / (1 + exp(-x))."""

    type: Literal["sigmoid"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.activation("sigmoid", x)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x))


@ACTIVATIONS.register
class Tanh(Activation):
    """tanh(x)."""

    type: Literal["tanh"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Tanh", x)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)


@ACTIVATIONS.register
class HardSigmoid(Activation):
    """hard_sigmoid(x) = relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)."""

    type: Literal["hard_sigmoid"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        scaled = b.op("Add", b.op("Mul", x, b.constant(1.0 / 6.0)), b.constant(0.5))
        return b.op("Clip", scaled, b.constant(0.0), b.constant(1.0))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


@ACTIVATIONS.register
class HardSilu(Activation):
    """hard_silu(x) = x * relu6(x + 3) / 6."""

    type: Literal["hard_silu", "hard_swish"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Mul", x, HardSigmoid(type="hard_sigmoid").lower(b, x))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


@ACTIVATIONS.register
class Exponential(Activation):
    """exponential(x) = exp(x)."""

    type: Literal["exponential"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Exp", x)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)


@ACTIVATIONS.register
class Gelu(Activation):
    """gelu(x) = x * Phi(x) (erf form), or Keras's tanh form when ``approximate``."""

    type: Literal["gelu"]
    approximate: bool = False

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        half_x = b.op("Mul", x, b.constant(0.5))
        if self.approximate:
            cubic = b.op("Mul", b.constant(0.044715), b.op("Mul", x, b.op("Mul", x, x)))
            inner = b.op("Mul", b.constant(math.sqrt(2.0 / math.pi)), b.op("Add", x, cubic))
            return b.op("Mul", half_x, b.op("Add", b.constant(1.0), b.op("Tanh", inner)))
        erf = b.op("Erf", b.op("Mul", x, b.constant(1.0 / math.sqrt(2.0))))
        return b.op("Mul", half_x, b.op("Add", b.constant(1.0), erf))

    def reference(self, x: np.ndarray) -> np.ndarray:
        if self.approximate:
            inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
            return 0.5 * x * (1.0 + np.tanh(inner))
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return 0.5 * x * (1.0 + erf(np.asarray(x, np.float64) / math.sqrt(2.0)))


@ACTIVATIONS.register
class Silu(Activation):
    """silu(x) = swish(x) = x * sigmoid(x)."""

    type: Literal["silu", "swish"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Mul", x, b.op("Sigmoid", x))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x / (1.0 + np.exp(-x))


@ACTIVATIONS.register
class Mish(Activation):
    """mish(x) = x * tanh(softplus(x))."""

    type: Literal["mish"]

    def lower(self, b: GraphBuilder, x: Value) -> Value:
        return b.op("Mul", x, b.op("Tanh", b.softplus(x)))

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x * np.tanh(_np_softplus(x))


ActivationField = ACTIVATIONS.discriminated_union()


def apply_activation(b: GraphBuilder, activation: Activation | None, x: Value) -> Value:
    """Lower an optional activation; ``None`` and ``linear`` leave ``x`` as it is."""
    return x if activation is None else activation.lower(b, x)
