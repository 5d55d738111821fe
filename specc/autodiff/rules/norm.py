"""Gradients of the normalization ops.

With x_hat = (x - mean) * inv_std over the normalized axes (n entries) and g = dy * scale,
dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)): the normalization's Jacobian
removes from g its mean and its component along x_hat. The statistics come from the
forward node's Mean and InvStdDev outputs where it declares them, else from one
LayerNormalization run again for them.

BatchNormalization and GroupNormalization have no rule: specc's lowerings write them out
in elementwise ops and reductions, so neither op reaches a training graph.
"""

from __future__ import annotations

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.graph import Value

Grads = list[Value | None]


def _statistics(d: Backward, x: Value, axis: int) -> tuple[Value, Value]:
    """(mean, inv_std) of ``x`` over the axes from ``axis`` on, kept as size-1 axes."""
    outputs = d.node.outputs
    if d.node.op_type == "LayerNormalization" and len(outputs) >= 3 and all(outputs[1:3]):
        return d.y(1), d.y(2)
    ones = d.op("Expand", d.const(1.0), d.op("Shape", x, start=axis))
    epsilon = float(d.attr("epsilon", 1e-5))
    _, mean, inv_std = d.op("LayerNormalization", x, ones, axis=axis, epsilon=epsilon, outputs=3)
    return mean, inv_std


def _share(d: Backward, x: Value, mean: Value, axes: list[int]) -> Value:
    """1 / n, n the number of entries each statistic is taken over."""
    sizes = [d.shape(x)[a] for a in axes]
    if all(n is not None for n in sizes):
        return d.const(1.0 / float(np.prod(sizes)))
    return d.op("Div", d.cast_float(d.op("Size", mean)), d.cast_float(d.op("Size", x)))


def normalized_backward(
    d: Backward,
    x: Value,
    axis: int,
    g: Value | None,
    g_mean: Value | None = None,
    g_inv_std: Value | None = None,
) -> tuple[Value | None, Value, Value]:
    """(dx, x_hat, mean) for x_hat = (x - mean) * inv_std over the axes from ``axis`` on.

    ``g`` is the gradient reaching x_hat; ``g_mean`` and ``g_inv_std`` those reaching the
    statistics themselves (d mean / dx = 1 / n, d inv_std / dx = -inv_std^2 x_hat / n).
    """
    axes = list(range(axis, d.rank(x)))
    mean, inv_std = _statistics(d, x, axis)
    x_hat = d.op("Mul", d.op("Sub", x, mean), inv_std)
    share = _share(d, x, mean, axes)

    def average(v: Value) -> Value:
        return d.op("Mul", d.sum_axes(v, axes, keepdims=True), share)

    terms: list[Value] = []
    if g is not None:
        along = d.op("Mul", x_hat, average(d.op("Mul", g, x_hat)))
        centred = d.op("Sub", d.op("Sub", g, average(g)), along)
        terms.append(d.op("Mul", centred, inv_std))
    if g_mean is not None:
        terms.append(d.op("Mul", g_mean, share))
    if g_inv_std is not None:
        slope = d.op("Mul", d.op("Mul", inv_std, inv_std), d.op("Neg", share))
        terms.append(d.op("Mul", d.op("Mul", g_inv_std, slope), x_hat))
    total = terms[0] if terms else None
    for term in terms[1:]:
        total = d.op("Add", total, term)
    if total is not None and g is None:
        # Terms from the statistics alone are shaped like them: broadcast to x's shape.
        total = d.op("Expand", total, d.shape_of(x))
    return total, x_hat, mean


@vjp("LayerNormalization")
def _layer_normalization(d: Backward, g: Grads) -> Grads:
    """y = x_hat * scale + bias, x_hat normalized over the axes from ``axis`` on."""
    gy, g_mean, g_inv_std = (*g, None, None)[:3]
    x, scale = d.x(0), d.x(1)
    axis = int(d.attr("axis", -1)) % d.rank(x)
    g_hat = None if gy is None else d.op("Mul", gy, scale)
    gx, x_hat, _ = normalized_backward(d, x, axis, g_hat if d.wants(0) else None, g_mean, g_inv_std)
    gs = gb = None
    if gy is not None and d.wants(1):
        gs = d.unbroadcast(d.op("Mul", gy, x_hat), scale)
    if gy is not None and d.wants(2):
        gb = d.unbroadcast(gy, d.x(2))
    return [gx if d.wants(0) else None, gs, gb]


@vjp("InstanceNormalization")
def _instance_normalization(d: Backward, g: Grads) -> Grads:
    """y[n, c] = x_hat[n, c] * scale[c] + bias[c], x_hat over each (n, c)'s spatial axes."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    rank = d.rank(x)
    # scale and bias (C,) as (C, 1, ...) against (N, C, *spatial).
    per_channel = d.ints([-1, *[1] * (rank - 2)], "shape")
    scale = d.op("Reshape", d.x(1), per_channel)
    g_hat = d.op("Mul", gy, scale) if d.wants(0) else None
    gx, x_hat, _ = normalized_backward(d, x, 2, g_hat)
    reduced = [0, *range(2, rank)]
    gs = d.sum_axes(d.op("Mul", gy, x_hat), reduced, keepdims=False) if d.wants(1) else None
    gb = d.sum_axes(gy, reduced, keepdims=False) if d.wants(2) else None
    return [gx, gs, gb]
