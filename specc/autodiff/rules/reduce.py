"""Gradients of the reductions."""

from __future__ import annotations

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.graph import Value

Grads = list[Value | None]


def reduced_axes(d: Backward) -> list[int]:
    """The axes a Reduce* node reduces, non-negative (axes as an input from opset 18, or
    for ReduceSum from 13; as an attribute before)."""
    rank = d.rank(d.x(0))
    if d.has_input(1):
        array = d.b.graph.initializers.get(d.node.inputs[1])
        if array is None:
            raise ValueError(f"{d.node.op_type} '{d.node.name}' takes its axes at run time")
        axes = [int(a) for a in np.asarray(array).reshape(-1)]
    else:
        axes = list(d.attr("axes", []))
    if not axes:
        return [] if d.attr("noop_with_empty_axes", 0) else list(range(rank))
    return sorted(a % rank for a in axes)


def spread(d: Backward, gy: Value, axes: list[int]) -> Value:
    """A reduction's output gradient broadcast back over the input's shape."""
    if axes and not d.attr("keepdims", 1):
        gy = d.op("Unsqueeze", gy, d.ints(axes, "axes"))
    return d.op("Expand", gy, d.shape_of(d.x(0)))


@vjp("ReduceSum")
def _reduce_sum(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    return [spread(d, gy, reduced_axes(d)), None]
