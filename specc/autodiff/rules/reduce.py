"""Gradients of the reductions, of Softmax and LogSoftmax, and of CumSum.

A reduction's output gradient is broadcast back over the input (``spread``) and scaled
by the derivative of the reduced value with respect to each input element, written with
the forward output wherever that saves recomputing it. Axes come as an attribute (opsets
before 18) or as a constant input (opset 18 on; ReduceSum from 13). With
``noop_with_empty_axes`` and no axes, ReduceSum, ReduceMean, ReduceMax, ReduceMin and
ReduceProd return their input unchanged, so the gradient passes through; the reductions with
an element-wise part (ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp)
return x unchanged in onnxruntime 1.19 but apply that part (x², |x|, ...) from later
releases, as the ONNX reference does, so their gradient there is refused by name rather
than right on one runtime only (specc emits neither form).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.graph import Value, normalize_axis

Grads = list[Value | None]
# Reductions whose "no-op" over empty axes still applies their element-wise part in some
# onnxruntime releases (see the module docstring).
RUNTIME_DEPENDENT_NOOPS = frozenset(
    {"ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"}
)


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
        if not d.attr("noop_with_empty_axes", 0):
            return list(range(rank))
        if d.node.op_type in RUNTIME_DEPENDENT_NOOPS:
            raise ValueError(
                f"{d.node.op_type} '{d.node.name}' with noop_with_empty_axes and no axes "
                "computes differently across onnxruntime releases: no gradient for it"
            )
        return []
    return sorted(a % rank for a in axes)


def spread(d: Backward, gy: Value, axes: list[int]) -> Value:
    """A reduction's output gradient broadcast back over the input's shape."""
    return d.op("Expand", kept(d, gy, axes), d.shape_of(d.x(0)))


def kept(d: Backward, value: Value, axes: list[int]) -> Value:
    """A reduction's output (or its gradient) with the reduced axes kept as size 1, so
    that it broadcasts against the input."""
    if axes and not d.attr("keepdims", 1):
        return d.op("Unsqueeze", value, d.ints(axes, "axes"))
    return value


def _reduce_like(d: Backward, op_type: str, value: Value) -> Value:
    """``op_type`` over the forward node's axes, keeping them, with the axes given the way
    the forward node gives them (attribute or input), so the graph stays valid at
    whatever opset the forward node is valid at."""
    attributes = {k: v for k, v in d.node.attributes.items() if k != "keepdims"}
    axes = [d.x(1)] if d.has_input(1) else []
    return d.op(op_type, value, *axes, keepdims=1, **attributes)


Factor = Callable[[Backward, list[int]], Value | None]


def _reduction(op_type: str) -> Callable[[Factor], Factor]:
    """Register ``factor(d, axes)``, the derivative of the reduced value by each input
    element, as the rule dx = spread(dy) * factor (dy alone for the no-op case)."""

    def register(factor: Factor) -> Factor:
        @vjp(op_type)
        def rule(d: Backward, g: Grads) -> Grads:
            (gy,) = g
            assert gy is not None
            axes = reduced_axes(d)
            if not axes:
                return [gy, None]
            scale = factor(d, axes)
            spreaded = spread(d, gy, axes)
            return [spreaded if scale is None else d.op("Mul", spreaded, scale), None]

        rule.__doc__ = factor.__doc__
        return factor

    return register


@_reduction("ReduceSum")
def _reduce_sum(d: Backward, axes: list[int]) -> Value | None:
    """y = sum x: every element counts once."""
    return None


@_reduction("ReduceMean")
def _reduce_mean(d: Backward, axes: list[int]) -> Value | None:
    """y = sum x / n: 1/n, n the number of elements reduced into each output."""
    x = d.x(0)
    dims = [d.shape(x)[a] for a in axes]
    if all(dim is not None for dim in dims):
        return d.const(1.0 / float(np.prod(dims)))
    # Size(y) / Size(x) = 1/n (also for keepdims=0: dropping size-1 axes keeps the size).
    size_y, size_x = (d.cast_float(d.op("Size", v)) for v in (d.y(0), x))
    return d.op("Div", size_y, size_x)


@_reduction("ReduceProd")
def _reduce_prod(d: Backward, axes: list[int]) -> Value | None:
    """y = prod x: the product of the other elements, written so a zero input gives no
    NaN: with p the product of the non-zero elements and z the count of zeros, an element
    gets p / x when z = 0, p when it is the only zero, and 0 otherwise."""
    x = d.x(0)
    zero, one = d.const(0.0), d.const(1.0)
    is_zero = d.op("Equal", x, zero)
    nonzero = d.op("Where", is_zero, one, x)
    p = _reduce_like(d, "ReduceProd", nonzero)
    zeros = d.sum_axes(d.cast_float(is_zero), axes, keepdims=True)
    at_zero = d.op("Where", d.op("Equal", zeros, one), p, zero)
    elsewhere = d.op("Where", d.op("Equal", zeros, zero), d.op("Div", p, nonzero), zero)
    return d.op("Where", is_zero, at_zero, elsewhere)


def _extremum(d: Backward, axes: list[int]) -> Value | None:
    """y = max x (or min): the gradient goes to the elements equal to y, split evenly
    among ties, as TensorFlow (Keras's reference backend) does; onnxruntime-training has
    no gradient for these ops."""
    hit = d.cast_float(d.op("Equal", d.x(0), kept(d, d.y(0), axes)))
    return d.op("Div", hit, d.sum_axes(hit, axes, keepdims=True))


_reduction("ReduceMax")(_extremum)
_reduction("ReduceMin")(_extremum)


@_reduction("ReduceSumSquare")
def _reduce_sum_square(d: Backward, axes: list[int]) -> Value | None:
    """y = sum x^2: 2x."""
    return d.op("Mul", d.x(0), d.const(2.0))


@_reduction("ReduceL1")
def _reduce_l1(d: Backward, axes: list[int]) -> Value | None:
    """y = sum |x|: sign(x), 0 at x = 0 (the subgradient TensorFlow's Abs takes)."""
    return d.op("Sign", d.x(0))


@_reduction("ReduceL2")
def _reduce_l2(d: Backward, axes: list[int]) -> Value | None:
    """y = sqrt(sum x^2): x / y, and 0 where y = 0 (all of x is 0 there), as PyTorch's
    norm does, rather than NaN."""
    y = kept(d, d.y(0), axes)
    zero = d.const(0.0)
    safe = d.op("Where", d.op("Equal", y, zero), d.const(1.0), y)
    return d.op("Div", d.x(0), safe)


@_reduction("ReduceLogSum")
def _reduce_log_sum(d: Backward, axes: list[int]) -> Value | None:
    """y = log(sum x): 1 / sum x = exp(-y)."""
    return d.op("Exp", d.op("Neg", kept(d, d.y(0), axes)))


@_reduction("ReduceLogSumExp")
def _reduce_log_sum_exp(d: Backward, axes: list[int]) -> Value | None:
    """y = log(sum exp x): softmax of x over the axes, exp(x - y)."""
    return d.op("Exp", d.op("Sub", d.x(0), kept(d, d.y(0), axes)))


@vjp("Softmax", "LogSoftmax")
def _softmax(d: Backward, g: Grads) -> Grads:
    """Along one axis (opset 13 on), from the output y. Softmax: dx = y * (dy - sum(dy *
    y)); LogSoftmax, y = x - log(sum exp x): dx = dy - exp(y) * sum(dy)."""
    (gy,) = g
    assert gy is not None
    y = d.y(0)
    axis = [normalize_axis(d.attr("axis", -1), d.rank(y))]
    if d.node.op_type == "Softmax":
        inner = d.sum_axes(d.op("Mul", gy, y), axis, keepdims=True)
        return [d.op("Mul", y, d.op("Sub", gy, inner))]
    total = d.sum_axes(gy, axis, keepdims=True)
    return [d.op("Sub", gy, d.op("Mul", d.op("Exp", y), total))]


@vjp("CumSum")
def _cum_sum(d: Backward, g: Grads) -> Grads:
    """A running sum's gradient is the running sum of dy the other way round (with the
    same exclusivity)."""
    (gy,) = g
    assert gy is not None
    reverse = 1 - int(d.attr("reverse", 0))
    exclusive = int(d.attr("exclusive", 0))
    return [d.op("CumSum", gy, d.x(1), exclusive=exclusive, reverse=reverse), None]
