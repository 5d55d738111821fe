"""Keras's ``F1Score``: the harmonic mean of precision and recall, per class or averaged.

Predictions become 0/1 as Keras's ``FBetaScore`` makes them: above ``threshold``, or
without one, the largest of each row (ties all count; an all-zero row counts none). True
positives, false positives, false negatives and the support (true labels) are summed over
the epoch's samples, per class, or over every class with ``micro``; the score follows from
the totals, so batches of any size add up as one. Without ``average`` the result is one
score per class, a list in the history (``docs/training-runs.md``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from specc.metrics.base import EPSILON, METRICS, Metric, MetricState, MetricValue
from specc.types import TensorType


@METRICS.register
class F1Score(Metric):
    """``2 * precision * recall / (precision + recall)`` over (batch, classes) predictions.

    ``average``: None (one score per class), ``micro`` (from the counts over every class),
    ``macro`` (the mean of the class scores) or ``weighted`` (their mean weighted by each
    class's number of true labels).
    """

    type: Literal["F1Score", "f1_score"] = "F1Score"
    direction = "up"
    average: Literal["micro", "macro", "weighted"] | None = None
    # Keras raises unless 0 < threshold <= 1.
    threshold: Annotated[float, Field(gt=0, le=1)] | None = None

    def output_problem(self, prediction: TensorType) -> str | None:
        """Keras's ``FBetaScore`` takes (batch, classes) with a known class count only."""
        if prediction.rank != 2 or prediction.shape[-1] is None:
            return f"needs predictions of shape (batch, classes); got {prediction}"
        return None

    def new_state(self) -> MetricState:
        """The counts over the batches so far."""
        return _FScoreState(self)


class _FScoreState:
    """Keras's ``FBetaScore`` variables at beta 1: tp, fp, fn and support."""

    def __init__(self, metric: F1Score) -> None:
        self.metric = metric
        # Per class (None until the first batch gives the class count), or one number
        # each with ``micro``.
        self.counts: np.ndarray | None = np.zeros(4) if metric.average == "micro" else None

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Count one (batch, classes) batch."""
        y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                f"F1Score needs labels and predictions of shape (batch, classes); got "
                f"{y_true.shape} and {y_pred.shape}"
            )
        if self.metric.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            predicted = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > np.float32(self.metric.threshold)
        p, t = predicted.astype(np.float64), y_true.astype(np.float64)
        axis = None if self.metric.average == "micro" else 0
        batch = np.stack(
            [
                np.sum(p * t, axis=axis),
                np.sum(p * (1.0 - t), axis=axis),
                np.sum((1.0 - p) * t, axis=axis),
                np.sum(t, axis=axis),
            ]
        )
        self.counts = batch if self.counts is None else self.counts + batch

    def result(self) -> MetricValue:
        """The score: per class, or averaged (0 before any batch, when the class count is
        not known yet)."""
        if self.counts is None:
            return 0.0
        tp, fp, fn, support = self.counts
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        f1 = 2.0 * (precision * recall) / (precision + recall + EPSILON)
        if self.metric.average is None:
            return [float(v) for v in f1]
        if self.metric.average == "weighted":
            return float(np.sum(f1 * support / (np.sum(support) + EPSILON)))
        return float(np.mean(f1))
