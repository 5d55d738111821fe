"""Keras's accuracy metrics, and ``accuracy``/``acc``, which picks one by the shapes.

Each is Keras's ``MeanMetricWrapper`` around an accuracy function: the mean over the
epoch's samples of that function's per-sample values. ``accuracy`` picks its kind when the
training graph is built, from the label and prediction types (Keras picks at the first
batch, from the same shapes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.metrics.base import (
    METRICS,
    MeanMetric,
    Metric,
    MetricInputs,
    MetricValue,
    Shape,
    Statistic,
    lower_mean_result,
    lower_same_rank,
    mean_result,
    same_rank,
    to_float32,
)
from specc.types import FLOAT, INT64, TensorType

LabelKind = Literal["binary", "sparse", "categorical"]


def label_kind(y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]) -> LabelKind:
    """Keras's ``is_binary_or_sparse_categorical``: how ``accuracy`` reads its labels.

    Both shapes are taken with or without the batch dimension, the same way for both.
    Binary when the prediction's last dimension is 1; sparse when the labels have lower rank,
    or a last dimension of 1 against a wider prediction; categorical otherwise.
    """
    if y_pred_shape and y_pred_shape[-1] == 1:
        return "binary"
    true_last = y_true_shape[-1] if y_true_shape else None
    pred_last = y_pred_shape[-1] if y_pred_shape else None
    if len(y_true_shape) < len(y_pred_shape) or (
        true_last == 1 and pred_last is not None and pred_last > 1
    ):
        return "sparse"
    return "categorical"


@METRICS.register
class Accuracy(Metric):
    """``accuracy``/``acc`` in compile: binary, categorical or sparse accuracy by shapes.

    Keras's own ``Accuracy`` class (exact equality) is not offered: in ``compile`` its
    string spellings mean this shape-dependent accuracy.
    """

    type: Literal["accuracy", "acc"] = "accuracy"
    direction = "up"

    def resolve(
        self, y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]
    ) -> BinaryAccuracy | SparseCategoricalAccuracy | CategoricalAccuracy:
        """The accuracy Keras picks for these shapes, keeping this entry's history name."""
        kind = label_kind(y_true_shape, y_pred_shape)
        name = self.history_name()
        if kind == "binary":
            return BinaryAccuracy(name=name)
        if kind == "sparse":
            return SparseCategoricalAccuracy(name=name)
        return CategoricalAccuracy(name=name)

    def for_types(self, labels: TensorType, prediction: TensorType) -> Metric:
        """The accuracy Keras picks for these types."""
        return self.resolve(labels.full_shape, prediction.full_shape)

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """The statistics of the accuracy these types pick."""
        return self.for_types(x.labels, x.prediction).lower(b, x)

    def reference_statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """The statistics of the accuracy these arrays' shapes pick."""
        return self.resolve(y_true.shape, y_pred.shape).reference_statistics(y_true, y_pred)

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """Every accuracy is a mean."""
        return mean_result(totals)

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """The mean, in the graph."""
        return lower_mean_result(b, totals)


@METRICS.register
class BinaryAccuracy(MeanMetric):
    """Mean of ``y_true == (y_pred > threshold)``."""

    type: Literal["BinaryAccuracy", "binary_accuracy"] = "BinaryAccuracy"
    direction = "up"
    # Keras raises unless 0 < threshold < 1.
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """``mean(y_true == (y_pred > threshold), axis=-1)``, compared in float32."""
        y_true, y_pred, labels, prediction = x.y_true, x.y_pred, x.labels, x.prediction
        y_true, y_pred = to_float32(b, y_true, labels), to_float32(b, y_pred, prediction)
        y_true, y_pred, shape, _ = lower_same_rank(
            b, y_true, y_pred, labels.full_shape, prediction.full_shape
        )
        predicted = b.op("Cast", b.op("Greater", y_pred, b.constant(self.threshold)), to=FLOAT)
        equal = b.op("Cast", b.op("Equal", y_true, predicted), to=FLOAT)
        return b.mean_over(equal, shape, -1), shape[:-1]

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's ``binary_accuracy``."""
        return binary_accuracy(y_true, y_pred, self.threshold)


@METRICS.register
class CategoricalAccuracy(MeanMetric):
    """Mean of ``argmax(y_true) == argmax(y_pred)``."""

    type: Literal["CategoricalAccuracy", "categorical_accuracy"] = "CategoricalAccuracy"
    direction = "up"

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """``argmax(y_true) == argmax(y_pred)`` (the first of tied maxima, as NumPy)."""
        # ArgMax in float32: onnxruntime 1.19 has no integer ArgMax.
        y_true, y_pred = to_float32(b, x.y_true, x.labels), to_float32(b, x.y_pred, x.prediction)
        true_class = b.op("ArgMax", y_true, axis=-1, keepdims=0)
        predicted = b.op("ArgMax", y_pred, axis=-1, keepdims=0)
        equal = b.op("Cast", b.op("Equal", true_class, predicted), to=FLOAT)
        return equal, x.labels.full_shape[:-1]

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's ``categorical_accuracy``."""
        return categorical_accuracy(y_true, y_pred)


@METRICS.register
class SparseCategoricalAccuracy(MeanMetric):
    """Mean of ``y_true == argmax(y_pred)`` for integer labels."""

    type: Literal["SparseCategoricalAccuracy", "sparse_categorical_accuracy"] = (
        "SparseCategoricalAccuracy"
    )
    direction = "up"

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """``y_true == argmax(y_pred)``, labels of shape ``[..., 1]`` squeezed."""
        y_true, y_pred, labels, prediction = x.y_true, x.y_pred, x.labels, x.prediction
        shape = labels.full_shape
        if len(shape) == len(prediction.full_shape) and shape[-1] == 1:
            y_true = b.op("Squeeze", y_true, b.constant([len(shape) - 1], np.int64, hint="axes"))
            shape = shape[:-1]
        y_pred = to_float32(b, y_pred, prediction)
        predicted = b.op("Cast", b.op("ArgMax", y_pred, axis=-1, keepdims=0), to=FLOAT)
        equal = b.op("Equal", to_float32(b, y_true, labels), predicted)
        return b.op("Cast", equal, to=FLOAT), shape

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's ``sparse_categorical_accuracy``."""
        return sparse_categorical_accuracy(y_true, y_pred)


@METRICS.register
class TopKCategoricalAccuracy(MeanMetric):
    """How often ``argmax(y_true)`` is among the ``k`` largest predictions."""

    type: Literal["TopKCategoricalAccuracy", "top_k_categorical_accuracy"] = (
        "TopKCategoricalAccuracy"
    )
    direction = "up"
    k: Annotated[int, Field(gt=0)] = 5

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """``in_top_k`` of the one-hot labels' class."""
        y_true, y_pred, labels, prediction = x.y_true, x.y_pred, x.labels, x.prediction
        true_class = b.op("ArgMax", to_float32(b, y_true, labels), axis=-1, keepdims=0)
        found = _lower_in_top_k(b, true_class, to_float32(b, y_pred, prediction), self.k)
        return found, labels.full_shape[:-1]

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's ``top_k_categorical_accuracy``."""
        return _in_top_k(np.argmax(y_true, axis=-1), y_pred, self.k)


@METRICS.register
class SparseTopKCategoricalAccuracy(MeanMetric):
    """How often the integer label is among the ``k`` largest predictions."""

    type: Literal["SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"] = (
        "SparseTopKCategoricalAccuracy"
    )
    direction = "up"
    k: Annotated[int, Field(gt=0)] = 5

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """``in_top_k`` of the integer labels."""
        y_true, y_pred, labels, prediction = x.y_true, x.y_pred, x.labels, x.prediction
        if labels.dtype != "int64":
            y_true = b.op("Cast", y_true, to=INT64)
        found = _lower_in_top_k(b, y_true, to_float32(b, y_pred, prediction), self.k)
        return found, labels.full_shape

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Keras's ``sparse_top_k_categorical_accuracy``."""
        return _in_top_k(y_true, y_pred, self.k)


def _lower_in_top_k(b: GraphBuilder, labels: Value, y_pred: Value, k: int) -> Value:
    """Keras's ``in_top_k`` over the last axis, shaped as the int64 ``labels``: fewer than
    ``k`` predictions strictly above the label's, and the label's finite."""
    flat = b.op("Flatten", y_pred, axis=-1)
    indices = b.op("Reshape", labels, b.constant([-1, 1], np.int64, hint="shape"))
    at_label = b.op("GatherElements", flat, indices, axis=1)
    above = b.op("Cast", b.op("Greater", flat, at_label), to=FLOAT)
    count = b.reduce_sum(above, 1, keepdims=True)
    within = b.op("Less", count, b.constant(float(k)))
    finite = b.op("Not", b.op("Or", b.op("IsInf", at_label), b.op("IsNaN", at_label)))
    found = b.op("Cast", b.op("And", within, finite), to=FLOAT)
    return b.op("Reshape", found, b.op("Shape", labels))


# --- Keras's accuracy functions, per sample: the NumPy references ----------------------------


def binary_accuracy(y_true: np.ndarray, y_pred: np.ndarray, threshold: float) -> np.ndarray:
    """``mean(y_true == (y_pred > threshold), axis=-1)``."""
    y_true, y_pred = same_rank(y_true, y_pred)
    # Keras compares in float32, the predictions' dtype.
    predicted = (y_pred.astype(np.float32) > np.float32(threshold)).astype(y_true.dtype)
    return np.mean(y_true == predicted, axis=-1)


def categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` along the last axis."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``y_true == argmax(y_pred)``, labels of shape ``[..., 1]`` squeezed."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(np.float64)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Keras's ``in_top_k``: fewer than ``k`` predictions strictly above the label's."""
    flat = y_pred.reshape(-1, y_pred.shape[-1])
    flat_labels = labels.reshape(-1).astype(np.int64)
    at_label = np.take_along_axis(flat, flat_labels[:, None], axis=-1)
    above = np.sum(flat > at_label, axis=-1)
    found = (above < k) & np.isfinite(at_label[:, 0])
    return found.reshape(labels.shape).astype(np.float64)
