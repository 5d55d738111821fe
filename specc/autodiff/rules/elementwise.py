"""Gradients of the elementwise arithmetic ops (broadcasting undone by reduction)."""

from __future__ import annotations

from specc.autodiff.core import Backward, vjp
from specc.graph import Value

Grads = list[Value | None]


@vjp("Identity")
def _identity(d: Backward, g: Grads) -> Grads:
    return [g[0]]


@vjp("Add")
def _add(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    return [
        d.unbroadcast(gy, d.x(0)) if d.wants(0) else None,
        d.unbroadcast(gy, d.x(1)) if d.wants(1) else None,
    ]


@vjp("Sub")
def _sub(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    return [
        d.unbroadcast(gy, d.x(0)) if d.wants(0) else None,
        d.unbroadcast(d.op("Neg", gy), d.x(1)) if d.wants(1) else None,
    ]


@vjp("Mul")
def _mul(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    return [
        d.unbroadcast(d.op("Mul", gy, b), a) if d.wants(0) else None,
        d.unbroadcast(d.op("Mul", gy, a), b) if d.wants(1) else None,
    ]
