"""The metrics Keras builds from a loss function, and the root mean squared error.

Keras defines each as a ``MeanMetricWrapper(fn=<loss function>)``; so does specc, once:
``wrap_loss`` makes a metric class from a loss class: Keras's ``Mean`` of that loss's own
lowering before reduction (``Loss.lower_values``), with the loss's NumPy per-sample
reference as the metric's. The metric takes the loss's
arguments (less ``reduction``, and less any the Keras metric does not take) and answers to
the loss's names unless Keras names the metric otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import create_model

from specc import losses
from specc.graph import GraphBuilder, Value, normalize_axis
from specc.lazy_numpy import np
from specc.metrics.base import (
    METRICS,
    MeanMetric,
    MetricInputs,
    MetricValue,
    Shape,
    lower_mean_result,
    lower_same_rank,
    mean_result,
    same_rank,
    to_float32,
)
from specc.registry import type_names
from specc.types import FLOAT, INT64


class LossMetric(MeanMetric):
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

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """The loss's values before reduction (from float32 predictions, as probabilities
        unless ``from_logits``: a metric folds no softmax head)."""
        return self._lower_loss(b, x, x.y_pred, x.prediction.full_shape)

    def _lower_loss(
        self, b: GraphBuilder, x: MetricInputs, y_pred: Value, shape: Shape
    ) -> tuple[Value, Shape]:
        """The loss's values of ``y_pred`` (``x``'s, or moved), of full ``shape``."""
        loss = self.to_loss()
        y_true, labels = x.y_true, x.labels
        y_pred = to_float32(b, y_pred, x.prediction)
        # The labels as the loss reads them: class indices, or float32 values.
        wanted = "int64" if loss.expects_sparse_labels else "float32"
        if labels.dtype != wanted:
            y_true = b.op("Cast", y_true, to=INT64 if loss.expects_sparse_labels else FLOAT)
        logits = y_pred if getattr(loss, "from_logits", False) else None
        values = loss.lower_values(b, shape, y_pred, y_true, logits).values
        if self.negate:
            values = b.op("Neg", values)
        # The loss reduces its ``axis`` (by default the last); a shape it reduces otherwise
        # is left to run time.
        rank = loss.values_rank(len(shape))
        reduced = {normalize_axis(a, len(shape)) for a in loss.axes()} or {len(shape) - 1}
        kept = tuple(d for i, d in enumerate(shape) if i not in reduced)
        return values, kept if len(kept) == rank else (None,) * rank

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The loss's NumPy per-sample reference."""
        y_pred, y_true = np.asarray(y_pred, np.float64), np.asarray(y_true, np.float64)
        per_sample = self.to_loss().per_sample(y_pred, y_true)
        return -per_sample if self.negate else per_sample


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
class RootMeanSquaredError(MeanMetric):
    """``sqrt`` of the mean squared error over the whole epoch (not a mean of roots)."""

    type: Literal["RootMeanSquaredError", "root_mean_squared_error"] = "RootMeanSquaredError"
    direction = "down"

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """Each squared error (no mean over the last axis: the ``Mean`` takes them all)."""
        y_true, y_pred, labels, prediction = x.y_true, x.y_pred, x.labels, x.prediction
        y_true, y_pred = to_float32(b, y_true, labels), to_float32(b, y_pred, prediction)
        y_true, y_pred, shape, _ = lower_same_rank(
            b, y_true, y_pred, labels.full_shape, prediction.full_shape
        )
        return b.square(b.op("Sub", y_pred, y_true)), shape

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The squared errors in NumPy."""
        y_true, y_pred = same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
        return np.square(y_pred - y_true)

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """The root of the epoch's mean."""
        return float(np.sqrt(mean_result(totals)))

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """The root of the mean, in the graph."""
        return b.op("Sqrt", lower_mean_result(b, totals))


LogCoshError = wrap_loss(losses.LogCosh, names=("LogCoshError", "log_cosh_error"))
LogCoshError.keras_name = "logcosh"  # Keras's LogCoshError(name="logcosh")
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

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """The loss's values with the class axis moved last (Keras's one-hot along
        ``axis`` gives the same sum)."""
        shape = x.prediction.full_shape
        axis = normalize_axis(self.axis, len(shape))
        perm = [*(i for i in range(len(shape)) if i != axis), axis]
        moved = b.op("Transpose", x.y_pred, perm=perm)
        return self._lower_loss(b, x, moved, tuple(shape[i] for i in perm))

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The loss's per-sample values with the class axis moved last."""
        y_pred = np.moveaxis(np.asarray(y_pred, np.float64), self.axis, -1)
        return self.to_loss().per_sample(y_pred, np.asarray(y_true))


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
