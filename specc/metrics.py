"""Metrics: Keras 3's ``keras.metrics``, under the names ``compile(metrics=...)`` accepts.

Keras 3 resolves a metric name against each class name and its snake_case
(``RootMeanSquaredError``, ``root_mean_squared_error``) plus ``bce``, ``mse``, ``mae``,
``mape``, ``msle`` (each also in capitals). ``compile`` first intercepts ``accuracy`` and
``acc``: their meaning depends on the label and prediction shapes (see ``label_kind``), so
they are recorded here as the ``accuracy`` entry and resolved once shapes are known.

Every metric takes Keras's ``name``: it keys the metric in the history. Without it Keras
uses the string the user wrote (``acc`` reports as ``acc``), which ``history_name`` follows.
Keras's ``dtype`` is not accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from specc.registry import Registry, SpecModel
from specc.train.metric_state import MetricState, state_for

Threshold = Annotated[float, Field(ge=0, le=1)]
LabelKind = Literal["binary", "sparse", "categorical"]


class Metric(SpecModel):
    """Base of every metric: the history key it reports under."""

    name: Annotated[str, Field(min_length=1)] | None = None

    def history_name(self) -> str:
        """The key in the history: ``name``, else the spelling the spec used, as Keras."""
        return self.name if self.name is not None else str(getattr(self, "type"))  # noqa: B009

    def new_state(self) -> MetricState:
        """A fresh NumPy running state: ``update(y_true, y_pred)`` per batch, ``result()``.

        It reproduces Keras 3's stateful metric over several batches (see
        ``specc.train.metric_state``).
        """
        return state_for(self)


METRICS: Registry[Metric] = Registry("metric")


def label_kind(y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]) -> LabelKind:
    """Keras's ``is_binary_or_sparse_categorical``: how ``accuracy`` reads its labels.

    Both shapes are taken with or without the batch dimension, the same way for both.
    Binary when the prediction's last dimension is 1; sparse when the labels have lower rank,
    or a last dimension of 1 against a wider prediction; categorical otherwise.
    """
    if y_pred_shape and y_pred_shape[-1] == 1:
        return "binary"
    true_last = y_true_shape[-1] if y_true_shape else None
    pred_last = y_pred_shape[-1] if y_pred_shape else None
    if len(y_true_shape) < len(y_pred_shape) or (
        true_last == 1 and pred_last is not None and pred_last > 1
    ):
        return "sparse"
    return "categorical"


@METRICS.register
class Accuracy(Metric):
    """``accuracy``/``acc`` in compile: binary, categorical or sparse accuracy by shapes.

    Keras's own ``Accuracy`` class (exact equality) is not offered: in ``compile`` its
    string spellings mean this shape-dependent accuracy.
    """

    type: Literal["accuracy", "acc"] = "accuracy"

    def resolve(
        self, y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]
    ) -> BinaryAccuracy | SparseCategoricalAccuracy | CategoricalAccuracy:
        """The accuracy Keras picks for these shapes, keeping this entry's history name."""
        kind = label_kind(y_true_shape, y_pred_shape)
        name = self.history_name()
        if kind == "binary":
            return BinaryAccuracy(name=name)
        if kind == "sparse":
            return SparseCategoricalAccuracy(name=name)
        return CategoricalAccuracy(name=name)


@METRICS.register
class BinaryAccuracy(Metric):
    """Mean of ``y_true == (y_pred > threshold)``."""

    type: Literal["BinaryAccuracy", "binary_accuracy"] = "BinaryAccuracy"
    # Keras raises unless 0 < threshold < 1.
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5


@METRICS.register
class CategoricalAccuracy(Metric):
    """Mean of ``argmax(y_true) == argmax(y_pred)``."""

    type: Literal["CategoricalAccuracy", "categorical_accuracy"] = "CategoricalAccuracy"


@METRICS.register
class SparseCategoricalAccuracy(Metric):
    """Mean of ``y_true == argmax(y_pred)`` for integer labels."""

    type: Literal["SparseCategoricalAccuracy", "sparse_categorical_accuracy"] = (
        "SparseCategoricalAccuracy"
    )


@METRICS.register
class TopKCategoricalAccuracy(Metric):
    """How often ``argmax(y_true)`` is among the ``k`` largest predictions."""

    type: Literal["TopKCategoricalAccuracy", "top_k_categorical_accuracy"] = (
        "TopKCategoricalAccuracy"
    )
    k: Annotated[int, Field(gt=0)] = 5


@METRICS.register
class SparseTopKCategoricalAccuracy(Metric):
    """How often the integer label is among the ``k`` largest predictions."""

    type: Literal["SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"] = (
        "SparseTopKCategoricalAccuracy"
    )
    k: Annotated[int, Field(gt=0)] = 5


@METRICS.register
class MeanSquaredError(Metric):
    """Mean of the ``mean_squared_error`` loss."""

    type: Literal["MeanSquaredError", "mean_squared_error", "mse", "MSE"] = "MeanSquaredError"


@METRICS.register
class MeanAbsoluteError(Metric):
    """Mean of the ``mean_absolute_error`` loss."""

    type: Literal["MeanAbsoluteError", "mean_absolute_error", "mae", "MAE"] = "MeanAbsoluteError"


@METRICS.register
class MeanAbsolutePercentageError(Metric):
    """Mean of the ``mean_absolute_percentage_error`` loss."""

    type: Literal[
        "MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape", "MAPE"
    ] = "MeanAbsolutePercentageError"


@METRICS.register
class MeanSquaredLogarithmicError(Metric):
    """Mean of the ``mean_squared_logarithmic_error`` loss."""

    type: Literal[
        "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle", "MSLE"
    ] = "MeanSquaredLogarithmicError"


@METRICS.register
class RootMeanSquaredError(Metric):
    """``sqrt`` of the mean squared error over the whole epoch (not a mean of roots)."""

    type: Literal["RootMeanSquaredError", "root_mean_squared_error"] = "RootMeanSquaredError"


@METRICS.register
class LogCoshError(Metric):
    """Mean of the ``log_cosh`` loss."""

    type: Literal["LogCoshError", "log_cosh_error"] = "LogCoshError"


@METRICS.register
class BinaryCrossentropy(Metric):
    """Mean binary cross-entropy (Keras's metric takes no ``axis``)."""

    type: Literal["BinaryCrossentropy", "binary_crossentropy", "bce", "BCE"] = "BinaryCrossentropy"
    from_logits: bool = False
    label_smoothing: Threshold = 0.0


@METRICS.register
class CategoricalCrossentropy(Metric):
    """Mean categorical cross-entropy along ``axis``."""

    type: Literal["CategoricalCrossentropy", "categorical_crossentropy"] = "CategoricalCrossentropy"
    from_logits: bool = False
    label_smoothing: Threshold = 0.0
    axis: int = -1


@METRICS.register
class SparseCategoricalCrossentropy(Metric):
    """Mean sparse categorical cross-entropy along ``axis``."""

    type: Literal["SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"] = (
        "SparseCategoricalCrossentropy"
    )
    from_logits: bool = False
    axis: int = -1


@METRICS.register
class KLDivergence(Metric):
    """Mean Kullback-Leibler divergence."""

    type: Literal["KLDivergence", "kl_divergence"] = "KLDivergence"


@METRICS.register
class Poisson(Metric):
    """Mean Poisson loss."""

    type: Literal["Poisson", "poisson"] = "Poisson"


@METRICS.register
class CosineSimilarity(Metric):
    """Mean cosine similarity along ``axis`` (positive: 1 means aligned)."""

    type: Literal["CosineSimilarity", "cosine_similarity"] = "CosineSimilarity"
    axis: int = -1


@METRICS.register
class Hinge(Metric):
    """Mean hinge loss."""

    type: Literal["Hinge", "hinge"] = "Hinge"


@METRICS.register
class SquaredHinge(Metric):
    """Mean squared hinge loss."""

    type: Literal["SquaredHinge", "squared_hinge"] = "SquaredHinge"


@METRICS.register
class CategoricalHinge(Metric):
    """Mean categorical hinge loss."""

    type: Literal["CategoricalHinge", "categorical_hinge"] = "CategoricalHinge"


@METRICS.register
class AUC(Metric):
    """Area under the ROC or PR curve, from confusion counts at ``num_thresholds`` cuts."""

    type: Literal["AUC", "auc"] = "AUC"
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


class _ConfusionRatio(Metric):
    """Precision and recall share Keras's arguments."""

    # One threshold only: a list would make the metric a vector, and the history holds
    # one number per metric per epoch. Keras defaults to 0.5 (or none with top_k).
    thresholds: Threshold | None = None
    top_k: Annotated[int, Field(gt=0)] | None = None
    class_id: Annotated[int, Field(ge=0)] | None = None


@METRICS.register
class Precision(_ConfusionRatio):
    """``true_positives / (true_positives + false_positives)``."""

    type: Literal["Precision", "precision"] = "Precision"


@METRICS.register
class Recall(_ConfusionRatio):
    """``true_positives / (true_positives + false_negatives)``."""

    type: Literal["Recall", "recall"] = "Recall"


#: The field type of one metric in ``compile.metrics``: a name or a mapping with ``type``.
MetricField = METRICS.discriminated_union()
