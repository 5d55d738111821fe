"""Keras's ``AUC``: confusion counts at thresholds, then a Riemann sum.

The counts are Keras's at its thresholds (including the -1e-7 and 1+1e-7 end points), with
Keras's bucketed float32 update when the thresholds are evenly spaced; they are computed in
the training graph and summed over the batches. The area follows from the totals: Keras's
ROC/PR/PRGAIN Riemann sums (PR with interpolation: Davis & Goadrich).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.metrics.base import (
    EPSILON,
    METRICS,
    Metric,
    MetricInputs,
    MetricValue,
    Statistic,
    Threshold,
    divide_no_nan,
    lower_divide_no_nan,
    lower_mean_of_all,
)
from specc.metrics.confusion import Confusion


@METRICS.register
class AUC(Metric):
    """Area under the ROC or PR curve, from confusion counts at ``num_thresholds`` cuts."""

    type: Literal["AUC", "auc"] = "AUC"
    direction = "up"
    # Keras raises for num_thresholds <= 1.
    num_thresholds: Annotated[int, Field(gt=1)] = 200
    curve: Literal["ROC", "PR", "PRGAIN", "roc", "pr", "prgain"] = "ROC"
    summation_method: Literal["interpolation", "majoring", "minoring"] = "interpolation"
    thresholds: list[Threshold] | None = None
    multi_label: bool = False
    num_labels: Annotated[int, Field(gt=0)] | None = None
    label_weights: list[Annotated[float, Field(ge=0)]] | None = None
    from_logits: bool = False

    @model_validator(mode="after")
    def _num_labels_needs_multi_label(self) -> AUC:
        # Keras raises the same in AUC.__init__.
        if self.num_labels is not None and not self.multi_label:
            raise PydanticCustomError(
                "invalid_arguments", "num_labels is needed only when multi_label is true"
            )
        return self

    def confusion(self) -> Confusion:
        """Keras's thresholds, and whether its bucketed update applies."""
        if self.thresholds is not None:
            inner = sorted(self.thresholds)
            evenly = _evenly_spaced([0.0, *inner, 1.0])
        else:
            n = self.num_thresholds
            inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
            evenly = True
        weights = None if self.label_weights is None else tuple(self.label_weights)
        thresholds = (0.0 - EPSILON, *inner, 1.0 + EPSILON)
        return Confusion(thresholds, evenly, self.multi_label, weights)

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """tp, fp, tn and fn at each threshold (of each label, with ``multi_label``)."""
        if self.from_logits:
            x = dataclasses.replace(x, y_pred=b.op("Sigmoid", x.y_pred))
        return self.confusion().lower(b, x)

    def reference_statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """tp, fp, tn and fn in NumPy."""
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-np.asarray(y_pred, np.float64)))
        return self.confusion().reference(y_true, y_pred)

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """Keras's ``AUC.result``: the Riemann sum over the thresholds."""
        tp, fp, tn, fn = (np.asarray(t, np.float64) for t in totals)
        if self.curve.upper() == "PR" and self.summation_method == "interpolation":
            return self._average(_interpolated_pr(tp, fp, fn))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve.upper() == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve.upper() == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * divide_no_nan(fp, tp)
            x = np.maximum(np.where(tp == 0, 0.0, recall_gain), 0.0)
            y = np.where(tp == 0, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """``result`` in the graph: the same Riemann sums over the thresholds (axis 0)."""
        tp, fp, tn, fn = totals
        if self.curve.upper() == "PR" and self.summation_method == "interpolation":
            return self._lower_average(b, _lower_interpolated_pr(b, tp, fp, fn))
        recall = lower_divide_no_nan(b, tp, b.op("Add", tp, fn))
        if self.curve.upper() == "ROC":
            x, y = lower_divide_no_nan(b, fp, b.op("Add", fp, tn)), recall
        elif self.curve.upper() == "PR":
            x, y = recall, lower_divide_no_nan(b, tp, b.op("Add", tp, fp))
        else:  # PRGAIN
            scale = lower_divide_no_nan(b, b.op("Add", tp, fn), b.op("Add", tn, fp))
            one, zero = b.constant(1.0), b.constant(0.0)
            recall_gain = b.op("Sub", one, b.op("Mul", scale, lower_divide_no_nan(b, fn, tp)))
            precision_gain = b.op("Sub", one, b.op("Mul", scale, lower_divide_no_nan(b, fp, tp)))
            none = b.op("Equal", tp, zero)
            x = b.op("Max", b.op("Where", none, zero, recall_gain), zero)
            y = b.op("Where", none, one, precision_gain)
        if self.summation_method == "interpolation":
            heights = b.op("Div", b.op("Add", _head(b, y), _tail(b, y)), b.constant(2.0))
        else:
            pick = "Min" if self.summation_method == "minoring" else "Max"
            heights = b.op(pick, _head(b, y), _tail(b, y))
        return self._lower_average(b, b.op("Mul", b.op("Sub", _head(b, x), _tail(b, x)), heights))

    def _lower_average(self, b: GraphBuilder, by_threshold: Value) -> Value:
        if not self.multi_label:
            return b.reduce_sum(by_threshold)
        by_label = b.reduce_sum(by_threshold, 0)
        if self.label_weights is None:
            return lower_mean_of_all(b, by_label)
        weights = b.constant(self.label_weights)
        weighted = b.reduce_sum(b.op("Mul", by_label, weights))
        return lower_divide_no_nan(b, weighted, b.constant(float(np.sum(self.label_weights))))

    def _average(self, by_threshold: np.ndarray) -> float:
        if not self.multi_label:
            return float(np.sum(by_threshold))
        by_label = np.sum(by_threshold, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        weights = np.asarray(self.label_weights, np.float64)
        return float(divide_no_nan(np.sum(by_label * weights), np.sum(weights)))


def _evenly_spaced(thresholds: list[float]) -> bool:
    """Keras's ``is_evenly_distributed_thresholds``."""
    if len(thresholds) < 3:
        return False
    even = np.arange(len(thresholds), dtype=np.float32) / (len(thresholds) - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _interpolated_pr(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Davis & Goadrich's interpolated PR area per threshold interval, as Keras sums it."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    slope = divide_no_nan(dtp, np.maximum(dp, 0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    ratio = np.where(both, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
    area = slope * (dtp + intercept * np.log(np.where(ratio > 0, ratio, 1.0)))
    return divide_no_nan(area, np.maximum(tp[1:] + fn[1:], 0))


def _lower_interpolated_pr(b: GraphBuilder, tp: Value, fp: Value, fn: Value) -> Value:
    """``_interpolated_pr`` in the graph."""
    zero, one = b.constant(0.0), b.constant(1.0)
    dtp = b.op("Sub", _head(b, tp), _tail(b, tp))
    p = b.op("Add", tp, fp)
    p_head, p_tail = _head(b, p), _tail(b, p)
    dp = b.op("Sub", p_head, p_tail)
    slope = lower_divide_no_nan(b, dtp, b.op("Max", dp, zero))
    intercept = b.op("Sub", _tail(b, tp), b.op("Mul", slope, p_tail))
    both = b.op("And", b.op("Greater", p_head, zero), b.op("Greater", p_tail, zero))
    quotient = lower_divide_no_nan(b, p_head, b.op("Max", p_tail, zero))
    ratio = b.op("Where", both, quotient, one)
    logged = b.op("Log", b.op("Where", b.op("Greater", ratio, zero), ratio, one))
    area = b.op("Mul", slope, b.op("Add", dtp, b.op("Mul", intercept, logged)))
    positives = b.op("Max", b.op("Add", _tail(b, tp), _tail(b, fn)), zero)
    return lower_divide_no_nan(b, area, positives)


def _head(b: GraphBuilder, x: Value) -> Value:
    """``x[:-1]`` along the thresholds (axis 0)."""
    return _slice(b, x, 0, -1)


def _tail(b: GraphBuilder, x: Value) -> Value:
    """``x[1:]`` along the thresholds (axis 0)."""
    return _slice(b, x, 1, 2**62)


def _slice(b: GraphBuilder, x: Value, start: int, end: int) -> Value:
    starts = b.constant([start], np.int64, hint="start")
    ends = b.constant([end], np.int64, hint="end")
    return b.op("Slice", x, starts, ends, b.constant([0], np.int64, hint="axes"))
