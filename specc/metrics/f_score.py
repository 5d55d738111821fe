"""Keras's ``F1Score``: the harmonic mean of precision and recall, per class or averaged.

Predictions become 0/1 as Keras's ``FBetaScore`` makes them: above ``threshold``, or
without one, the largest of each row (ties all count; an all-zero row counts none). True
positives, false positives, false negatives and the support (true labels) are summed over
the epoch's samples (in the training graph), per class, or over every class with ``micro``;
the score follows from the totals, so batches of any size add up as one. Without
``average`` the result is one score per class, a list in the history
(``docs/training-runs.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.metrics.base import (
    EPSILON,
    METRICS,
    Metric,
    MetricInputs,
    MetricValue,
    Statistic,
    lower_mean_of_all,
    to_float32,
)
from specc.types import FLOAT, TensorType


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

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """tp, fp, fn and the support of the batch: per class, or totals with ``micro``."""
        y_true, y_pred, prediction = x.y_true, x.y_pred, x.prediction
        y_pred, y_true = to_float32(b, y_pred, prediction), to_float32(b, y_true, x.labels)
        if self.threshold is None:
            # The row's largest (TopK: no ReduceMax, whose axes moved at opset 18).
            top, _ = b.op("TopK", y_pred, b.constant([1], np.int64, hint="k"), axis=-1, outputs=2)
            nonzero = b.op("Greater", b.op("Abs", y_pred), b.constant(1e-9))
            predicted = b.op("And", b.op("GreaterOrEqual", y_pred, top), nonzero)
        else:
            predicted = b.op("Greater", y_pred, b.constant(self.threshold))
        p = b.op("Cast", predicted, to=FLOAT)
        missed = b.op("Sub", b.constant(1.0), p)
        wrong = b.op("Sub", b.constant(1.0), y_true)
        parts = [b.op("Mul", p, y_true), b.op("Mul", p, wrong), b.op("Mul", missed, y_true), y_true]
        if self.average == "micro":
            return [Statistic(b.reduce_sum(v)) for v in parts]
        classes = prediction.shape[-1]
        shape = () if classes is None else (classes,)
        return [Statistic(b.reduce_sum(v, 0), shape) for v in parts]

    def reference_statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """The same counts in NumPy."""
        y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            predicted = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > np.float32(self.threshold)
        p, t = predicted.astype(np.float64), y_true.astype(np.float64)
        axis = None if self.average == "micro" else 0
        return [
            np.sum(p * t, axis=axis),
            np.sum(p * (1.0 - t), axis=axis),
            np.sum((1.0 - p) * t, axis=axis),
            np.sum(t, axis=axis),
        ]

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """The score from the counts: per class, or averaged."""
        tp, fp, fn, support = (np.asarray(t, np.float64) for t in totals)
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        f1 = 2.0 * (precision * recall) / (precision + recall + EPSILON)
        if self.average is None:
            return [float(v) for v in np.atleast_1d(f1)]
        if self.average == "weighted":
            return float(np.sum(f1 * support / (np.sum(support) + EPSILON)))
        return float(np.mean(f1))

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """``result`` in the graph."""
        tp, fp, fn, support = totals
        eps = b.constant(EPSILON)
        precision = b.op("Div", tp, b.op("Add", b.op("Add", tp, fp), eps))
        recall = b.op("Div", tp, b.op("Add", b.op("Add", tp, fn), eps))
        both = b.op("Add", b.op("Add", precision, recall), eps)
        f1 = b.op("Div", b.op("Mul", b.constant(2.0), b.op("Mul", precision, recall)), both)
        if self.average is None:
            return f1
        if self.average == "weighted":
            share = b.op("Div", support, b.op("Add", b.reduce_sum(support), eps))
            return b.reduce_sum(b.op("Mul", f1, share))
        # micro's scores are scalars already; macro's the mean over the classes.
        return lower_mean_of_all(b, f1)
