"""Gradients of the linear-algebra ops."""

from __future__ import annotations

from specc.autodiff.core import Backward, vjp
from specc.graph import Value

Grads = list[Value | None]


def _swap_last(d: Backward, x: Value) -> Value:
    rank = d.rank(x)
    perm = [*range(rank - 2), rank - 1, rank - 2]
    return d.op("Transpose", x, perm=perm)


@vjp("MatMul")
def _matmul(d: Backward, g: Grads) -> Grads:
    """y = a @ b (numpy semantics: batched, rank-1 operands promoted)."""
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    ra, rb = d.rank(a), d.rank(b)
    if ra < 2 or rb < 2:
        raise NotImplementedError("MatMul with a rank-1 operand")
    ga = gb = None
    if d.wants(0):
        ga = d.unbroadcast(d.op("MatMul", gy, _swap_last(d, b)), a)
    if d.wants(1):
        gb = d.unbroadcast(d.op("MatMul", _swap_last(d, a), gy), b)
    return [ga, gb]
