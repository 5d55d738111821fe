"""Keras's confusion-count metrics: precision and recall at one threshold.

They count true/false positives at their threshold (``y_pred > threshold``) after Keras's
``top_k`` and ``class_id`` filters. ``Confusion`` (shared with AUC) is Keras's
``update_confusion_matrix_variables``: ``lower`` emits one batch's counts in the graph,
``reference`` computes them in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.metrics.base import (
    METRICS,
    Metric,
    MetricInputs,
    MetricValue,
    Statistic,
    Threshold,
    divide_no_nan,
    lower_divide_no_nan,
    lower_same_rank,
    same_rank,
    to_float32,
)
from specc.types import FLOAT, INT64

NEG_INF = -1e10  # Keras's stand-in for -inf in top_k filtering


@dataclass(frozen=True)
class Confusion:
    """Keras's ``update_confusion_matrix_variables``: tp, fp, tn and fn at each threshold.

    Counts have shape ``[thresholds]``, or ``[thresholds, labels]`` with ``multi_label``.
    ``label_weights`` (flattened data only) weigh each label's entries. With
    ``evenly_spaced`` thresholds, a prediction is above threshold ``i`` when Keras's bucket
    ``max(ceil(p * (n - 1)) - 1, 0)`` (in float32, ``p`` clipped to [0, 1]) is at least
    ``i``: Keras's bucketed update, which can differ from ``p > threshold`` by a rounding.
    """

    thresholds: tuple[float, ...]
    evenly_spaced: bool = False
    multi_label: bool = False
    label_weights: tuple[float, ...] | None = None
    top_k: int | None = None
    class_id: int | None = None

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """Emit the batch's tp, fp, tn and fn."""
        y_true, y_pred, labels, prediction = x.y_true, x.y_pred, x.labels, x.prediction
        y_pred, y_true = to_float32(b, y_pred, prediction), to_float32(b, y_true, labels)
        y_pred, y_true, shape, _ = lower_same_rank(
            b, y_pred, y_true, prediction.full_shape, labels.full_shape
        )
        if self.top_k is not None:
            y_pred = _lower_filter_top_k(b, y_pred, shape, self.top_k)
        if self.class_id is not None:
            starts = b.constant([self.class_id], np.int64, hint="start")
            ends = b.constant([self.class_id + 1], np.int64, hint="end")
            axes = b.constant([-1], np.int64, hint="axes")
            y_pred = b.op("Slice", y_pred, starts, ends, axes)
            y_true = b.op("Slice", y_true, starts, ends, axes)
            shape = (*shape[:-1], 1)
        positive = b.op("Cast", b.op("Not", b.op("Equal", y_true, b.constant(0.0))), to=FLOAT)
        negative = b.op("Sub", b.constant(1.0), positive)
        if self.label_weights is not None and not self.multi_label:
            weights = b.constant(list(self.label_weights))
            positive, negative = b.op("Mul", positive, weights), b.op("Mul", negative, weights)
        n = len(self.thresholds)
        if not self.multi_label:
            flat = b.constant([-1], np.int64, hint="shape")
            y_pred, positive, negative = (
                b.op("Reshape", v, flat) for v in (y_pred, positive, negative)
            )
            levels_shape: tuple[int, ...] = (n, 1)
            count_shape: tuple[int, ...] = (n,)
        else:
            if len(shape) != 2 or shape[-1] is None:
                raise ValueError(
                    f"multi_label needs predictions of shape (batch, labels); got {shape}"
                )
            levels_shape, count_shape = (n, 1, 1), (n, shape[-1])
        if self.evenly_spaced:
            buckets = self._lower_buckets(b, y_pred)
            tp, fp = (_lower_bucket_sums(b, buckets, w, count_shape) for w in (positive, negative))
        else:
            cuts = b.constant(np.asarray(self.thresholds, np.float32).reshape(levels_shape))
            above = b.op(
                "Greater", b.op("Unsqueeze", y_pred, b.constant([0], np.int64, hint="axes")), cuts
            )
            above = b.op("Cast", above, to=FLOAT)
            if self.multi_label:
                tp = b.reduce_sum(b.op("Mul", above, positive), 1)
                fp = b.reduce_sum(b.op("Mul", above, negative), 1)
            else:
                # [thresholds, entries] @ [entries]: the weights above each threshold.
                tp, fp = b.op("MatMul", above, positive), b.op("MatMul", above, negative)
        if self.multi_label:
            positives, negatives = b.reduce_sum(positive, 0), b.reduce_sum(negative, 0)
        else:
            positives, negatives = b.reduce_sum(positive), b.reduce_sum(negative)
        fn, tn = b.op("Sub", positives, tp), b.op("Sub", negatives, fp)
        return [Statistic(v, count_shape) for v in (tp, fp, tn, fn)]

    def _lower_buckets(self, b: GraphBuilder, y_pred: Value) -> Value:
        """Keras's bucket of each prediction, ``max(ceil(p * (n - 1)) - 1, 0)`` in float32,
        as int64 (the clamp at 0 is Keras's for thresholds past [0, 1], which AUC's are)."""
        if self.thresholds[0] >= 0 and self.thresholds[-1] <= 1:
            raise ValueError("the bucketed counts need thresholds past both ends of [0, 1]")
        n = len(self.thresholds)
        scaled = b.op("Mul", b.clip(y_pred, 0.0, 1.0), b.constant(float(n - 1)))
        buckets = b.op("Sub", b.op("Ceil", scaled), b.constant(1.0))
        return b.op("Cast", b.op("Max", buckets, b.constant(0.0)), to=INT64)

    def reference(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """The batch's tp, fp, tn and fn in NumPy (float64 sums)."""
        y_pred = np.asarray(y_pred, np.float32)
        y_true = np.asarray(y_true).astype(np.float32)
        y_pred, y_true = same_rank(y_pred, y_true)
        if self.top_k is not None:
            y_pred = _filter_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id, None], y_pred[..., self.class_id, None]
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
        thresholds = np.asarray(self.thresholds, np.float32)
        n = len(thresholds)
        if self.evenly_spaced:
            # Keras's bucketed path, with its float32 bucket arithmetic, then a reverse
            # cumulative sum of each bucket's weights.
            p = np.clip(y_pred, 0.0, 1.0).astype(np.float32)
            buckets = np.ceil(p * np.float32(n - 1)) - np.float32(1.0)
            if thresholds[0] < 0 or thresholds[-1] > 1:
                buckets = np.maximum(buckets, 0.0)
            tp, fp = (
                _reverse_cumsum(buckets.astype(np.int64), w, n) for w in (true_labels, false_labels)
            )
        else:
            above = y_pred[None] > thresholds.reshape(-1, *([1] * y_pred.ndim))
            tp, fp = np.sum(above * true_labels, axis=1), np.sum(above * false_labels, axis=1)
        fn = true_labels.sum(axis=0) - tp
        tn = false_labels.sum(axis=0) - fp
        return [tp, fp, tn, fn]


def _reverse_cumsum(buckets: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    if weights.ndim == 1:
        counts = np.bincount(buckets, weights=weights, minlength=n)
    else:
        columns = [
            np.bincount(buckets[:, j], weights=weights[:, j], minlength=n)
            for j in range(weights.shape[1])
        ]
        counts = np.stack(columns, axis=1)
    return np.flip(np.cumsum(np.flip(counts, axis=0), axis=0), axis=0)


def _lower_bucket_sums(
    b: GraphBuilder, buckets: Value, weights: Value, shape: tuple[int, ...]
) -> Value:
    """The weights at or above each threshold: each weight added to its bucket
    (ScatterElements, O(entries), where comparing with every threshold would be
    O(entries x thresholds)), then summed from the top bucket down (a reverse CumSum)."""
    zeros = b.constant(np.zeros(shape, np.float32), hint="zeros")
    counts = b.op("ScatterElements", zeros, buckets, weights, axis=0, reduction="add")
    return b.op("CumSum", counts, b.constant(0, np.int64, hint="axis"), reverse=1)


def _lower_filter_top_k(b: GraphBuilder, x: Value, shape: tuple[int | None, ...], k: int) -> Value:
    """Keras's ``_filter_top_k``: ``x * mask + NEG_INF * (1 - mask)``, the mask one-hot
    over the ``k`` largest of the last axis (TopK: ties go to the lower index). A last axis
    of unknown length (the batch of a rank-1 output) keeps at most all of it."""
    if shape[-1] is not None:
        top, depth = b.constant([min(k, shape[-1])], np.int64, hint="k"), shape[-1]
        classes = b.constant(depth, np.int64, hint="depth")
    else:
        last = b.op("Slice", b.op("Shape", x), *(b.constant([v], np.int64) for v in (-1, 2**62)))
        top = b.op("Min", b.constant([k], np.int64, hint="k"), last)
        classes = b.op("Squeeze", last, b.constant([0], np.int64, hint="axes"))
    _, indices = b.op("TopK", x, top, axis=-1, outputs=2)
    one_hot = b.op("OneHot", indices, classes, b.constant([0.0, 1.0]), axis=-1)
    mask = b.reduce_sum(one_hot, -2)
    rest = b.op("Mul", b.op("Sub", b.constant(1.0), mask), b.constant(NEG_INF))
    return b.op("Add", b.op("Mul", x, mask), rest)


def _filter_top_k(x: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest values of the last axis (ties: lower index); others NEG_INF."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, x, np.float32(NEG_INF))


class _ConfusionRatio(Metric):
    """Precision and recall share Keras's arguments and their counts at one threshold."""

    direction = "up"

    # One threshold only: a list would make the metric a vector, and the history holds
    # one number per metric per epoch. Keras defaults to 0.5 (or none with top_k).
    thresholds: Threshold | None = None
    top_k: Annotated[int, Field(gt=0)] | None = None
    class_id: Annotated[int, Field(ge=0)] | None = None

    def confusion(self) -> Confusion:
        """The counts at the threshold, after the ``top_k`` and ``class_id`` filters."""
        default = 0.5 if self.top_k is None else NEG_INF
        threshold = default if self.thresholds is None else self.thresholds
        return Confusion((threshold,), top_k=self.top_k, class_id=self.class_id)

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """tp, fp, tn and fn of the batch."""
        return self.confusion().lower(b, x)

    def reference_statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """tp, fp, tn and fn in NumPy."""
        return self.confusion().reference(y_true, y_pred)


@METRICS.register
class Precision(_ConfusionRatio):
    """``true_positives / (true_positives + false_positives)``."""

    type: Literal["Precision", "precision"] = "Precision"

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """Keras's ``Precision``: tp / (tp + fp), 0 when nothing was predicted."""
        tp, fp, _, _ = totals
        return float(divide_no_nan(tp, tp + fp)[0])

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """tp / (tp + fp) in the graph."""
        tp, fp, _, _ = totals
        return lower_divide_no_nan(b, tp, b.op("Add", tp, fp))


@METRICS.register
class Recall(_ConfusionRatio):
    """``true_positives / (true_positives + false_negatives)``."""

    type: Literal["Recall", "recall"] = "Recall"

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """Keras's ``Recall``: tp / (tp + fn), 0 when there was nothing to find."""
        tp, _, _, fn = totals
        return float(divide_no_nan(tp, tp + fn)[0])

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """tp / (tp + fn) in the graph."""
        tp, _, _, fn = totals
        return lower_divide_no_nan(b, tp, b.op("Add", tp, fn))
