"""Every metric's result as one graph: the metrics' summed statistics in, their values out.

A bundle that trains where it runs (web, mobile) adds each batch's metric statistics up
over an epoch or an evaluation, as ``specc train`` does (``Totals``); one run of this graph
then turns the sums into every metric's value, each by its own ``Metric.lower_result``
(the formula beside its NumPy ``result``), so that no runtime keeps a copy of a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from specc.graph import Graph, GraphBuilder
from specc.lazy_numpy import np
from specc.metrics.base import Metric
from specc.types import TensorType


@dataclass(frozen=True)
class ResultEntry:
    """One metric of the graph: its history name (its output is ``value_name`` of it), the
    metric, and its statistics' input names and shapes, in ``Metric.lower``'s order."""

    name: str
    metric: Metric
    statistics: Sequence[tuple[str, tuple[int, ...]]]


def result_shape(metric: Metric, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The shape of the metric's value: one per entry where ``result`` gives a list (F1Score
    without ``average``), else a scalar; asked of ``result`` itself on zero sums."""
    value = metric.result([np.zeros(shape) for shape in shapes])
    return (len(value),) if isinstance(value, list) else ()


def build_result_graph(entries: Sequence[ResultEntry]) -> Graph:
    """The graph: each entry's statistics as float32 inputs of their shapes (no batch axis),
    each metric's value as a float32 output named ``value_name(entry.name)``."""
    b = GraphBuilder("metrics")
    for entry in entries:
        totals = [
            b.input(name, TensorType("float32", tuple(shape), batched=False))
            for name, shape in entry.statistics
        ]
        shape = result_shape(entry.metric, [s for _, s in entry.statistics])
        with b.scope(entry.name):
            value = entry.metric.lower_result(b, totals)
            # A value of one element as the scalar the history holds (Precision's counts
            # have one threshold: shape [1]).
            value = b.op("Reshape", value, b.constant(list(shape), np.int64, hint="shape"))
        b.output(value, value_name(entry.name), TensorType("float32", shape, batched=False))
    return b.graph


def value_name(history_name: str) -> str:
    """The output holding the metric logged as ``history_name``. Not the history name
    itself: onnxruntime-web returns outputs as a JavaScript object, which drops one named
    ``__proto__`` (a name a spec may give a metric)."""
    return f"value/{history_name}"
