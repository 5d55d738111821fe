"""Keras's ``AUC``: confusion counts at thresholds, then a Riemann sum.

It follows Keras's confusion counts at its thresholds (including the -1e-7 and 1+1e-7 end
points), with Keras's bucketed float32 update when the thresholds are evenly spaced, and
its ROC/PR/PRGAIN Riemann sums (PR with interpolation: Davis & Goadrich).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from specc.metrics.base import EPSILON, METRICS, Metric, MetricState, Threshold, divide_no_nan
from specc.metrics.confusion import ConfusionCounts


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

    def new_state(self) -> MetricState:
        """Keras's ``AUC`` over the batches so far."""
        return _AUCState(self)


def _evenly_spaced(thresholds: list[float]) -> bool:
    """Keras's ``is_evenly_distributed_thresholds``."""
    if len(thresholds) < 3:
        return False
    even = np.arange(len(thresholds), dtype=np.float32) / (len(thresholds) - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


class _AUCState:
    """Keras's ``AUC``: confusion counts at thresholds, then a Riemann sum."""

    def __init__(self, metric: AUC) -> None:
        if metric.thresholds is not None:
            inner = sorted(metric.thresholds)
            evenly = _evenly_spaced([0.0, *inner, 1.0])
        else:
            n = metric.num_thresholds
            inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
            evenly = True
        thresholds = [0.0 - EPSILON, *inner, 1.0 + EPSILON]
        self.curve = metric.curve.upper()
        self.summation = metric.summation_method
        self.multi_label = metric.multi_label
        self.label_weights = metric.label_weights
        self.from_logits = metric.from_logits
        self.counts = ConfusionCounts(thresholds, evenly, metric.multi_label, metric.label_weights)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        y_pred = np.asarray(y_pred, np.float64)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        self.counts.update(y_true, y_pred)

    def _average(self, by_threshold: np.ndarray) -> float:
        if not self.multi_label:
            return float(np.sum(by_threshold))
        by_label = np.sum(by_threshold, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        weights = np.asarray(self.label_weights, np.float64)
        return float(divide_no_nan(np.sum(by_label * weights), np.sum(weights)))

    def _interpolated_pr(self) -> float:
        tp, fp, fn = self.counts.tp, self.counts.fp, self.counts.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        area = slope * (dtp + intercept * np.log(np.where(ratio > 0, ratio, 1.0)))
        return self._average(divide_no_nan(area, np.maximum(tp[1:] + fn[1:], 0)))

    def result(self) -> float:
        if self.curve == "PR" and self.summation == "interpolation":
            return self._interpolated_pr()
        tp, fp, tn, fn = self.counts.tp, self.counts.fp, self.counts.tn, self.counts.fn
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * divide_no_nan(fp, tp)
            x = np.maximum(np.where(tp == 0, 0.0, recall_gain), 0.0)
            y = np.where(tp == 0, 1.0, precision_gain)
        if self.summation == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)
