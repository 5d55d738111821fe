"""The ``Metric`` base class, the ``METRICS`` registry and Keras's ``Mean`` accumulator.

A metric is computed in two halves, as Keras's stateful metric is:

- ``lower`` emits, inside the training graph, the batch's additive statistics (Keras's
  metric variables for one batch: a ``Mean``'s total and count, confusion counts at
  thresholds); the training loop adds them up over the batches;
- ``result`` turns those totals into the value Keras reports (a ratio, a Riemann sum);
  ``lower_result`` is the same formula in ONNX ops, beside it, for the bundles that train
  where they run (``specc.metrics.result_graph``): ``result`` stays the reference.

``reference_statistics`` is the NumPy float64 reference of ``lower`` that the tests check
the graph against (as a layer module holds its NumPy reference); training never runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel, to_snake_case
from specc.types import FLOAT, TensorType

Threshold = Annotated[float, Field(ge=0, le=1)]
# A metric's result: one number, or one per class (F1Score without ``average``).
MetricValue = float | list[float]
#: ``keras.backend.epsilon()``.
EPSILON = 1e-7


@dataclass(frozen=True)
class MetricInputs:
    """What a metric's lowering reads: the labels and the predictions, and their types."""

    y_true: Value
    y_pred: Value
    labels: TensorType
    prediction: TensorType
    # The output's Keras mask (float32 0/1, the shape of the per-step values), if any.
    mask: Value | None = None


@dataclass(frozen=True)
class Statistic:
    """One additive statistic a metric's lowering emits: a float32 value of fixed shape
    (no batch axis), summed over an epoch's batches."""

    value: Value
    shape: tuple[int, ...] = ()


class Metric(SpecModel):
    """Base of every metric: the history key it reports under."""

    name: Annotated[str, Field(min_length=1)] | None = None
    #: Keras's ``_direction``: "up" when a larger value is better, "down" when a smaller
    #: one is, None when Keras sets none (a monitoring callback in "auto" mode then needs a
    #: ``mode``).
    direction: ClassVar[Literal["up", "down"] | None] = None

    # Keras's default ``name`` for the class where it is not the class name in snake_case.
    keras_name: ClassVar[str | None] = None

    def history_name(self) -> str:
        """The key in the history, as Keras logs it: ``name``; a metric the spec gave as a
        string has that string as its name (``MetricField``), as Keras's ``compile`` names
        it; one given as a mapping has its class's default name, as the object
        ``keras.metrics.SparseTopKCategoricalAccuracy(k=3)`` is logged as
        ``sparse_top_k_categorical_accuracy``."""
        if self.name is not None:
            return self.name
        return self.keras_name or to_snake_case(type(self).__name__)

    def for_types(self, labels: TensorType, prediction: TensorType) -> Metric:
        """The metric that runs for these label and prediction types (``accuracy`` picks
        Keras's binary, sparse or categorical accuracy here); most metrics are themselves."""
        return self

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """Emit the batch's statistics."""
        raise NotImplementedError(f"{type(self).__name__} has no lowering")

    def reference_statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """The batch's statistics in NumPy float64: the reference ``lower`` is tested
        against."""
        raise NotImplementedError(f"{type(self).__name__} has no reference")

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """The metric's value from its statistics summed over the batches (all zero
        before any batch)."""
        raise NotImplementedError(f"{type(self).__name__} has no result")

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """``result`` in the graph: the float32 value (a scalar, or one per class where
        ``result`` gives a list) from the summed statistics, float32 of their shapes."""
        raise NotImplementedError(f"{type(self).__name__} has no result lowering")

    def output_problem(self, prediction: TensorType) -> str | None:
        """Why this metric cannot read an output of type ``prediction`` (a sentence that
        follows the metric's name), or None. Most metrics read any output."""
        return None


METRICS: Registry[Metric] = Registry("metric", package="specc.metrics")


def divide_no_nan(a: Any, b: Any) -> Any:
    """``a / b``, 0 where ``b`` is 0 (Keras's ``divide_no_nan``), in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def lower_divide_no_nan(b: GraphBuilder, a: Value, d: Value) -> Value:
    """``divide_no_nan`` in the graph: ``a / d``, 0 where ``d`` is 0 (Where on the few
    numbers of a metric's result, never on a batch)."""
    zero = b.op("Equal", d, b.constant(0.0))
    quotient = b.op("Div", a, b.op("Where", zero, b.constant(1.0), d))
    return b.op("Where", zero, b.constant(0.0), quotient)


def same_rank(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``squeeze_or_expand_to_same_rank``: drop (or add) a trailing axis of 1."""
    x1_shape, x2_shape = same_rank_shapes(x1.shape, x2.shape)
    return x1.reshape(x1_shape), x2.reshape(x2_shape)


Shape = tuple[int | None, ...]


def same_rank_shapes(x1: Shape, x2: Shape) -> tuple[Shape, Shape]:
    """The shapes ``squeeze_or_expand_to_same_rank`` gives ``x1`` and ``x2``; decided from
    the shapes alone, so at build time from the tensor types (an unknown size is not 1)."""
    if len(x1) == len(x2) + 1 and x1[-1] == 1:
        if len(x2) == 1:
            x2 = (*x2, 1)
        else:
            x1 = x1[:-1]
    if len(x2) == len(x1) + 1 and x2[-1] == 1:
        if len(x1) == 1:
            x1 = (*x1, 1)
        else:
            x2 = x2[:-1]
    return x1, x2


def lower_same_rank(
    b: GraphBuilder, x1: Value, x2: Value, x1_shape: Shape, x2_shape: Shape
) -> tuple[Value, Value, Shape, Shape]:
    """``same_rank_shapes`` in the graph: the values reshaped, and their new shapes."""
    new1, new2 = same_rank_shapes(x1_shape, x2_shape)
    return (
        _to_rank(b, x1, x1_shape, new1),
        _to_rank(b, x2, x2_shape, new2),
        new1,
        new2,
    )


def _to_rank(b: GraphBuilder, x: Value, old: Shape, new: Shape) -> Value:
    if len(new) == len(old):
        return x
    axis = b.constant([len(old) - 1 if len(new) < len(old) else len(old)], np.int64, hint="axes")
    return b.op("Squeeze" if len(new) < len(old) else "Unsqueeze", x, axis)


def to_float32(b: GraphBuilder, x: Value, tensor: TensorType) -> Value:
    """``x`` (of type ``tensor``) as float32: cast only when it is not (onnxruntime-training
    fails removing a redundant Cast whose result one node reads twice, as ``Mul(x, x)``)."""
    return x if tensor.dtype == "float32" else b.op("Cast", x, to=FLOAT)


# --- Keras's Mean: a total and a count ------------------------------------------------------


def lower_mean(b: GraphBuilder, values: Value, shape: Shape) -> list[Statistic]:
    """Keras's ``Mean`` update for per-sample float32 ``values`` of full ``shape``: each sample's
    mean over its axes after the batch axis, summed (the total), and the batch size (the
    count). A scalar (Keras's mean over axis -1 of a rank-1 output) counts as one sample."""
    if not shape:
        return [Statistic(values), Statistic(b.constant(1.0))]
    total = b.reduce_sum(values)
    inner = known_inner = 1
    for axis in range(1, len(shape)):
        if shape[axis] is None:
            known_inner = 0
        else:
            inner *= shape[axis]
    if known_inner:
        if inner != 1:
            total = b.op("Div", total, b.constant(float(inner)))
    else:
        # A sample's size known only at run time: the element count over the batch size.
        size = b.op("Cast", b.op("Size", values), to=FLOAT)
        total = b.op("Div", total, b.op("Div", size, b.axis_size(values, shape, 0)))
    return [Statistic(total), Statistic(b.axis_size(values, shape, 0))]


def mean_statistics(values: np.ndarray) -> list[np.ndarray]:
    """``lower_mean`` in NumPy float64: the total of the per-sample means, and the count."""
    values = np.asarray(values, np.float64)
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    count = values.shape[0] if values.ndim else 1
    return [np.asarray(values.sum()), np.asarray(float(count))]


def mean_result(totals: Sequence[np.ndarray]) -> float:
    """A ``Mean``'s value: the total over the count (0 before any sample)."""
    return float(divide_no_nan(totals[0], totals[1]))


def lower_mean_of_all(b: GraphBuilder, x: Value) -> Value:
    """``np.mean(x)`` in the graph, over every element (a result's few numbers)."""
    return b.op("Div", b.reduce_sum(x), b.op("Cast", b.op("Size", x), to=FLOAT))


def lower_mean_result(b: GraphBuilder, totals: Sequence[Value]) -> Value:
    """``mean_result`` in the graph."""
    return lower_divide_no_nan(b, totals[0], totals[1])


class MeanMetric(Metric):
    """A Keras ``MeanMetricWrapper``: the mean over the samples of a per-sample function,
    which subclasses lower (``lower_values``) and reproduce in NumPy (``values``)."""

    def lower_values(self, b: GraphBuilder, x: MetricInputs) -> tuple[Value, Shape]:
        """Emit the per-sample values, and their full shape."""
        raise NotImplementedError

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The per-sample values in NumPy."""
        raise NotImplementedError

    def lower(self, b: GraphBuilder, x: MetricInputs) -> list[Statistic]:
        """The total and count of the per-sample values."""
        values, shape = self.lower_values(b, x)
        if x.mask is None:
            return lower_mean(b, values, shape)
        # Keras's MeanMetricWrapper weighs the values by the output's mask: each sample
        # adds its mean of values * mask to the total and its mean of the mask to the count.
        total, _ = lower_mean(b, b.op("Mul", values, x.mask), shape)
        count, _ = lower_mean(b, x.mask, shape)
        return [total, count]

    def reference_statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """The total and count of ``values``."""
        return mean_statistics(self.values(np.asarray(y_true), np.asarray(y_pred)))

    def result(self, totals: Sequence[np.ndarray]) -> MetricValue:
        """The mean."""
        return mean_result(totals)

    def lower_result(self, b: GraphBuilder, totals: Sequence[Value]) -> Value:
        """The mean, in the graph."""
        return lower_mean_result(b, totals)


class Totals:
    """A metric's statistics summed over an epoch's batches (in float64), and its value."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.sums: list[np.ndarray] | None = None

    def add(self, batch: Sequence[np.ndarray]) -> None:
        """Add one batch's statistics."""
        arrays = [np.asarray(s, np.float64) for s in batch]
        if self.sums is None:
            self.sums = arrays
        else:
            self.sums = [t + s for t, s in zip(self.sums, arrays, strict=True)]

    def result(self) -> MetricValue:
        """The value so far (0 before any batch)."""
        return 0.0 if self.sums is None else self.metric.result(self.sums)
