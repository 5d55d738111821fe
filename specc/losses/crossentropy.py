"""Keras's cross-entropies: binary, categorical and sparse categorical.

Where Keras's backends differ, the JAX/NumPy backend is followed: probabilities are
clipped to ``[epsilon, 1 - epsilon]`` with Keras's float32 ``epsilon`` 1e-7 (categorical
ones after renormalising along the axis). When an output is ``softmax``/``sigmoid`` of
logits, ``lower`` may take the logits and compute the loss from them without clipping, as
Keras's TensorFlow backend does for such outputs: ``LogSoftmax``, and
``Relu(x) - x*z + Log(1 + Exp(-|x|))`` for binary cross-entropy.
"""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value, normalize_axis
from specc.lazy_numpy import np
from specc.losses.base import (
    EPSILON,
    HIGH,
    LOSSES,
    LOW,
    FromLogits,
    LabelSmoothing,
    LogitsOf,
    LossExample,
    PerSample,
    Shape,
    f64,
    reduce_reference,
)
from specc.types import FLOAT, TensorType


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def _log_probabilities(y_pred: np.ndarray, from_logits: bool, axis: int) -> np.ndarray:
    """log_softmax of logits, or Keras's renormalised and clipped log of probabilities."""
    if from_logits:
        return _log_softmax(y_pred, axis)
    y_pred = y_pred / y_pred.sum(axis=axis, keepdims=True)
    return np.log(np.clip(y_pred, LOW, HIGH))


def _lower_log_probabilities(
    b: GraphBuilder, shape: Shape, y_pred: Value, logits: Value | None, axis: int
) -> Value:
    """The graph of ``_log_probabilities``: LogSoftmax of logits when there are any."""
    if logits is not None:
        return b.op("LogSoftmax", logits, axis=normalize_axis(axis, len(shape)))
    total = b.reduce_sum(y_pred, axis, keepdims=True)
    p = b.clip(b.op("Div", y_pred, total), EPSILON, 1.0 - EPSILON)
    return b.op("Log", p)


@LOSSES.register
class BinaryCrossentropy(FromLogits):
    """Binary cross-entropy, labels smoothed towards 0.5, mean over ``axis``."""

    type: Literal["BinaryCrossentropy", "binary_crossentropy", "bce", "BCE"] = "BinaryCrossentropy"
    label_smoothing: LabelSmoothing = 0.0
    axis: int = -1

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """``sigmoid``, unless the predictions are logits already."""
        return None if self.from_logits else "sigmoid"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        smoothing = float(self.label_smoothing)
        z = y_true
        if smoothing:
            z = b.op(
                "Add", b.op("Mul", y_true, b.constant(1.0 - smoothing)), b.constant(0.5 * smoothing)
            )
        one = b.constant(1.0)
        if logits is not None:
            # max(x, 0) - x*z + log(1 + exp(-|x|)), stable for every x.
            elementwise = b.op("Sub", b.op("Relu", logits), b.op("Mul", logits, z))
            tail = b.op("Add", one, b.op("Exp", b.op("Neg", b.op("Abs", logits))))
            elementwise = b.op("Add", elementwise, b.op("Log", tail))
        else:
            p = b.clip(y_pred, EPSILON, 1.0 - EPSILON)
            positive = b.op("Mul", z, b.op("Log", p))
            negative = b.op("Mul", b.op("Sub", one, z), b.op("Log", b.op("Sub", one, p)))
            elementwise = b.op("Neg", b.op("Add", positive, negative))
        return PerSample(b.mean_over(elementwise, shape, self.axis))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        z = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            x = y_pred
            elementwise = np.maximum(x, 0.0) - x * z + np.log1p(np.exp(-np.abs(x)))
        else:
            p = np.clip(y_pred, LOW, HIGH)
            elementwise = -(z * np.log(p) + (1.0 - z) * np.log(1.0 - p))
        return np.mean(elementwise, axis=self.axis)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("bce", pred="sigmoid", labels="binary"),
            LossExample({"type": "BinaryCrossentropy", "from_logits": True}, labels="binary"),
            LossExample(
                {"type": "bce", "label_smoothing": 0.2, "reduction": "sum"},
                pred="sigmoid",
                labels="binary",
            ),
            LossExample({"type": "bce", "axis": 1}, shape=(2, 3), pred="sigmoid", labels="binary"),
        ]


@LOSSES.register
class CategoricalCrossentropy(FromLogits):
    """Cross-entropy against one-hot labels along ``axis``, labels smoothed uniformly."""

    type: Literal["CategoricalCrossentropy", "categorical_crossentropy"] = "CategoricalCrossentropy"
    label_smoothing: LabelSmoothing = 0.0
    axis: int = -1

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """``softmax`` over the last axis, when that is the loss's axis too."""
        last = self.axis % prediction.rank == prediction.rank - 1
        return "softmax" if last and not self.from_logits else None

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        smoothing = float(self.label_smoothing)
        if smoothing:
            # Keras counts the classes on the last axis, whatever the loss's axis.
            share = b.op("Div", b.constant(smoothing), b.axis_size(y_true, shape, -1))
            y_true = b.op("Add", b.op("Mul", y_true, b.constant(1.0 - smoothing)), share)
        log_p = _lower_log_probabilities(b, shape, y_pred, logits, self.axis)
        return PerSample(b.op("Neg", b.reduce_sum(b.op("Mul", y_true, log_p), self.axis)))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        if self.label_smoothing:
            # Keras counts the classes on the last axis, whatever ``axis`` is.
            classes = y_true.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        log_p = _log_probabilities(y_pred, self.from_logits, self.axis)
        return -np.sum(y_true * log_p, axis=self.axis)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("categorical_crossentropy", pred="softmax", labels="onehot"),
            LossExample({"type": "CategoricalCrossentropy", "from_logits": True}, labels="onehot"),
            LossExample(
                {"type": "CategoricalCrossentropy", "label_smoothing": 0.1},
                pred="softmax",
                labels="onehot",
            ),
            LossExample(
                {"type": "CategoricalCrossentropy", "axis": 1, "label_smoothing": 0.1},
                shape=(3, 2),
                pred="softmax",
                labels="onehot",
                softmax_axis=1,
            ),
        ]


@LOSSES.register
class SparseCategoricalCrossentropy(FromLogits):
    """Cross-entropy against integer class labels; ``ignore_class`` entries count for 0.

    Keras 3's class takes no ``axis`` (only the function does, fixed at -1 when named by a
    string), so neither does specc. With ``ignore_class``, the mean reductions divide by the
    number of labels that are not ignored (Keras masks them out of the reduction), and a
    batch with none gives 0.
    """

    type: Literal["SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"] = (
        "SparseCategoricalCrossentropy"
    )
    ignore_class: int | None = None

    @property
    def expects_sparse_labels(self) -> bool:
        """Targets are class indices."""
        return True

    def label_type(self, prediction: TensorType) -> TensorType:
        """int64 class indices: the prediction's shape without its class axis."""
        if not prediction.shape:
            raise ValueError(
                "sparse_categorical_crossentropy needs a class axis; got an output of shape "
                f"{prediction}"
            )
        return TensorType("int64", prediction.shape[:-1])

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """``softmax`` over the last axis, unless the predictions are logits already."""
        return None if self.from_logits else "softmax"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        labels, valid = y_true, None
        if self.ignore_class is not None:
            ignored = b.op("Equal", labels, b.constant(self.ignore_class, np.int64, hint="ignore"))
            valid = b.op("Not", ignored)
            # Keras multiplies the labels by the mask: ignored entries read class 0.
            labels = b.op("Where", valid, labels, b.constant(0, np.int64, hint="zero"))
        log_p = _lower_log_probabilities(b, shape, y_pred, logits, -1)
        index = b.op("Unsqueeze", labels, b.constant([-1], np.int64, hint="axes"))
        picked = b.op("GatherElements", log_p, index, axis=normalize_axis(-1, len(shape)))
        values = b.op("Neg", b.reduce_sum(picked, -1))
        if valid is None:
            return PerSample(values)
        mask = b.op("Cast", valid, to=FLOAT)
        return PerSample(b.op("Mul", values, mask), mask)

    def valid_mask(self, y_true: np.ndarray) -> np.ndarray:
        """Which labels count: all, or those other than ``ignore_class``."""
        if self.ignore_class is None:
            return np.ones(y_true.shape, dtype=bool)
        return y_true != self.ignore_class

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        valid = self.valid_mask(y_true)
        labels = np.where(valid, y_true, 0).astype(np.int64)
        log_p = _log_probabilities(y_pred, self.from_logits, -1)
        picked = np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
        return np.where(valid, -picked, 0.0)

    def reference(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        values = self.per_sample(f64(y_pred), np.asarray(y_true))
        if self.ignore_class is None or self.reduction == "sum":
            return reduce_reference(values, self.reduction)
        valid = int(np.sum(self.valid_mask(np.asarray(y_true))))
        return float(np.sum(values)) / valid if valid else 0.0

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("sparse_categorical_crossentropy", pred="softmax", labels="sparse"),
            LossExample(
                {"type": "SparseCategoricalCrossentropy", "from_logits": True},
                shape=(2, 4),
                labels="sparse",
            ),
            LossExample(
                {"type": "SparseCategoricalCrossentropy", "ignore_class": -1},
                shape=(3, 4),
                pred="softmax",
                labels="sparse_ignored",
            ),
            LossExample(
                {"type": "SparseCategoricalCrossentropy", "ignore_class": 0, "reduction": "sum"},
                shape=(3, 4),
                pred="softmax",
                labels="sparse_ignored",
            ),
            LossExample(
                {
                    "type": "SparseCategoricalCrossentropy",
                    "from_logits": True,
                    "ignore_class": 2,
                    "reduction": "mean_with_sample_weight",
                },
                shape=(3, 4),
                labels="sparse_ignored",
            ),
        ]
