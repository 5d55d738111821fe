"""The compile section against the outputs' types: what would fail mid-training, refused up
front, at the loss or metric responsible.

An output's loss fixes its labels: class indices for ``sparse_categorical_crossentropy``
(shaped like the prediction without its class axis), one value per prediction for every
other loss. Keras 3.15.1 reads them as follows (each rule was checked against it):

- ``accuracy``/``acc`` adapts to either form.
- The sparse metrics (sparse categorical accuracy, sparse top-k, sparse categorical
  cross-entropy) need class indices; given one value per prediction they fail on shapes
  (or, with one class, compare against an index that cannot exist).
- Every other metric compares labels with predictions value by value, after at most
  squeezing a trailing axis of 1: class indices against (batch, classes) predictions fail
  to broadcast mid-epoch ("operands could not be broadcast (32,) (320,)" for AUC,
  Precision and Recall), or broadcast into nonsense when the batch size happens to match.
- ``class_id`` and ``top_k`` past the class count, an AUC ``num_labels`` or
  ``label_weights`` of another length, ``multi_label`` on predictions that are not
  (batch, labels), and an ``axis`` out of range fail in Keras too.
- A metric on an output without a loss has no labels: specc reads labels only for outputs
  with a loss (Keras fails the same way when ``y`` lacks them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from specc.diagnostics import Diagnostic, SpecPath
from specc.limits import Limits
from specc.losses import Loss
from specc.metrics import Metric
from specc.spec.compile import CompileConfig, losses_by_output
from specc.types import TensorType, elements

if TYPE_CHECKING:
    from specc.metrics.auc import AUC

METRIC_LABELS = "SPC215-metric-labels"
METRIC_ARGUMENT = "SPC216-metric-argument"
LOSS_OUTPUT = "SPC217-loss-output"

# Each sparse metric (module, class), and the metric that reads one value per prediction
# instead.
_SPARSE = {
    ("accuracy", "SparseCategoricalAccuracy"): "categorical_accuracy",
    ("accuracy", "SparseTopKCategoricalAccuracy"): "top_k_categorical_accuracy",
    ("loss_based", "SparseCategoricalCrossentropy"): "categorical_crossentropy",
}


def _metric_classes(module: str, *names: str) -> tuple[type[Metric], ...]:
    """The named classes of a ``specc.metrics`` module; none when it is not imported,
    since a metric of that module cannot then exist: these checks import no metric module
    (``loss_based`` would bring every loss in)."""
    found = sys.modules.get(f"specc.metrics.{module}")
    return tuple(getattr(found, name) for name in names) if found is not None else ()


def _sparse_counterpart(metric: Metric) -> str | None:
    """The metric to use instead of ``metric`` when it is sparse, else None."""
    for (module, name), dense in _SPARSE.items():
        if type(metric) in _metric_classes(module, name):
            return dense
    return None


_SPARSE_NAMES = "accuracy, sparse_categorical_accuracy or sparse_top_k_categorical_accuracy"


def metric_entries(
    compile: CompileConfig, outputs: list[str]
) -> Iterator[tuple[str, Metric, SpecPath]]:
    """Every metric with its output and its spec path, once the section has been checked
    against the output names (``check_compile_against_outputs``)."""
    metrics = compile.metrics
    if metrics is None:
        return
    base: SpecPath = ("compile", "metrics")
    if isinstance(metrics, dict):
        groups = [(name, (*base, name), metrics[name]) for name in outputs if name in metrics]
    elif len(outputs) == 1:
        groups = [(outputs[0], base, metrics)]
    else:
        pairs = enumerate(zip(outputs, metrics, strict=True))
        groups = [(name, (*base, k), entry) for k, (name, entry) in pairs]
    for output, path, group in groups:
        if isinstance(group, list):
            for j, metric in enumerate(group):
                yield output, metric, (*path, j)
        else:
            yield output, group, path


def _loss_path(compile: CompileConfig, output: str) -> SpecPath:
    return ("compile", "loss", output) if isinstance(compile.loss, dict) else ("compile", "loss")


def _axis_problem(axis: int, prediction: TensorType) -> str | None:
    rank = prediction.rank
    if -rank <= axis < rank:
        return None
    return (
        f"axis {axis} is out of range for output {prediction} "
        f"(rank {rank}: use -{rank}..{rank - 1})"
    )


def _loss_problem(loss: Loss, prediction: TensorType) -> str | None:
    if loss.expects_sparse_labels and not prediction.shape:
        return (
            f"{loss.type} needs a class axis (predictions of shape (batch, ..., classes)); "
            f"got an output of shape {prediction}"
        )
    # Every axis the loss names must lie in the output, each once (-1 and 2 are one axis
    # of a rank-3 output).
    axes = loss.axes()
    problem = next(filter(None, (_axis_problem(axis, prediction) for axis in axes)), None)
    if problem is None and len({axis % prediction.rank for axis in axes}) != len(axes):
        problem = (
            f"axis {list(axes)} names one axis twice for output {prediction} "
            f"(rank {prediction.rank})"
        )
    return problem


def _labels_problem(metric: Metric, loss: Loss | None, prediction: TensorType) -> str | None:
    """Why ``metric`` cannot read the labels ``loss`` gives this output, or None."""
    name = metric.history_name()
    if loss is None:
        return (
            f"metric '{name}' is on an output without a loss, which specc reads no labels "
            "for; give the output a loss (with a loss_weights entry of 0 to track it "
            "without training on it)"
        )
    if isinstance(metric, _metric_classes("accuracy", "Accuracy")):
        return None
    sparse_metric = _sparse_counterpart(metric) is not None
    if loss.expects_sparse_labels and not sparse_metric:
        labels = loss.label_type(prediction)
        return (
            f"metric '{name}' compares labels with predictions value by value, but the "
            f"output's labels are class indices {labels} ({loss.type}) against predictions "
            f"{prediction}; use {_SPARSE_NAMES}, or train with one-hot labels "
            "(categorical_crossentropy) to use this metric"
        )
    if sparse_metric and not loss.expects_sparse_labels:
        return (
            f"metric '{name}' reads class indices, but the output's labels are one value per "
            f"prediction {prediction} ({loss.type}); use {_sparse_counterpart(metric)} (or "
            "accuracy), or train with sparse_categorical_crossentropy on class indices"
        )
    return None


def _argument_problem(metric: Metric, prediction: TensorType, limits: Limits) -> str | None:
    """Why an argument of ``metric`` does not fit this output, or None."""
    classes = prediction.shape[-1] if prediction.shape else 1
    name = metric.history_name()
    own = metric.output_problem(prediction)
    if own is not None:
        return f"metric '{name}' {own}"
    confusion = _metric_classes("confusion", "Precision", "Recall")
    if isinstance(metric, confusion) and classes is not None:
        if metric.class_id is not None and metric.class_id >= classes:
            return (
                f"metric '{name}' has class_id={metric.class_id}, but output {prediction} has "
                f"{classes} class(es) (0..{classes - 1})"
            )
        if metric.top_k is not None and metric.top_k > classes:
            return (
                f"metric '{name}' has top_k={metric.top_k}, more than the {classes} "
                f"prediction(s) per row of output {prediction}"
            )
    if isinstance(
        metric, _metric_classes("loss_based", "CategoricalCrossentropy", "CosineSimilarity")
    ):
        problem = _axis_problem(metric.axis, prediction)
        return f"metric '{name}': {problem}" if problem else None
    sparse_crossentropy = _metric_classes("loss_based", "SparseCategoricalCrossentropy")
    if isinstance(metric, sparse_crossentropy) and metric.axis not in (
        -1,
        prediction.rank - 1,
    ):
        return (
            f"metric '{name}' takes the classes on the last axis only (axis -1); "
            f"got axis {metric.axis}"
        )
    if isinstance(metric, _metric_classes("auc", "AUC")):
        return _auc_problem(metric, prediction, classes, limits)
    return None


def _auc_problem(
    metric: AUC, prediction: TensorType, classes: int | None, limits: Limits
) -> str | None:
    name = metric.history_name()
    if metric.multi_label and prediction.rank != 2:
        return (
            f"metric '{name}' has multi_label, which needs predictions of shape "
            f"(batch, labels); got {prediction}"
        )
    if classes is None:
        return None
    if metric.num_labels is not None and metric.num_labels != classes:
        return (
            f"metric '{name}' has num_labels={metric.num_labels}, but output {prediction} "
            f"has {classes} label(s)"
        )
    weights = metric.label_weights
    if weights is not None and len(weights) not in (1, classes):
        return (
            f"metric '{name}' has {len(weights)} label_weights, but output {prediction} has "
            f"{classes} label(s); give one weight per label"
        )
    # Keras compares every prediction with every threshold (two more at the ends).
    thresholds = metric.num_thresholds if metric.thresholds is None else len(metric.thresholds)
    values = (thresholds + 2) * elements(prediction.shape)
    if values > limits.activation_elements:
        return (
            f"metric '{name}' counts {thresholds:,} thresholds for each of the output's "
            f"values ({values:,} counts per sample), more than one value may hold; "
            f"{limits.hint('activation_elements', values)}"
        )
    return None


def check_compile_against_types(
    compile: CompileConfig, outputs: dict[str, TensorType], limits: Limits
) -> list[Diagnostic]:
    """Every loss and metric that cannot apply to its output's type, in spec order."""
    names = list(outputs)
    losses = losses_by_output(compile, names)
    found: list[Diagnostic] = []
    for output, loss in losses.items():
        problem = _loss_problem(loss, outputs[output]) if loss is not None else None
        if problem is not None:
            message = f"the loss of output '{output}': {problem}"
            found.append(Diagnostic(LOSS_OUTPUT, message, _loss_path(compile, output)))
    for output, metric, path in metric_entries(compile, names):
        prediction = outputs[output]
        loss = losses[output]
        if loss is not None and _loss_problem(loss, prediction) is not None:
            continue  # the output's labels are unknown; its loss was reported
        problem = _labels_problem(metric, loss, prediction)
        code = METRIC_LABELS
        if problem is None:
            problem, code = _argument_problem(metric, prediction, limits), METRIC_ARGUMENT
        if problem is not None:
            found.append(Diagnostic(code, f"output '{output}': {problem}", path))
    return found
