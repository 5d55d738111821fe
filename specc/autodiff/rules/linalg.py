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
    """y = a @ b (numpy semantics: batched with broadcasting, rank-1 operands promoted to a
    row of a or a column of b and the added axis dropped from y)."""
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    ra, rb = d.rank(a), d.rank(b)
    if ra == 1 and rb == 1:  # y = sum(a * b), a scalar
        return [
            d.op("Mul", gy, b) if d.wants(0) else None,
            d.op("Mul", gy, a) if d.wants(1) else None,
        ]
    if ra == 1:
        return _vector_matrix(d, gy, a, b)
    if rb == 1:
        return _matrix_vector(d, gy, a, b)
    # Only batch axes broadcast; unbroadcast's reading of the matrix axes against y's can
    # only sum an axis of size 1, a no-op.
    ga = gb = None
    if d.wants(0):
        ga = d.unbroadcast(d.op("MatMul", gy, _swap_last(d, b)), a)
    if d.wants(1):
        gb = d.unbroadcast(d.op("MatMul", _swap_last(d, a), gy), b)
    return [ga, gb]


def _vector_matrix(d: Backward, gy: Value, a: Value, b: Value) -> Grads:
    """y[..., n] = sum_k a[k] b[..., k, n]."""
    ga = gb = None
    if d.wants(0):
        # gy (..., n) times b (..., k, n) over n, then summed over the batch axes.
        rows = d.op("Mul", d.op("Unsqueeze", gy, d.ints([-2], "axes")), b)
        ga = d.sum_axes(rows, [*range(d.rank(b) - 2), d.rank(b) - 1], keepdims=False)
    if d.wants(1):
        # The outer product a (k, 1) * gy (..., 1, n): already b's shape.
        column = d.op("Unsqueeze", a, d.ints([1], "axes"))
        gb = d.op("Mul", column, d.op("Unsqueeze", gy, d.ints([-2], "axes")))
    return [ga, gb]


def _matrix_vector(d: Backward, gy: Value, a: Value, b: Value) -> Grads:
    """y[..., m] = sum_k a[..., m, k] b[k]."""
    ga = gb = None
    column = d.op("Unsqueeze", gy, d.ints([-1], "axes"))  # (..., m, 1)
    if d.wants(0):
        ga = d.op("Mul", column, b)  # the outer product: already a's shape
    if d.wants(1):
        gb = d.sum_axes(d.op("Mul", column, a), list(range(d.rank(a) - 1)), keepdims=False)
    return [ga, gb]


@vjp("Gemm")
def _gemm(d: Backward, g: Grads) -> Grads:
    """y = alpha * op(a) @ op(b) + beta * c, op transposing where transA / transB say; c
    broadcasts to (M, N)."""
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    alpha, beta = float(d.attr("alpha", 1.0)), float(d.attr("beta", 1.0))
    trans_a, trans_b = int(d.attr("transA", 0)), int(d.attr("transB", 0))
    ga = gb = gc = None
    # d op(a) = alpha * gy @ op(b)^T and d op(b) = alpha * op(a)^T @ gy; a transposed
    # operand takes the transpose of its gradient, which swaps the Gemm's factors.
    if d.wants(0):
        if trans_a:
            ga = d.op("Gemm", b, gy, alpha=alpha, transA=trans_b, transB=1)
        else:
            ga = d.op("Gemm", gy, b, alpha=alpha, transB=1 - trans_b)
    if d.wants(1):
        if trans_b:
            gb = d.op("Gemm", gy, a, alpha=alpha, transA=1, transB=trans_a)
        else:
            gb = d.op("Gemm", a, gy, alpha=alpha, transA=1 - trans_a)
    if d.has_input(2) and d.wants(2):
        gc = d.unbroadcast(gy, d.x(2))
        if beta != 1.0:
            gc = d.op("Mul", gc, d.const(beta))
    return [ga, gb, gc]
