"""Graph-building helpers shared by the recurrent layers and the wrappers.

Every op here has a gradient in onnxruntime-training 1.19.2 where one is needed, and
avoids the engine's traps (``docs/engine-notes.md#negative-slice``,
``#concat-shared-constant``): time reversal by Gather, not a negative-step
Slice; zero padding by Pad, not Concat with a constant.
"""

from __future__ import annotations

from specc.graph import GraphBuilder, Value
from specc.layers.base import LowerContext, inference_only, keep_mask
from specc.lazy_numpy import np
from specc.random_ops import uniform_at
from specc.types import INT64


def ints(values: list[int]) -> np.ndarray:
    """An int64 array for shape-like constants."""
    return np.asarray(values, np.int64)


def unsqueeze(b: GraphBuilder, value: Value, axis: int) -> Value:
    """``value`` with a new size-1 axis at ``axis``."""
    return b.op("Unsqueeze", value, b.constant(ints([axis]), np.int64, hint="axes"))


def gate(b: GraphBuilder, value: Value, g: int, units: int, axis: int = -1) -> Value:
    """Columns ``g*units .. (g+1)*units`` of ``value`` along ``axis`` (Slice has a gradient)."""
    return b.op(
        "Slice",
        value,
        b.constant([g * units], np.int64, hint="starts"),
        b.constant([(g + 1) * units], np.int64, hint="ends"),
        b.constant([axis], np.int64, hint="axes"),
    )


def pad(b: GraphBuilder, value: Value, pads: list[int]) -> Value:
    """``value`` with zeros around it (ONNX ``pads`` order: all begins, then all ends).

    Used instead of Concat with a zero constant: the engine's Concat gradient names a
    gradient after each input, so one constant in two Concats (Bidirectional's two
    layers) defines ``<constant>_grad`` twice and the training graph is invalid.
    """
    return b.op("Pad", value, b.constant(ints(pads), np.int64, hint="pads"))


def batch_shape(b: GraphBuilder, x: Value, *trailing: int) -> Value:
    """The dynamic shape (batch, *trailing) for a tensor whose batch is x's."""
    batch = b.op("Shape", x, start=0, end=1)
    return b.op("Concat", batch, b.constant(ints(list(trailing)), np.int64, hint="dims"), axis=0)


def zero_state(b: GraphBuilder, x: Value, units: int) -> Value:
    """Zeros of shape (batch, units), batch taken from ``x``: every recurrence's start."""
    return b.op("Expand", b.constant(0.0, np.float32, hint="zero"), batch_shape(b, x, units))


def batch_fill(b: GraphBuilder, x: Value, value: float, size: int) -> Value:
    """A (batch, size) tensor of ``value``, batch taken from the 3D ``x``, with a shape
    that shape inference follows.

    Unlike ``zero_state``'s Expand to a computed shape, which leaves both dimensions
    unknown: every op downstream of it in an unrolled recurrence then has unknown shapes,
    and onnxruntime's session creation grows quadratically with the steps (27 s for a
    512-step LSTM instead of 0.3 s). Where(per-sample condition, fill, fill) is exactly
    ``value`` whatever ``x`` holds (NaN and inf included), and the condition (IsNaN) stops
    gradients, so nothing here is differentiated.
    """
    total = b.op("ReduceSum", x, b.constant(ints([1, 2]), np.int64, hint="axes"), keepdims=0)
    condition = unsqueeze(b, b.op("IsNaN", total), 1)
    fill = b.constant(np.full((1, size), value), np.float32, hint="fill")
    return b.op("Where", condition, fill, fill)


def reverse_time(b: GraphBuilder, x: Value, steps: int | None, axis: int) -> Value:
    """``x`` with its time axis reversed by Gather (Slice with step -1 has no gradient)."""
    if steps is not None:
        indices = b.constant(np.arange(steps - 1, -1, -1), np.int64, hint="reversed")
    else:
        length = b.op("Gather", b.op("Shape", x), b.constant(axis, np.int64, hint="axis"))
        one = b.constant(1, np.int64, hint="one")
        # (T-1) - Range(0, T), not Range(T-1, -1, -1): onnxruntime 1.19's extended
        # optimizer rewrites Gather(Range) into a Slice whose end -1 wraps to T-1, an
        # empty sequence (GRU then aborts the process; LSTM returns its initial state).
        ascending = b.op("Range", b.constant(0, np.int64, hint="zero_index"), length, one)
        indices = b.op("Sub", b.op("Sub", length, one), ascending)
    return b.op("Gather", x, indices, axis=axis)


def dropout_masks(
    ctx: LowerContext, x: Value, size: int, rate: float, count: int, seed: int | None
) -> list[Value]:
    """``count`` dropout masks of shape (batch, size), batch taken from ``x``: 0 or
    1/(1-rate) in training, exactly ones when not (see ``dropout_mask``). Mask k of a
    seeded layer draws from stream seed + k, so the masks differ.

    The masks draw at element indices built from ``batch_fill``'s ones, in a shape
    onnxruntime follows (see ``batch_fill``); all of them share the indices.
    """
    b = ctx.builder
    ones = batch_fill(b, x, 1.0, size)
    if not ctx.for_training:  # an inference model draws nothing
        return [ones] * count
    if np.float32(rate) == 1:
        return [b.op("Mul", ones, inference_only(ctx))] * count
    index = _grid_index(b, ones, size)
    masks = []
    for k in range(count):
        mask_seed = None if seed is None else (seed + k) % 2**32
        u = uniform_at(b, index, ctx.random_step, ctx.op_stream(mask_seed))
        masks.append(keep_mask(ctx, u, rate))
    return masks


def _grid_index(b: GraphBuilder, ones: Value, size: int) -> Value:
    """Row-major element indices of the (batch, size) ``ones``: row * size + column, from
    running sums, which keep the shape known."""
    counts = b.op("Cast", ones, to=INT64)
    zero, one = (b.constant(v, np.int64, hint=h) for v, h in ((0, "zero"), (1, "one")))
    rows = b.op("Sub", b.op("CumSum", counts, zero), counts)  # 0, 1, ... down each column
    columns = b.op("Sub", b.op("CumSum", counts, one), counts)  # 0, 1, ... along each row
    return b.op("Add", b.op("Mul", rows, b.constant(size, np.int64, hint="size")), columns)
