"""The ``Metric`` base class, the ``METRICS`` registry and Keras's ``Mean`` accumulator.

Each metric builds its own running state (``Metric.new_state``): ``update(y_true, y_pred)``
takes one batch (batch axis first, arrays as the data and the model give them) and
``result()`` the value Keras's stateful metric reports after those batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Protocol

import numpy as np
from pydantic import Field

from specc.registry import Registry, SpecModel
from specc.types import TensorType

Values = Callable[[np.ndarray, np.ndarray], np.ndarray]
Threshold = Annotated[float, Field(ge=0, le=1)]
# A metric's result: one number, or one per class (F1Score without ``average``).
MetricValue = float | list[float]
#: ``keras.backend.epsilon()``.
EPSILON = 1e-7


class MetricState(Protocol):
    """A metric's running state over one epoch (or one validation pass)."""

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Accumulate one batch."""

    def result(self) -> MetricValue:
        """The metric's value over every batch so far."""


class Metric(SpecModel):
    """Base of every metric: the history key it reports under."""

    name: Annotated[str, Field(min_length=1)] | None = None
    #: Keras's ``_direction``: "up" when a larger value is better, "down" when a smaller
    #: one is, None when Keras sets none (a monitoring callback in "auto" mode then needs a
    #: ``mode``).
    direction: ClassVar[Literal["up", "down"] | None] = None

    def history_name(self) -> str:
        """The key in the history: ``name``, else the spelling the spec used, as Keras."""
        return self.name if self.name is not None else str(getattr(self, "type"))  # noqa: B009

    def new_state(self) -> MetricState:
        """A fresh NumPy running state that reproduces Keras 3's stateful metric over
        several batches."""
        raise NotImplementedError(f"{type(self).__name__} has no running state")

    def output_problem(self, prediction: TensorType) -> str | None:
        """Why this metric cannot read an output of type ``prediction`` (a sentence that
        follows the metric's name), or None. Most metrics read any output."""
        return None


METRICS: Registry[Metric] = Registry("metric")


def divide_no_nan(a: Any, b: Any) -> Any:
    """``a / b``, 0 where ``b`` is 0 (Keras's ``divide_no_nan``), in float64."""
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
    """Keras's ``Mean`` over per-sample values from ``fn(y_true, y_pred)``.

    The values are averaged over every axis but the batch axis, summed into ``total`` and
    counted by batch size, so the result weighs each sample equally across batches of any
    size. (A function that returns a scalar, as Keras's mean over axis -1 does for a rank-1
    output, counts as one sample, as in Keras.)
    """

    def __init__(self, fn: Values) -> None:
        self.fn = fn
        self.total = 0.0
        self.count = 0.0

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Add one batch's values."""
        values = np.asarray(self.fn(np.asarray(y_true), np.asarray(y_pred)), np.float64)
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += values.shape[0] if values.ndim else 1

    def result(self) -> float:
        """The mean so far (0 before any batch)."""
        return float(divide_no_nan(self.total, self.count))
