"""Running a metric's in-graph statistics on onnxruntime, batch by batch.

``graph_result`` builds a graph that takes one batch of labels and predictions and outputs
the metric's statistics (``Metric.lower``), runs it on each batch, adds the statistics up as
``fit`` does (``Totals``) and returns the metric's value; ``reference_result`` does the same
with the NumPy reference of the statistics (``Metric.reference_statistics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from specc.graph import GraphBuilder
from specc.metrics import Metric, MetricInputs, MetricValue, Totals
from specc.types import TensorType
from tests.ingraph_harness import GraphRunner

Batch = tuple[Any, Any]


def tensor_type(array: np.ndarray) -> TensorType:
    """A batch array's type: int64 or float32, its shape after the batch axis."""
    dtype = "int64" if np.issubdtype(array.dtype, np.integer) else "float32"
    return TensorType(dtype, tuple(array.shape[1:]))


def batch_arrays(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Labels (integer, else float32) and float32 predictions."""
    y_true, y_pred = np.asarray(batch[0]), np.asarray(batch[1], np.float32)
    if not np.issubdtype(y_true.dtype, np.integer):
        y_true = y_true.astype(np.float32)
    return y_true, y_pred.astype(np.float32)


class MetricGraph:
    """A metric's statistics as a graph over one batch of the given types."""

    def __init__(self, metric: Metric, labels: TensorType, prediction: TensorType) -> None:
        self.metric = metric.for_types(labels, prediction)
        b = GraphBuilder("metric")
        y_true = b.input("y_true", labels)
        y_pred = b.input("y_pred", prediction)
        inputs = MetricInputs(y_true, y_pred, labels, prediction)
        statistics = self.metric.lower(b, inputs)
        for k, statistic in enumerate(statistics):
            b.output(statistic.value, f"s{k}", TensorType("float32", statistic.shape, False))
        self.shapes = [s.shape for s in statistics]
        self.runner = GraphRunner(b.graph)

    def statistics(self, y_true: np.ndarray, y_pred: np.ndarray) -> list[np.ndarray]:
        """One batch's statistics, in order."""
        out = self.runner.run({"y_true": y_true, "y_pred": y_pred})
        return [out[f"s{k}"] for k in range(len(out))]


def graph_result(metric: Metric, batches: Sequence[Batch]) -> MetricValue:
    """The metric's value from its in-graph statistics summed over ``batches``."""
    arrays = [batch_arrays(batch) for batch in batches]
    graph = MetricGraph(metric, tensor_type(arrays[0][0]), tensor_type(arrays[0][1]))
    totals = Totals(graph.metric)
    for y_true, y_pred in arrays:
        batch = graph.statistics(y_true, y_pred)
        for got, shape in zip(batch, graph.shapes, strict=True):
            assert got.dtype == np.float32 and got.shape == shape, (got.dtype, got.shape, shape)
        totals.add(batch)
    return totals.result()


def reference_statistics(metric: Metric, batch: Batch) -> list[np.ndarray]:
    """One batch's statistics by the NumPy reference."""
    return metric.reference_statistics(*batch_arrays(batch))


def reference_result(metric: Metric, batches: Sequence[Batch]) -> MetricValue:
    """The metric's value from the NumPy reference statistics summed over ``batches``."""
    totals = Totals(metric)
    for batch in batches:
        totals.add(reference_statistics(metric, batch))
    return totals.result()
