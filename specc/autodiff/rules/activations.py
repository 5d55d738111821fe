"""Gradients of ONNX's activation ops, from their forward outputs where that is cheaper.

At a kink the subgradient is Keras's (TensorFlow's) and onnxruntime-training's: Relu,
LeakyRelu, Elu, Selu and ThresholdedRelu take their negative-side slope at the kink
itself; HardSigmoid and HardSwish none at the ends of their linear stretch.
"""

from __future__ import annotations

import math

from specc.autodiff.core import Backward
from specc.autodiff.rules.elementwise import greater_than, masked, pointwise, scalar, select
from specc.graph import Value

# ONNX's default attribute values.
SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _times(d: Backward, gy: Value, factor: float) -> Value:
    return d.op("Mul", gy, scalar(d, factor, d.x(0)))


@pointwise("Relu")
def _relu(d: Backward, gy: Value) -> Value:
    # y > 0 exactly where x > 0; 0 at x = 0.
    if d.forward is not None and d.y().name in d.forward.positive_only:
        return gy  # already zero where y is 0 (see ForwardIndex.positive_only)
    return masked(d, greater_than(d, d.y()), gy)


@pointwise("LeakyRelu")
def _leaky_relu(d: Backward, gy: Value) -> Value:
    alpha = float(d.attr("alpha", 0.01))
    return select(d, greater_than(d, d.x(0)), gy, _times(d, gy, alpha))


@pointwise("ThresholdedRelu")
def _thresholded_relu(d: Backward, gy: Value) -> Value:
    return masked(d, greater_than(d, d.x(0), float(d.attr("alpha", 1.0))), gy)


def _exponential_side(d: Backward, gy: Value, scale: float, offset: float) -> Value:
    """``scale * gy`` where x > 0, ``gy * (y + offset)`` elsewhere (Elu, Selu)."""
    x, y = d.x(0), d.y()
    negative = d.op("Mul", gy, d.op("Add", y, scalar(d, offset, x)))
    positive = gy if scale == 1.0 else _times(d, gy, scale)
    return select(d, greater_than(d, x), positive, negative)


@pointwise("Elu")
def _elu(d: Backward, gy: Value) -> Value:
    """x <= 0: y = alpha * (exp(x) - 1), dy/dx = alpha * exp(x) = y + alpha."""
    return _exponential_side(d, gy, 1.0, float(d.attr("alpha", 1.0)))


@pointwise("Selu")
def _selu(d: Backward, gy: Value) -> Value:
    """x <= 0: y = gamma * alpha * (exp(x) - 1), dy/dx = y + gamma * alpha; else gamma."""
    alpha = float(d.attr("alpha", SELU_ALPHA))
    gamma = float(d.attr("gamma", SELU_GAMMA))
    return _exponential_side(d, gy, gamma, gamma * alpha)


@pointwise("Celu")
def _celu(d: Backward, gy: Value) -> Value:
    """x <= 0: y = alpha * (exp(x / alpha) - 1), dy/dx = exp(x / alpha) = y / alpha + 1.

    Both sides have slope 1 at 0, so no subgradient choice arises.
    """
    x, y = d.x(0), d.y()
    alpha = float(d.attr("alpha", 1.0))
    slope = d.op("Add", d.op("Mul", y, scalar(d, 1.0 / alpha, x)), scalar(d, 1.0, x))
    return select(d, greater_than(d, x), gy, d.op("Mul", gy, slope))


@pointwise("HardSigmoid")
def _hard_sigmoid(d: Backward, gy: Value) -> Value:
    """y = clip(alpha * x + beta, 0, 1): alpha strictly between the clipped ends."""
    y = d.y()
    inside = d.op("And", greater_than(d, y), d.op("Less", y, scalar(d, 1.0, y)))
    return masked(d, inside, _times(d, gy, float(d.attr("alpha", 0.2))))


@pointwise("HardSwish")
def _hard_swish(d: Backward, gy: Value) -> Value:
    """y = x * h(x), h = clip(x / 6 + 1/2, 0, 1): dy/dx = h + x / 6 for -3 < x < 3."""
    x = d.x(0)
    h = d.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)
    inside = d.op("And", greater_than(d, x, -3.0), d.op("Less", x, scalar(d, 3.0, x)))
    tilt = masked(d, inside, d.op("Mul", x, scalar(d, 1.0 / 6.0, x)))
    return d.op("Mul", gy, d.op("Add", h, tilt))


def sigmoid_slope(d: Backward, y: Value) -> Value:
    """The sigmoid's slope from its value ``y``: y (1 - y)."""
    return d.op("Mul", y, d.op("Sub", scalar(d, 1.0, y), y))


def tanh_slope(d: Backward, y: Value) -> Value:
    """The tanh's slope from its value ``y``: 1 - y^2."""
    return d.op("Sub", scalar(d, 1.0, y), d.op("Mul", y, y))


@pointwise("Sigmoid")
def _sigmoid(d: Backward, gy: Value) -> Value:
    """dy/dx = y * (1 - y)."""
    return d.op("Mul", gy, sigmoid_slope(d, d.y()))


@pointwise("Tanh")
def _tanh(d: Backward, gy: Value) -> Value:
    """dy/dx = 1 - y^2."""
    return d.op("Mul", gy, tanh_slope(d, d.y()))


@pointwise("Softplus")
def _softplus(d: Backward, gy: Value) -> Value:
    """d log(1 + exp(x)) = sigmoid(x)."""
    return d.op("Mul", gy, d.op("Sigmoid", d.x(0)))


@pointwise("Softsign")
def _softsign(d: Backward, gy: Value) -> Value:
    """d x / (1 + |x|) = 1 / (1 + |x|)^2."""
    x = d.x(0)
    denominator = d.op("Add", d.op("Abs", x), scalar(d, 1.0, x))
    return d.op("Div", gy, d.op("Mul", denominator, denominator))


@pointwise("Mish")
def _mish(d: Backward, gy: Value) -> Value:
    """y = x * t, t = tanh(softplus(x)): dy/dx = t + x * (1 - t^2) * sigmoid(x)."""
    x = d.x(0)
    t = d.op("Tanh", d.op("Softplus", x))
    dt = d.op("Mul", d.op("Sub", scalar(d, 1.0, x), d.op("Mul", t, t)), d.op("Sigmoid", x))
    return d.op("Mul", gy, d.op("Add", t, d.op("Mul", x, dt)))


@pointwise("Gelu")
def _gelu(d: Backward, gy: Value) -> Value:
    """Gelu (opset 20). Exact: y = x * Phi(x), dy/dx = Phi(x) + x * phi(x). With
    approximate="tanh": y = x / 2 * (1 + tanh(u)), u = c * (x + k x^3), so
    dy/dx = (1 + t) / 2 + x / 2 * (1 - t^2) * c * (1 + 3 k x^2), t = tanh(u)."""
    x = d.x(0)
    approximate = d.attr("approximate", "none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    square = d.op("Mul", x, x)
    if approximate == "tanh":
        half_x = d.op("Mul", x, scalar(d, 0.5, x))
        c, k = math.sqrt(2.0 / math.pi), 0.044715
        inner = d.op("Add", scalar(d, 1.0, x), d.op("Mul", square, scalar(d, k, x)))
        t = d.op("Tanh", d.op("Mul", d.op("Mul", x, inner), scalar(d, c, x)))
        slope = d.op("Add", scalar(d, c, x), d.op("Mul", square, scalar(d, 3 * k * c, x)))
        dt = d.op("Mul", d.op("Sub", scalar(d, 1.0, x), d.op("Mul", t, t)), slope)
        cdf = d.op("Mul", d.op("Add", scalar(d, 1.0, x), t), scalar(d, 0.5, x))
        return d.op("Mul", gy, d.op("Add", cdf, d.op("Mul", half_x, dt)))
    if approximate != "none":
        raise ValueError(
            f"Gelu '{d.node.name}': approximate must be 'none' or 'tanh'; got {approximate!r}"
        )
    erf = d.op("Erf", d.op("Mul", x, scalar(d, 1.0 / math.sqrt(2.0), x)))
    cdf = d.op("Mul", d.op("Add", scalar(d, 1.0, x), erf), scalar(d, 0.5, x))
    bell = d.op("Exp", d.op("Mul", square, scalar(d, -0.5, x)))
    density = d.op("Mul", bell, scalar(d, 1.0 / math.sqrt(2.0 * math.pi), x))
    return d.op("Mul", gy, d.op("Add", cdf, d.op("Mul", x, density)))
