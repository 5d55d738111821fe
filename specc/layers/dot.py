"""Dot: a per-sample dot product of two tensors along one axis of each (Keras's batch_dot).

The engine has no Einsum gradient (``docs/engine-notes.md#no-gradient-builder``), so the
contraction is lowered to Transpose, Unsqueeze and one broadcasting MatMul (or Mul +
ReduceSum for two vectors).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from specc.graph import GraphBuilder, Value
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError, expect_float, float_input
from specc.layers.merge import count_inputs
from specc.lazy_numpy import np
from specc.types import Dim, TensorType

# Keras's ``normalize`` divides by max(||x||, epsilon) with backend.epsilon() = 1e-7.
NORM_EPSILON = 1e-7


@LAYERS.register
class Dot(Layer):
    """Dot: y[b] = tensordot(x1[b], x2[b], axes); (b, *r1, k) . (b, *r2, k) -> (b, *r1, *r2).

    ``axes`` counts the batch axis (so it is never 0); one int serves both inputs. With
    ``normalize`` each input is first divided by its L2 norm along its axis (cosine
    similarity). A result of shape (batch,) is returned as (batch, 1), as in Keras.
    """

    type: Literal["Dot"]
    axes: int | list[int]
    normalize: bool = False
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    @field_validator("axes")
    @classmethod
    def _two_axes(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, list) and len(value) != 2:
            raise ValueError(f"axes must be an integer or a list of two integers; got axes={value}")
        return value

    def _axes(self, inputs: list[TensorType]) -> tuple[int, int]:
        """The axes as non-negative indices into each input's shape, batch axis included."""
        given = [self.axes, self.axes] if isinstance(self.axes, int) else self.axes
        axes = []
        for axis, t in zip(given, inputs, strict=True):
            index = axis + t.rank if axis < 0 else axis
            if not 1 <= index < t.rank:
                raise ShapeError(
                    f"Dot axes must name non-batch axes of the inputs (1..{t.rank - 1} or "
                    f"-{t.rank - 1}..-1 for {t}); got axes={self.axes}",
                    field="axes",
                )
            axes.append(index)
        return axes[0], axes[1]

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        count_inputs(self, inputs)
        x, y = inputs
        expect_float("Dot", x)
        expect_float("Dot", y)
        if x.rank < 2 or y.rank < 2:
            raise ShapeError(f"Dot needs inputs of rank >= 2; got {x} and {y}")
        ax, ay = self._axes(inputs)
        dx, dy = x.full_shape[ax], y.full_shape[ay]
        if dx is not None and dy is not None and dx != dy:
            raise ShapeError(
                f"Dot needs equal sizes on the contracted axes; got {dx} (axis {ax} of {x}) "
                f"and {dy} (axis {ay} of {y})"
            )
        shape: list[Dim] = [d for i, d in enumerate(x.shape, 1) if i != ax]
        shape += [d for i, d in enumerate(y.shape, 1) if i != ay]
        return [TensorType("float32", tuple(shape) or (1,))]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x_type, y_type = input_types
        ax, ay = self._axes(input_types)
        x = float_input(ctx, inputs[0], x_type)
        y = float_input(ctx, inputs[1], y_type)
        if self.normalize:
            x, y = _l2_normalize(b, x, ax), _l2_normalize(b, y, ay)
        x_rest = [i for i in range(1, x_type.rank) if i != ax]
        y_rest = [i for i in range(1, y_type.rank) if i != ay]
        if not x_rest and not y_rest:
            # Two (batch, k) vectors: a row-wise product summed, kept as (batch, 1).
            axes = b.constant([1], np.int64, hint="axes")
            return [b.op("ReduceSum", b.op("Mul", x, y), axes, keepdims=1)]
        return [_batched_contraction(b, x, y, x_rest, ax, y_rest, ay)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x, y = (np.asarray(v, np.float64) for v in inputs)
        ax, ay = self._axes([TensorType("float32", v.shape[1:]) for v in (x, y)])
        if self.normalize:
            x, y = _np_normalize(x, ax), _np_normalize(y, ay)
        out = np.stack(
            [np.tensordot(xb, yb, axes=(ax - 1, ay - 1)) for xb, yb in zip(x, y, strict=True)]
        )
        return [out.reshape(len(x), 1) if out.ndim == 1 else out]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"axes": 1}, [TensorType("float32", (5,)), TensorType("float32", (5,))]),
            (
                {"axes": -1, "normalize": True},
                [TensorType("float32", (3,)), TensorType("float32", (3,))],
            ),
            ({"axes": [1, 2]}, [TensorType("float32", (3, 4)), TensorType("float32", (2, 3))]),
            ({"axes": [2, 1]}, [TensorType("float32", (2, 3)), TensorType("float16", (3, 5))]),
            (
                {"axes": [2, 2], "normalize": True},
                [TensorType("float32", (None, 4)), TensorType("float32", (3, 4))],
            ),
            ({"axes": [1, 2]}, [TensorType("float32", (3,)), TensorType("float32", (4, 3, 2))]),
        ]


def _l2_normalize(b: GraphBuilder, x: Value, axis: int) -> Value:
    """x / max(||x||, eps) along ``axis``, written as x / sqrt(max(sum(x^2), eps^2)).

    The two are equal, but in this form the gradient of an all-zero slice is finite: Max
    sends it to the constant, and Sqrt never sees 0.
    """
    squares = b.op("ReduceSum", b.op("Mul", x, x), b.constant([axis], np.int64, hint="axes"))
    floor = b.constant(NORM_EPSILON**2, hint="eps_squared")
    return b.op("Div", x, b.op("Sqrt", b.op("Max", squares, floor)))


def _batched_contraction(
    b: GraphBuilder,
    x: Value,
    y: Value,
    x_rest: list[int],
    ax: int,
    y_rest: list[int],
    ay: int,
) -> Value:
    """Per-sample tensordot via one MatMul that broadcasts over the remaining axes.

    x becomes (b, X1..X[p-1], 1 x (q-1), Xp, k) and y becomes (b, 1 x (p-1), Y1..Y[q-1], k,
    Yq), so MatMul yields (b, X1..X[p-1], Y1..Y[q-1], Xp, Yq), and a Transpose puts Xp back
    before the Y axes. No Reshape is needed, so every non-contracted size may be unknown.
    """
    p, q = max(len(x_rest), 1), max(len(y_rest), 1)
    x = _transpose(b, x, [0, *x_rest, ax])
    if not x_rest:
        x = _unsqueeze(b, x, [1])  # (b, k) -> (b, 1, k): a single row
    # y as (b, Y1..Y[q-1], k, Yq), or (b, k) -> (b, k, 1): a single column.
    y = _transpose(b, y, [0, *y_rest[:-1], ay, y_rest[-1]]) if y_rest else _unsqueeze(b, y, [2])
    x = _unsqueeze(b, x, [p + j for j in range(q - 1)])
    y = _unsqueeze(b, y, list(range(1, p)))
    out = b.op("MatMul", x, y)
    out = _transpose(b, out, [0, *range(1, p), p + q - 1, *range(p, p + q - 1), p + q])
    if not x_rest:
        return b.op("Squeeze", out, b.constant([1], np.int64, hint="axes"))
    if not y_rest:
        return b.op("Squeeze", out, b.constant([-1], np.int64, hint="axes"))
    return out


def _transpose(b: GraphBuilder, x: Value, perm: list[int]) -> Value:
    return x if perm == sorted(perm) else b.op("Transpose", x, perm=perm)


def _unsqueeze(b: GraphBuilder, x: Value, axes: list[int]) -> Value:
    return b.op("Unsqueeze", x, b.constant(axes, np.int64, hint="axes")) if axes else x


def _np_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """Keras 3's ``ops.normalize`` (order 2): x * min(1 / sqrt(sum(x^2)), 1 / epsilon)."""
    with np.errstate(divide="ignore"):
        inv_norm = 1.0 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x * np.minimum(inv_norm, 1.0 / NORM_EPSILON)
