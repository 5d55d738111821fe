"""Keras 3's stateful metrics in NumPy: accumulate over an epoch's batches, then report.

``state_for(metric)`` gives a fresh ``MetricState`` for a metric config (``specc.metrics``);
``update(y_true, y_pred)`` takes one batch (batch axis first) and ``result()`` the value
Keras's metric reports after those batches. Arrays are as the model and data give them:
``y_true`` the targets, ``y_pred`` the output.

- Mean metrics are Keras's ``MeanMetricWrapper``: the wrapped function's values are
  averaged over every axis but the batch axis, summed into ``total`` and counted by batch
  size, so the result weighs each sample equally across batches of any size. (A function
  that returns a scalar, as Keras's mean over axis -1 does for a rank-1 output, counts as
  one sample, as in Keras.) The functions are the losses' own NumPy references.
- Precision and recall count true/false positives at their threshold (``y_pred >
  threshold``) after Keras's ``top_k`` and ``class_id`` filters.
- AUC follows Keras's confusion counts at its thresholds (including the -1e-7 and
  1+1e-7 end points), with Keras's bucketed float32 update when the thresholds are evenly
  spaced, and its ROC/PR/PRGAIN Riemann sums (PR with interpolation: Davis & Goadrich).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from specc import losses

if TYPE_CHECKING:
    from specc.metrics import Metric

Values = Callable[[np.ndarray, np.ndarray], np.ndarray]
EPSILON = 1e-7
NEG_INF = -1e10  # Keras's stand-in for -inf in top_k filtering


class MetricState(Protocol):
    """A metric's running state over one epoch (or one validation pass)."""

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Accumulate one batch."""

    def result(self) -> float:
        """The metric's value over every batch so far."""


def _divide_no_nan(a: Any, b: Any) -> Any:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def same_rank(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``squeeze_or_expand_to_same_rank``: drop (or add) a trailing axis of 1."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


class MeanState:
    """Keras's ``Mean`` over per-sample values from ``fn(y_true, y_pred)``."""

    def __init__(self, fn: Values) -> None:
        self.fn = fn
        self.total = 0.0
        self.count = 0.0

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        values = np.asarray(self.fn(np.asarray(y_true), np.asarray(y_pred)), np.float64)
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += values.shape[0] if values.ndim else 1

    def result(self) -> float:
        return float(_divide_no_nan(self.total, self.count))


class RootMeanState(MeanState):
    """Keras's ``RootMeanSquaredError``: the root of the epoch's mean squared error."""

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class LazyAccuracyState:
    """``accuracy``: picks Keras's binary, sparse or categorical accuracy at the first batch."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.state: MetricState | None = None

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self.state is None:
            y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
            self.state = state_for(self.metric.resolve(y_true.shape, y_pred.shape))
        self.state.update(y_true, y_pred)

    def result(self) -> float:
        return 0.0 if self.state is None else self.state.result()


# --- accuracy functions (Keras's, per sample) --------------------------------------------


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
    matches = (y_true == np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(np.float64)
    return matches


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Keras's ``in_top_k``: fewer than ``k`` predictions strictly above the label's."""
    flat = y_pred.reshape(-1, y_pred.shape[-1])
    flat_labels = labels.reshape(-1).astype(np.int64)
    at_label = np.take_along_axis(flat, flat_labels[:, None], axis=-1)
    above = np.sum(flat > at_label, axis=-1)
    found = (above < k) & np.isfinite(at_label[:, 0])
    return found.reshape(labels.shape).astype(np.float64)


def top_k_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether ``argmax(y_true)`` is among the ``k`` largest predictions."""
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether the integer label is among the ``k`` largest predictions."""
    return _in_top_k(y_true, y_pred, k)


# --- confusion counts --------------------------------------------------------------------


def _evenly_spaced(thresholds: list[float]) -> bool:
    """Keras's ``is_evenly_distributed_thresholds``."""
    if len(thresholds) < 3:
        return False
    even = np.arange(len(thresholds), dtype=np.float32) / (len(thresholds) - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


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


class RatioState:
    """Keras's ``Precision`` (tp / (tp + fp)) or ``Recall`` (tp / (tp + fn))."""

    def __init__(self, metric: Any, recall: bool) -> None:
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
        return float(_divide_no_nan(c.tp, c.tp + other)[0])


class AUCState:
    """Keras's ``AUC``: confusion counts at thresholds, then a Riemann sum."""

    def __init__(self, metric: Any) -> None:
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
        return float(_divide_no_nan(np.sum(by_label * weights), np.sum(weights)))

    def _interpolated_pr(self) -> float:
        tp, fp, fn = self.counts.tp, self.counts.fp, self.counts.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        area = slope * (dtp + intercept * np.log(np.where(ratio > 0, ratio, 1.0)))
        return self._average(_divide_no_nan(area, np.maximum(tp[1:] + fn[1:], 0)))

    def result(self) -> float:
        if self.curve == "PR" and self.summation == "interpolation":
            return self._interpolated_pr()
        tp, fp, tn, fn = self.counts.tp, self.counts.fp, self.counts.tn, self.counts.fn
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * _divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * _divide_no_nan(fp, tp)
            x = np.maximum(np.where(tp == 0, 0.0, recall_gain), 0.0)
            y = np.where(tp == 0, 1.0, precision_gain)
        if self.summation == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)


# --- the metric -> state table -----------------------------------------------------------


def _loss_values(loss: losses.Loss) -> Values:
    """A loss's per-sample NumPy function as a metric function of (y_true, y_pred)."""
    return lambda y_true, y_pred: loss.per_sample(
        np.asarray(y_pred, np.float64), np.asarray(y_true, np.float64)
    )


def _sparse_crossentropy(metric: Any) -> Values:
    loss = losses.SparseCategoricalCrossentropy(from_logits=metric.from_logits)

    def values(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        # The class axis moved last: Keras's one-hot along ``axis`` is the same sum.
        y_pred = np.moveaxis(np.asarray(y_pred, np.float64), metric.axis, -1)
        return loss.per_sample(y_pred, np.asarray(y_true))

    return values


def _squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    return np.square(y_pred - y_true)


def _cosine_similarity(axis: int) -> Values:
    loss = _loss_values(losses.CosineSimilarity(axis=axis))
    return lambda y_true, y_pred: -loss(y_true, y_pred)


_STATES: dict[str, Callable[[Any], MetricState]] = {
    "Accuracy": LazyAccuracyState,
    "BinaryAccuracy": lambda m: MeanState(lambda t, p: binary_accuracy(t, p, m.threshold)),
    "CategoricalAccuracy": lambda m: MeanState(categorical_accuracy),
    "SparseCategoricalAccuracy": lambda m: MeanState(sparse_categorical_accuracy),
    "TopKCategoricalAccuracy": lambda m: MeanState(
        lambda t, p: top_k_categorical_accuracy(t, p, m.k)
    ),
    "SparseTopKCategoricalAccuracy": lambda m: MeanState(
        lambda t, p: sparse_top_k_categorical_accuracy(t, p, m.k)
    ),
    "MeanSquaredError": lambda m: MeanState(_loss_values(losses.MeanSquaredError())),
    "MeanAbsoluteError": lambda m: MeanState(_loss_values(losses.MeanAbsoluteError())),
    "MeanAbsolutePercentageError": lambda m: MeanState(
        _loss_values(losses.MeanAbsolutePercentageError())
    ),
    "MeanSquaredLogarithmicError": lambda m: MeanState(
        _loss_values(losses.MeanSquaredLogarithmicError())
    ),
    "RootMeanSquaredError": lambda m: RootMeanState(_squared_error),
    "LogCoshError": lambda m: MeanState(_loss_values(losses.LogCosh())),
    "BinaryCrossentropy": lambda m: MeanState(
        _loss_values(
            losses.BinaryCrossentropy(from_logits=m.from_logits, label_smoothing=m.label_smoothing)
        )
    ),
    "CategoricalCrossentropy": lambda m: MeanState(
        _loss_values(
            losses.CategoricalCrossentropy(
                from_logits=m.from_logits, label_smoothing=m.label_smoothing, axis=m.axis
            )
        )
    ),
    "SparseCategoricalCrossentropy": lambda m: MeanState(_sparse_crossentropy(m)),
    "KLDivergence": lambda m: MeanState(_loss_values(losses.KLDivergence())),
    "Poisson": lambda m: MeanState(_loss_values(losses.Poisson())),
    "CosineSimilarity": lambda m: MeanState(_cosine_similarity(m.axis)),
    "Hinge": lambda m: MeanState(_loss_values(losses.Hinge())),
    "SquaredHinge": lambda m: MeanState(_loss_values(losses.SquaredHinge())),
    "CategoricalHinge": lambda m: MeanState(_loss_values(losses.CategoricalHinge())),
    "AUC": AUCState,
    "Precision": lambda m: RatioState(m, recall=False),
    "Recall": lambda m: RatioState(m, recall=True),
}


def state_for(metric: Metric) -> MetricState:
    """A fresh running state for ``metric``."""
    name = type(metric).__name__
    if name not in _STATES:
        raise NotImplementedError(f"no NumPy state for the metric {name}")
    return _STATES[name](metric)
