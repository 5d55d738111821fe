"""Metrics: Keras 3's ``keras.metrics``, under the names ``compile(metrics=...)`` accepts.

Keras 3 resolves a metric name against each class name and its snake_case
(``RootMeanSquaredError``, ``root_mean_squared_error``) plus ``bce``, ``mse``, ``mae``,
``mape``, ``msle`` (each also in capitals). ``compile`` first intercepts ``accuracy`` and
``acc``: their meaning depends on the label and prediction shapes (see ``label_kind``), so
they are recorded here as the ``accuracy`` entry and resolved once shapes are known.

Every metric takes Keras's ``name``: it keys the metric in the history. Without it Keras
uses the string the user wrote (``acc`` reports as ``acc``), or for a metric object its
class's default name (``{type: SparseTopKCategoricalAccuracy, k: 3}`` reports as
``sparse_top_k_categorical_accuracy``), which ``history_name`` follows.
Keras's ``dtype`` is not accepted.

Each metric class lowers one batch's statistics into the training graph (``Metric.lower``:
Keras's metric variables for that batch), turns their totals over the batches into its
value (``Metric.result``, in NumPy; ``Metric.lower_result``, the same in ONNX ops for the
bundles that train where they run), and holds the NumPy reference of its statistics
(``Metric.reference_statistics``). Metric modules are discovered, not listed: adding a metric
means adding its class to a module here and nothing else. ``METRICS`` imports a module
when one of its metrics is first asked for (the metrics ``loss_based`` makes from losses
are not read from the source: asking for one imports every module).
"""

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator

from specc.metrics.base import (
    METRICS,
    MeanMetric,
    Metric,
    MetricInputs,
    MetricValue,
    Statistic,
    Totals,
    same_rank,
)

# The first modules keep their place in the listings; later modules follow by name.
METRICS.list_first("accuracy", "confusion", "auc", "loss_based")


def _named_by_string(value: Any) -> Any:
    """A metric given as a string is named by it (Keras's ``compile``: ``"acc"`` logs as
    ``acc``); a mapping without ``name`` takes its class's default (``history_name``)."""
    if isinstance(value, str) and value in METRICS:
        return {"type": value, "name": value}
    return value  # an unknown name is reported where the string stands


def metric_field(models: Iterable[type[Metric]] | None = None) -> Any:
    """The field type of one metric in ``compile.metrics``: a name or a mapping with
    ``type``, one of ``models`` (every metric by default)."""
    return Annotated[METRICS.discriminated_union(models=models), BeforeValidator(_named_by_string)]


def __getattr__(name: str) -> Any:
    # The metric classes are imported when first asked for (``METRICS`` imports only the
    # modules of the metrics a spec names).
    if name == "MetricField":
        return metric_field()
    return METRICS.package_attribute(name)


__all__ = [
    "AUC",
    "METRICS",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "KLDivergence",
    "LabelKind",
    "LogCoshError",
    "LossMetric",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetric",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "MetricField",
    "MetricInputs",
    "MetricValue",
    "Poisson",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SquaredHinge",
    "Statistic",
    "TopKCategoricalAccuracy",
    "Totals",
    "label_kind",
    "metric_field",
    "same_rank",
    "wrap_loss",
]
