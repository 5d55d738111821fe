"""Keras 3 losses lowered to ONNX ops that have gradients in onnxruntime-training 1.19.2.

``lower_loss`` turns one loss config (``specc.losses``) into ops computing the batch's
loss, a float32 scalar. Engine constraints (``docs/engine-notes.md#no-gradient-builder``)
shape it:

- No ReduceMax, Softplus or Sign (no gradient builders): the categorical hinge's max is
  ``TopK(k=1)``, softplus is ``Relu(x) + Log(1 + Exp(-|x|))``, and the hinge's 0/1 label test
  uses only comparisons on the labels, which lie on no gradient path.
- The same graph must be valid at opsets 17 to 21, and ReduceMean's ``axes`` moved from an
  attribute to an input at opset 18. So reductions along an axis are ``ReduceSum`` with
  ``axes`` as an input (valid from opset 13) divided by the axis's size, and only the final
  mean over every axis uses ``ReduceMean``, with no axes at all (valid at every opset).
- Probabilities are clipped as Keras clips them; ``Clip`` and ``Max`` pass no gradient
  where they clip, as Keras's clip does. With logits (``from_logits`` or an output that is
  ``softmax``/``sigmoid`` of them) nothing is clipped: ``LogSoftmax``, and
  ``Relu(x) - x*z + Log(1 + Exp(-|x|))`` for binary cross-entropy.

Each lowering returns the per-sample losses (Keras's loss function before reduction) and,
for ``ignore_class``, the float mask of the labels that count; ``lower_loss`` reduces them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from specc.graph import GraphBuilder, Value, normalize_axis
from specc.types import FLOAT, Dim, TensorType

if TYPE_CHECKING:
    from specc.losses import Loss

EPSILON = 1e-7


@dataclass
class _Ops:
    """The builder plus the output's full shape (batch axis first), and small op helpers."""

    b: GraphBuilder
    shape: tuple[Dim, ...]

    def c(self, value: float) -> Value:
        return self.b.constant(value)

    def op(self, op_type: str, *inputs: Value, **attributes: Any) -> Value:
        return self.b.op(op_type, *inputs, **attributes)

    def axis(self, axis: int) -> int:
        """``axis`` as a non-negative index into the full shape."""
        return normalize_axis(axis, len(self.shape))

    def sum(self, x: Value, axis: int | None = None, keepdims: bool = False) -> Value:
        return self.b.reduce_sum(x, axis, keepdims)

    def size(self, x: Value, axis: int) -> Value:
        return self.b.axis_size(x, self.shape, axis)

    def mean(self, x: Value, axis: int) -> Value:
        return self.b.mean_over(x, self.shape, axis)

    def square(self, x: Value) -> Value:
        return self.b.square(x)

    def clip(self, x: Value, low: float, high: float) -> Value:
        return self.b.clip(x, low, high)

    def softplus(self, x: Value) -> Value:
        return self.b.softplus(x)

    def log_probabilities(self, y_pred: Value, logits: Value | None, axis: int) -> Value:
        """log_softmax of logits, or the log of renormalised, clipped probabilities."""
        if logits is not None:
            return self.op("LogSoftmax", logits, axis=self.axis(axis))
        total = self.sum(y_pred, axis, keepdims=True)
        p = self.clip(self.op("Div", y_pred, total), EPSILON, 1.0 - EPSILON)
        return self.op("Log", p)


PerSample = tuple[Value, Value | None]
Lowering = Callable[[Any, _Ops, Value, Value, Value | None], PerSample]


def _mean_squared_error(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    return o.mean(o.square(o.op("Sub", yt, yp)), -1), None


def _mean_absolute_error(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    return o.mean(o.op("Abs", o.op("Sub", yt, yp)), -1), None


def _mape(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    scale = o.op("Max", o.op("Abs", yt), o.c(EPSILON))
    ratio = o.op("Abs", o.op("Div", o.op("Sub", yt, yp), scale))
    return o.op("Mul", o.c(100.0), o.mean(ratio, -1)), None


def _msle(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    def log1p_clipped(x: Value) -> Value:
        return o.op("Log", o.op("Add", o.op("Max", x, o.c(EPSILON)), o.c(1.0)))

    return o.mean(o.square(o.op("Sub", log1p_clipped(yp), log1p_clipped(yt))), -1), None


def _huber(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    delta = float(loss.delta)
    error = o.op("Sub", yp, yt)
    size = o.op("Abs", error)
    quadratic = o.op("Mul", o.c(0.5), o.square(error))
    linear = o.op("Sub", o.op("Mul", o.c(delta), size), o.c(0.5 * delta * delta))
    inside = o.op("LessOrEqual", size, o.c(delta))
    return o.mean(o.op("Where", inside, quadratic, linear), -1), None


def _log_cosh(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    # Keras's form: log(cosh(x)) = x + softplus(-2x) - log(2), which never overflows.
    x = o.op("Sub", yp, yt)
    value = o.op("Add", x, o.softplus(o.op("Mul", x, o.c(-2.0))))
    return o.mean(o.op("Sub", value, o.c(float(np.log(2.0)))), -1), None


def _binary_crossentropy(
    loss: Any, o: _Ops, yp: Value, yt: Value, logits: Value | None
) -> PerSample:
    smoothing = float(loss.label_smoothing)
    z = yt
    if smoothing:
        z = o.op("Add", o.op("Mul", yt, o.c(1.0 - smoothing)), o.c(0.5 * smoothing))
    if logits is not None:
        # max(x, 0) - x*z + log(1 + exp(-|x|)), stable for every x.
        elementwise = o.op("Sub", o.op("Relu", logits), o.op("Mul", logits, z))
        tail = o.op("Add", o.c(1.0), o.op("Exp", o.op("Neg", o.op("Abs", logits))))
        elementwise = o.op("Add", elementwise, o.op("Log", tail))
    else:
        p = o.clip(yp, EPSILON, 1.0 - EPSILON)
        positive = o.op("Mul", z, o.op("Log", p))
        negative = o.op("Mul", o.op("Sub", o.c(1.0), z), o.op("Log", o.op("Sub", o.c(1.0), p)))
        elementwise = o.op("Neg", o.op("Add", positive, negative))
    return o.mean(elementwise, loss.axis), None


def _categorical_crossentropy(
    loss: Any, o: _Ops, yp: Value, yt: Value, logits: Value | None
) -> PerSample:
    smoothing = float(loss.label_smoothing)
    if smoothing:
        # Keras counts the classes on the last axis, whatever the loss's axis.
        share = o.op("Div", o.c(smoothing), o.size(yt, -1))
        yt = o.op("Add", o.op("Mul", yt, o.c(1.0 - smoothing)), share)
    log_p = o.log_probabilities(yp, logits, loss.axis)
    return o.op("Neg", o.sum(o.op("Mul", yt, log_p), loss.axis)), None


def _sparse_categorical_crossentropy(
    loss: Any, o: _Ops, yp: Value, labels: Value, logits: Value | None
) -> PerSample:
    valid = None
    if loss.ignore_class is not None:
        ignored = o.op("Equal", labels, o.b.constant(loss.ignore_class, np.int64, hint="ignore"))
        valid = o.op("Not", ignored)
        # Keras multiplies the labels by the mask: ignored entries read class 0.
        labels = o.op("Where", valid, labels, o.b.constant(0, np.int64, hint="zero"))
    log_p = o.log_probabilities(yp, logits, -1)
    index = o.op("Unsqueeze", labels, o.b.constant([-1], np.int64, hint="axes"))
    picked = o.op("GatherElements", log_p, index, axis=o.axis(-1))
    values = o.op("Neg", o.sum(picked, -1))
    if valid is None:
        return values, None
    mask = o.op("Cast", valid, to=FLOAT)
    return o.op("Mul", values, mask), mask


def _kl_divergence(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    yt, yp = o.clip(yt, EPSILON, 1.0), o.clip(yp, EPSILON, 1.0)
    return o.sum(o.op("Mul", yt, o.op("Log", o.op("Div", yt, yp))), -1), None


def _poisson(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    log_pred = o.op("Log", o.op("Add", yp, o.c(EPSILON)))
    return o.mean(o.op("Sub", yp, o.op("Mul", yt, log_pred)), -1), None


def _hinge_labels(o: _Ops, yt: Value) -> Value:
    """Keras maps 0/1 labels to -1/1 when every label in the batch is 0 or 1."""
    binary = o.op("Or", o.op("Equal", yt, o.c(0.0)), o.op("Equal", yt, o.c(1.0)))
    others = o.sum(o.op("Cast", o.op("Not", binary), to=FLOAT))
    converted = o.op("Sub", o.op("Mul", yt, o.c(2.0)), o.c(1.0))
    return o.op("Where", o.op("Equal", others, o.c(0.0)), converted, yt)


def _hinge_margin(o: _Ops, yp: Value, yt: Value) -> Value:
    return o.op("Relu", o.op("Sub", o.c(1.0), o.op("Mul", _hinge_labels(o, yt), yp)))


def _hinge(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    return o.mean(_hinge_margin(o, yp, yt), -1), None


def _squared_hinge(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    return o.mean(o.square(_hinge_margin(o, yp, yt)), -1), None


def _categorical_hinge(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    positive = o.sum(o.op("Mul", yt, yp), -1)
    others = o.op("Mul", o.op("Sub", o.c(1.0), yt), yp)
    # ReduceMax has no gradient in the engine; TopK(k=1) does.
    k = o.b.constant([1], np.int64, hint="k")
    top, _indices = o.b.op("TopK", others, k, outputs=2, axis=o.axis(-1))
    negative = o.sum(top, -1)
    return o.op("Relu", o.op("Add", o.op("Sub", negative, positive), o.c(1.0))), None


def _cosine_similarity(loss: Any, o: _Ops, yp: Value, yt: Value, _: Value | None) -> PerSample:
    def normalize(x: Value) -> Value:
        # x / max(norm, epsilon), as sqrt(max(sum(x**2), epsilon**2)): no infinite
        # gradient at a zero vector.
        squares = o.sum(o.square(x), loss.axis, keepdims=True)
        return o.op("Div", x, o.op("Sqrt", o.op("Max", squares, o.c(EPSILON * EPSILON))))

    cosine = o.sum(o.op("Mul", normalize(yt), normalize(yp)), loss.axis)
    return o.op("Neg", cosine), None


#: Each loss's lowering, by its config class's name.
LOWERINGS: dict[str, Lowering] = {
    "MeanSquaredError": _mean_squared_error,
    "MeanAbsoluteError": _mean_absolute_error,
    "MeanAbsolutePercentageError": _mape,
    "MeanSquaredLogarithmicError": _msle,
    "Huber": _huber,
    "LogCosh": _log_cosh,
    "BinaryCrossentropy": _binary_crossentropy,
    "CategoricalCrossentropy": _categorical_crossentropy,
    "SparseCategoricalCrossentropy": _sparse_categorical_crossentropy,
    "KLDivergence": _kl_divergence,
    "Poisson": _poisson,
    "Hinge": _hinge,
    "SquaredHinge": _squared_hinge,
    "CategoricalHinge": _categorical_hinge,
    "CosineSimilarity": _cosine_similarity,
}


def _reduce(o: _Ops, values: Value, mask: Value | None, reduction: str) -> Value:
    """Keras's reduction of the per-sample losses to one number."""
    if len(o.shape) == 1:
        # A rank-1 output: Keras's mean over axis -1 already averaged over the batch, and
        # Keras leaves a scalar loss unreduced whatever the reduction.
        return values
    if reduction == "sum":
        return o.sum(values)
    if mask is not None:
        # Keras weighs the labels that count by total/valid: the sum over the valid count
        # (which is a whole number, so max(count, 1) only changes an empty batch's 0/0).
        count = o.op("Max", o.sum(mask), o.c(1.0))
        return o.op("Div", o.sum(values), count)
    return o.op("ReduceMean", values, keepdims=0)


def lower_loss(
    loss: Loss,
    b: GraphBuilder,
    y_pred: Value,
    y_true: Value,
    prediction: TensorType,
    logits: Value | None = None,
) -> Value:
    """Emit ops computing ``loss`` for the batch: a float32 scalar (see ``Loss.lower``)."""
    name = type(loss).__name__
    if name not in LOWERINGS:
        raise NotImplementedError(f"no lowering for the loss {name}")
    o = _Ops(b, prediction.full_shape)
    axis = getattr(loss, "axis", None)
    if axis is not None:
        o.axis(axis)  # an axis outside the output is an error here, not in onnxruntime
    if prediction.dtype != "float32":
        y_pred = o.op("Cast", y_pred, to=FLOAT)
        logits = None if logits is None else o.op("Cast", logits, to=FLOAT)
    if loss.logits_activation(prediction) is None:
        # Either the predictions are logits already, or the loss takes none.
        logits = y_pred if getattr(loss, "from_logits", False) else None
    values, mask = LOWERINGS[name](loss, o, y_pred, y_true, logits)
    return _reduce(o, values, mask, loss.reduction)
