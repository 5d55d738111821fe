"""Keras's accuracy metrics, and ``accuracy``/``acc``, which picks one by the shapes.

Each is Keras's ``MeanMetricWrapper`` around an accuracy function: the mean over the
epoch's samples of that function's per-sample values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from specc.metrics.base import METRICS, MeanState, Metric, MetricState, same_rank

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

    def new_state(self) -> MetricState:
        """A state that picks its accuracy at the first batch, once shapes are known."""
        return _LazyAccuracyState(self)


class _LazyAccuracyState:
    """``accuracy``: picks Keras's binary, sparse or categorical accuracy at the first batch."""

    def __init__(self, metric: Accuracy) -> None:
        self.metric = metric
        self.state: MetricState | None = None

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self.state is None:
            y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
            self.state = self.metric.resolve(y_true.shape, y_pred.shape).new_state()
        self.state.update(y_true, y_pred)

    def result(self) -> float:
        return 0.0 if self.state is None else self.state.result()


@METRICS.register
class BinaryAccuracy(Metric):
    """Mean of ``y_true == (y_pred > threshold)``."""

    type: Literal["BinaryAccuracy", "binary_accuracy"] = "BinaryAccuracy"
    direction = "up"
    # Keras raises unless 0 < threshold < 1.
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5

    def new_state(self) -> MetricState:
        """Keras's ``Mean`` of ``binary_accuracy``."""
        return MeanState(lambda t, p: binary_accuracy(t, p, self.threshold))


@METRICS.register
class CategoricalAccuracy(Metric):
    """Mean of ``argmax(y_true) == argmax(y_pred)``."""

    type: Literal["CategoricalAccuracy", "categorical_accuracy"] = "CategoricalAccuracy"
    direction = "up"

    def new_state(self) -> MetricState:
        """Keras's ``Mean`` of ``categorical_accuracy``."""
        return MeanState(categorical_accuracy)


@METRICS.register
class SparseCategoricalAccuracy(Metric):
    """Mean of ``y_true == argmax(y_pred)`` for integer labels."""

    type: Literal["SparseCategoricalAccuracy", "sparse_categorical_accuracy"] = (
        "SparseCategoricalAccuracy"
    )
    direction = "up"

    def new_state(self) -> MetricState:
        """Keras's ``Mean`` of ``sparse_categorical_accuracy``."""
        return MeanState(sparse_categorical_accuracy)


@METRICS.register
class TopKCategoricalAccuracy(Metric):
    """How often ``argmax(y_true)`` is among the ``k`` largest predictions."""

    type: Literal["TopKCategoricalAccuracy", "top_k_categorical_accuracy"] = (
        "TopKCategoricalAccuracy"
    )
    direction = "up"
    k: Annotated[int, Field(gt=0)] = 5

    def new_state(self) -> MetricState:
        """Keras's ``Mean`` of ``top_k_categorical_accuracy``."""
        return MeanState(lambda t, p: _in_top_k(np.argmax(t, axis=-1), p, self.k))


@METRICS.register
class SparseTopKCategoricalAccuracy(Metric):
    """How often the integer label is among the ``k`` largest predictions."""

    type: Literal["SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"] = (
        "SparseTopKCategoricalAccuracy"
    )
    direction = "up"
    k: Annotated[int, Field(gt=0)] = 5

    def new_state(self) -> MetricState:
        """Keras's ``Mean`` of ``sparse_top_k_categorical_accuracy``."""
        return MeanState(lambda t, p: _in_top_k(t, p, self.k))


# --- Keras's accuracy functions, per sample ------------------------------------------------


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
