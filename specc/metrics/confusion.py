"""Keras's confusion-count metrics: precision and recall at one threshold.

They count true/false positives at their threshold (``y_pred > threshold``) after Keras's
``top_k`` and ``class_id`` filters; ``ConfusionCounts`` (shared with AUC) is Keras's
``update_confusion_matrix_variables``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from specc.metrics.base import (
    METRICS,
    Metric,
    MetricState,
    Threshold,
    divide_no_nan,
    same_rank,
)

NEG_INF = -1e10  # Keras's stand-in for -inf in top_k filtering


def _filter_top_k(x: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest values of the last axis (ties: lower index); others NEG_INF."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, x, np.float32(NEG_INF))


class ConfusionCounts:
    """Keras's ``update_confusion_matrix_variables``: tp/fp/tn/fn at each threshold.

    Counts have shape ``[thresholds]``, or ``[thresholds, labels]`` with ``multi_label``.
    ``label_weights`` (flattened data only) weigh each label's entries.
    """

    def __init__(
        self,
        thresholds: list[float],
        evenly_spaced: bool,
        multi_label: bool = False,
        label_weights: list[float] | None = None,
        top_k: int | None = None,
        class_id: int | None = None,
    ) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        self.evenly_spaced = evenly_spaced
        self.multi_label = multi_label
        self.label_weights = label_weights
        self.top_k, self.class_id = top_k, class_id
        self.tp = self.fp = self.tn = self.fn = np.zeros(len(thresholds))

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Count one batch."""
        y_pred = np.asarray(y_pred, np.float32)
        y_true = np.asarray(y_true).astype(np.float32)
        y_pred, y_true = same_rank(y_pred, y_true)
        if self.top_k is not None:
            y_pred = _filter_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            if y_pred.ndim == 1:
                raise ValueError("class_id needs predictions of shape (batch, classes)")
            y_true, y_pred = y_true[..., self.class_id, None], y_pred[..., self.class_id, None]
        if self.multi_label and y_pred.ndim != 2:
            raise ValueError(f"AUC(multi_label=True) needs rank-2 predictions; got {y_pred.shape}")
        weights = np.ones(y_pred.shape, np.float32)
        if self.label_weights is not None and not self.multi_label:
            weights = weights * np.asarray(self.label_weights, np.float32)
        positive = (y_true != 0).astype(np.float64)
        if not self.multi_label:
            y_pred, positive, weights = (
                y_pred.reshape(-1),
                positive.reshape(-1),
                weights.reshape(-1),
            )
        true_labels, false_labels = positive * weights, (1.0 - positive) * weights
        if self.evenly_spaced:
            tp, fp = self._bucketed(y_pred, true_labels, false_labels)
        else:
            # [thresholds, entries(, labels)]: entry > threshold.
            above = y_pred[None] > self.thresholds.reshape(-1, *([1] * y_pred.ndim))
            tp, fp = np.sum(above * true_labels, axis=1), np.sum(above * false_labels, axis=1)
        if self.tp.shape != tp.shape:
            self.tp = self.fp = self.tn = self.fn = np.zeros(tp.shape)
        self.tp = self.tp + tp
        self.fp = self.fp + fp
        self.fn = self.fn + (true_labels.sum(axis=0) - tp)
        self.tn = self.tn + (false_labels.sum(axis=0) - fp)

    def _bucketed(
        self, y_pred: np.ndarray, true_labels: np.ndarray, false_labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # Keras's optimized path, in float32 as Keras runs it: bucket ceil(p * (n-1)) - 1
        # holds the predictions above threshold i exactly when bucket >= i.
        n = len(self.thresholds)
        y_pred = np.clip(y_pred, 0.0, 1.0).astype(np.float32)
        buckets = np.ceil(y_pred * np.float32(n - 1)) - np.float32(1.0)
        if self.thresholds[0] < 0 or self.thresholds[-1] > 1:
            buckets = np.maximum(buckets, 0.0)
        buckets = buckets.astype(np.int64)

        def reverse_cumsum(labels: np.ndarray) -> np.ndarray:
            if labels.ndim == 1:
                counts = np.bincount(buckets, weights=labels, minlength=n)
            else:
                counts = np.stack(
                    [
                        np.bincount(buckets[:, j], weights=labels[:, j], minlength=n)
                        for j in range(labels.shape[1])
                    ],
                    axis=1,
                )
            return np.flip(np.cumsum(np.flip(counts, axis=0), axis=0), axis=0)

        return reverse_cumsum(true_labels), reverse_cumsum(false_labels)


class _ConfusionRatio(Metric):
    """Precision and recall share Keras's arguments."""

    direction = "up"

    # One threshold only: a list would make the metric a vector, and the history holds
    # one number per metric per epoch. Keras defaults to 0.5 (or none with top_k).
    thresholds: Threshold | None = None
    top_k: Annotated[int, Field(gt=0)] | None = None
    class_id: Annotated[int, Field(ge=0)] | None = None


@METRICS.register
class Precision(_ConfusionRatio):
    """``true_positives / (true_positives + false_positives)``."""

    type: Literal["Precision", "precision"] = "Precision"

    def new_state(self) -> MetricState:
        """Keras's ``Precision`` over the batches so far."""
        return _RatioState(self, recall=False)


@METRICS.register
class Recall(_ConfusionRatio):
    """``true_positives / (true_positives + false_negatives)``."""

    type: Literal["Recall", "recall"] = "Recall"

    def new_state(self) -> MetricState:
        """Keras's ``Recall`` over the batches so far."""
        return _RatioState(self, recall=True)


class _RatioState:
    """Keras's ``Precision`` (tp / (tp + fp)) or ``Recall`` (tp / (tp + fn))."""

    def __init__(self, metric: _ConfusionRatio, recall: bool) -> None:
        default = 0.5 if metric.top_k is None else NEG_INF
        threshold = default if metric.thresholds is None else metric.thresholds
        self.counts = ConfusionCounts(
            [threshold], False, top_k=metric.top_k, class_id=metric.class_id
        )
        self.recall = recall

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        self.counts.update(y_true, y_pred)

    def result(self) -> float:
        c = self.counts
        other = c.fn if self.recall else c.fp
        return float(divide_no_nan(c.tp, c.tp + other)[0])
