"""The metrics Keras builds from a loss function, and the root mean squared error.

Keras defines each as a ``MeanMetricWrapper(fn=<loss function>)``; so does specc, once:
``wrap_loss`` makes a metric class from a loss class, whose running state is Keras's
``Mean`` of that loss's own NumPy per-sample reference. The metric takes the loss's
arguments (less ``reduction``, and less any the Keras metric does not take) and answers to
the loss's names unless Keras names the metric otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import create_model

from specc import losses
from specc.metrics.base import METRICS, MeanState, Metric, MetricState, Values, same_rank
from specc.registry import type_names


class LossMetric(Metric):
    """Keras's ``MeanMetricWrapper`` around a loss function: its mean over the samples."""

    #: The loss whose function is averaged, and whether the metric reports its negative.
    wraps: ClassVar[type[losses.Loss]]
    negate: ClassVar[bool] = False
    # Keras's MeanMetricWrapper sets "down" for every loss function it wraps; the negated
    # cosine similarity is "up".
    direction = "down"

    def to_loss(self) -> losses.Loss:
        """The wrapped loss, configured with the arguments this metric shares with it."""
        fields = self.wraps.model_fields
        shared = {key: getattr(self, key) for key in type(self).model_fields if key in fields}
        shared.pop("type", None)
        return self.wraps(**shared)

    def values(self) -> Values:
        """The per-sample function of ``(y_true, y_pred)`` that the mean takes."""
        loss = self.to_loss()

        def values(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
            y_pred, y_true = np.asarray(y_pred, np.float64), np.asarray(y_true, np.float64)
            per_sample = loss.per_sample(y_pred, y_true)
            return -per_sample if self.negate else per_sample

        return values

    def new_state(self) -> MetricState:
        """Keras's ``Mean`` of the loss function's per-sample values."""
        return MeanState(self.values())


def wrap_loss(
    loss: type[losses.Loss],
    doc: str | None = None,
    names: tuple[str, ...] | None = None,
    drop: tuple[str, ...] = (),
    negate: bool = False,
) -> Any:
    """A ``LossMetric`` class for ``loss``: named as the loss (or ``names``), taking the
    loss's arguments but ``reduction`` and ``drop``, documented by ``doc`` (by default
    "Mean of the <function> loss.")."""
    names = names or type_names(loss)
    fields: dict[str, Any] = {"type": (Literal[names], names[0])}
    for key, field in loss.model_fields.items():
        if key not in ("type", "reduction", *drop):
            fields[key] = (field.annotation, field)
    doc = doc or f"Mean of the ``{type_names(loss)[1]}`` loss."
    model: Any = create_model(
        names[0], __base__=LossMetric, __doc__=doc, __module__=__name__, **fields
    )
    model.wraps, model.negate = loss, negate
    model.direction = "up" if negate else "down"
    return METRICS.register(model)


MeanSquaredError = wrap_loss(losses.MeanSquaredError)
MeanAbsoluteError = wrap_loss(losses.MeanAbsoluteError)
MeanAbsolutePercentageError = wrap_loss(losses.MeanAbsolutePercentageError)
MeanSquaredLogarithmicError = wrap_loss(losses.MeanSquaredLogarithmicError)


@METRICS.register
class RootMeanSquaredError(Metric):
    """``sqrt`` of the mean squared error over the whole epoch (not a mean of roots)."""

    type: Literal["RootMeanSquaredError", "root_mean_squared_error"] = "RootMeanSquaredError"
    direction = "down"

    def new_state(self) -> MetricState:
        """Keras's ``RootMeanSquaredError``: a ``Mean`` of squared errors, rooted."""
        return _RootMeanState(_squared_error)


def _squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    return np.square(y_pred - y_true)


class _RootMeanState(MeanState):
    """The root of the epoch's mean."""

    def result(self) -> float:
        return float(np.sqrt(super().result()))


LogCoshError = wrap_loss(losses.LogCosh, names=("LogCoshError", "log_cosh_error"))
BinaryCrossentropy = wrap_loss(
    losses.BinaryCrossentropy,
    "Mean binary cross-entropy (Keras's metric takes no ``axis``).",
    drop=("axis",),
)
CategoricalCrossentropy = wrap_loss(
    losses.CategoricalCrossentropy, "Mean categorical cross-entropy along ``axis``."
)


@METRICS.register
class SparseCategoricalCrossentropy(LossMetric):
    """Mean sparse categorical cross-entropy along ``axis``."""

    # Keras's metric takes the function's ``axis``, which the loss class does not.
    wraps = losses.SparseCategoricalCrossentropy
    type: Literal["SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"] = (
        "SparseCategoricalCrossentropy"
    )
    from_logits: bool = False
    axis: int = -1

    def values(self) -> Values:
        """The loss's per-sample values with the class axis moved last."""
        loss = self.to_loss()

        def values(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
            # Keras's one-hot along ``axis`` gives the same sum as the class axis moved last.
            y_pred = np.moveaxis(np.asarray(y_pred, np.float64), self.axis, -1)
            return loss.per_sample(y_pred, np.asarray(y_true))

        return values


KLDivergence = wrap_loss(
    losses.KLDivergence,
    "Mean Kullback-Leibler divergence.",
    names=("KLDivergence", "kl_divergence"),
)
Poisson = wrap_loss(losses.Poisson, "Mean Poisson loss.")
# Keras's metric is the cosine similarity itself, the loss its negative.
CosineSimilarity = wrap_loss(
    losses.CosineSimilarity,
    "Mean cosine similarity along ``axis`` (positive: 1 means aligned).",
    negate=True,
)
Hinge = wrap_loss(losses.Hinge, "Mean hinge loss.")
SquaredHinge = wrap_loss(losses.SquaredHinge, "Mean squared hinge loss.")
CategoricalHinge = wrap_loss(losses.CategoricalHinge, "Mean categorical hinge loss.")
