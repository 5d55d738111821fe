"""Gradients of the ops that pick elements by position: Slice, Gather, GatherElements and
TopK's values.

Each scatters the output gradient back into zeros shaped like the input, at the positions
the forward op read. Where one position is read several times (Gather with repeated
indices) the scatter adds (ScatterElements, or ScatterND for whole rows, with
reduction="add", opset 16 on), so the contributions accumulate. Negative indices count
from the end in Gather and in both scatters, so they need no rewriting. A Gather by a
constant reordering of a whole axis is undone by a Gather by the inverse order instead.
"""

from __future__ import annotations

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.autodiff.rules.shape import constant_input, no_grads, unsupported
from specc.graph import Value, normalize_axis

Grads = list[Value | None]


def _along(d: Backward, values: Value, axis: int, rank: int) -> Value:
    """A vector of ``values`` reshaped to lie along ``axis`` of a rank-``rank`` tensor."""
    view = [1] * rank
    view[axis] = -1
    return d.op("Reshape", values, d.ints(view, "shape"))


def _with_dim(d: Backward, x: Value, axis: int, size: int) -> Value:
    """The shape of ``x`` with dimension ``axis`` replaced by ``size`` (int64 vector)."""
    dims = list(d.shape(x))
    dims[axis] = size
    if all(dim is not None for dim in dims):
        return d.ints([int(dim) for dim in dims], "shape")  # type: ignore[arg-type]
    return _run_time_dims(d, x, len(dims), axis, size)


def _run_time_dims(d: Backward, like: Value, rank: int, axis: int, size: int) -> Value:
    """The run-time shape of ``like`` (rank ``rank``) with dimension ``axis`` replaced by
    ``size`` (int64 vector)."""
    pieces = []
    if axis > 0:
        pieces.append(d.op("Shape", like, end=axis))
    pieces.append(d.ints([size], "size"))
    if axis + 1 < rank:
        pieces.append(d.op("Shape", like, start=axis + 1))
    return d.op("Concat", *pieces, axis=0)


def _gathered_zeros(d: Backward, updates: Value, axis: int) -> Value:
    """Zeros shaped like Gather's input, for ``updates`` (the output gradient with the
    index axes flattened into ``axis``) to be added into.

    Without ``GradientForms.foldable_zeros``, when the input's shape is known and the
    indices' is not (an embedding table read by a batch of ids), the shape is read from
    ``updates`` at run time, the index count put back to the input's size. ``zeros_like``
    would take it from the input: onnxruntime folds that Shape to a constant and the
    ConstantOfShape after it into an initializer as large as the input, which it then
    stores in every model it saves optimized (a ``train_step.ort`` grew by the embedding
    table). Made at run time they cost one fill of that size a step (the scatter copies
    its data input into its output either way: 0.40 against 0.27 ms for a 10000 x 64
    table, one thread).
    """
    x, indices = d.x(0), d.x(1)
    size = d.shape(x)[axis]
    if d.forms.foldable_zeros or size is None or None not in d.shape(indices):
        # Nothing to fold (the input's size is known only at run time), or nothing to gain:
        # a fixed count of positions makes the updates' shape as constant as the input's.
        return d.zeros_like(x)
    return d.zeros(_run_time_dims(d, updates, d.rank(x), axis, size))


def _inverse_order(d: Backward, axis: int) -> np.ndarray | None:
    """The inverse of Gather's indices when they are constant and read every position of
    ``axis`` once (a reordering), else None."""
    order, size = constant_input(d, 1), d.shape(d.x(0))[axis]
    if order is None or order.ndim != 1 or size is None or len(order) != size:
        return None
    order = np.where(order < 0, order + size, order)
    if not np.array_equal(np.sort(order), np.arange(size)):
        return None
    return np.argsort(order)


def _scatter_add(d: Backward, zeros: Value, indices: Value, updates: Value, axis: int) -> Value:
    """``zeros`` plus ``updates`` added at ``indices`` along ``axis``."""
    return d.op("ScatterElements", zeros, indices, updates, axis=axis, reduction="add")


@vjp("Gather")
def _gather(d: Backward, g: Grads) -> Grads:
    """y = gather(x, indices, axis): dy viewed with the index axes flattened into one, then
    added into zeros at the gathered positions (repeated indices accumulate)."""
    (gy,) = g
    assert gy is not None
    x, indices = d.x(0), d.x(1)
    rank = d.rank(x)
    axis = normalize_axis(d.attr("axis", 0), rank)
    inverse = _inverse_order(d, axis)
    if inverse is not None:
        # A reordering of the whole axis (the LSTM lowering's gate order): the gradient
        # gathered back moves each value once, with no zeros to fill or to fold.
        return [d.op("Gather", gy, d.ints(inverse.tolist(), "inverse_order"), axis=axis), None]
    updates = d.op("Reshape", gy, _with_dim(d, x, axis, -1))
    if axis == 0:
        # Whole rows (an embedding table's): ScatterND adds each row at once, several
        # times faster than ScatterElements' element-by-element scatter.
        rows = d.op("Reshape", indices, d.ints([-1, 1], "shape"))
        zeros = _gathered_zeros(d, updates, axis)
        return [d.op("ScatterND", zeros, rows, updates, reduction="add"), None]
    flat = d.op("Reshape", indices, d.ints([-1], "shape"))
    positions = d.op("Expand", _along(d, flat, axis, rank), d.shape_of(updates))
    return [_scatter_add(d, _gathered_zeros(d, updates, axis), positions, updates, axis), None]


@vjp("GatherElements")
def _gather_elements(d: Backward, g: Grads) -> Grads:
    """y[i] = x[i with i[axis] = indices[i]]: dy added into zeros at those positions."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    axis = normalize_axis(d.attr("axis", 0), d.rank(x))
    return [_scatter_add(d, d.zeros_like(x), d.x(1), gy, axis), None]


@vjp("TopK")
def _top_k(d: Backward, g: Grads) -> Grads:
    """The values' gradient goes back to the positions TopK returned (distinct, so a plain
    scatter); among tied inputs that is the one TopK picked, as onnxruntime-training's
    TopKGrad does. The indices output takes no gradient."""
    gy = g[0]
    if gy is None:
        return [None, None]
    x = d.x(0)
    axis = normalize_axis(d.attr("axis", -1), d.rank(x))
    gx = d.op("ScatterElements", d.zeros_like(x), d.y(1), gy, axis=axis)
    return [gx, None]


# -- Slice ---------------------------------------------------------------------------------


def _slice_input(d: Backward, index: int, count: int, fill: int) -> tuple[Value, list[int] | None]:
    """Slice input ``index`` as an int64 vector Value, and its values when constant
    (``fill`` repeated ``count`` times when the optional input is absent)."""
    if not d.has_input(index):
        values = [fill] * count
        return d.ints(values, "slice"), values
    array = constant_input(d, index)
    if array is not None:
        values = [int(v) for v in array.reshape(-1)]
        return d.ints(values, "slice"), values
    value = d.x(index)
    if d.type_of(value).dtype != "int64":
        value = d.cast_int64(value)
    return value, None


@vjp("Slice")
def _slice(d: Backward, g: Grads) -> Grads:
    """y = x[starts:ends:steps] along ``axes``: dy put back into zeros at the positions
    read. With every step 1 that is a Pad by the clamped starts and the length left after
    the ends; with other steps, per sliced axis, a scatter at the positions that slicing
    the axis's index range the same way gives (so clamping and negative values are
    exactly Slice's own)."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    rank = d.rank(x)
    (count,) = d.shape(d.x(1))
    if count is None:
        raise unsupported(d, "starts of unknown length")
    if d.has_input(3) and constant_input(d, 3) is None:
        raise unsupported(d, "axes computed at run time")
    given = constant_input(d, 3)
    axes = list(range(count)) if given is None else [normalize_axis(int(a), rank) for a in given]
    starts = _slice_input(d, 1, count, 0)
    ends = _slice_input(d, 2, count, 0)
    steps = _slice_input(d, 4, count, 1)
    if steps[1] is not None and all(step == 1 for step in steps[1]):
        return no_grads(d, _unslice_by_pad(d, gy, axes, starts, ends))
    return no_grads(d, _unslice_by_scatter(d, gy, axes, starts, ends, steps))


Known = tuple[Value, list[int] | None]


def _unslice_by_pad(d: Backward, gy: Value, axes: list[int], starts: Known, ends: Known) -> Value:
    """Step-1 slices: dy padded with zeros back to the input's length on each axis."""
    x = d.x(0)
    rank = d.rank(x)
    dims = [d.shape(x)[a] for a in axes]
    if starts[1] is not None and ends[1] is not None and all(n is not None for n in dims):
        pads = [0] * (2 * rank)
        for a, s, e, n in zip(axes, starts[1], ends[1], dims, strict=True):
            begin, stop, _ = slice(s, e).indices(n)  # Slice clamps as Python does
            pads[a], pads[rank + a] = begin, n - max(stop, begin)
        return d.op("Pad", gy, d.ints(pads, "pads"))
    sizes = d.op("Gather", d.shape_of(x), d.ints(axes, "axes"))
    begin = _clamp(d, starts[0], sizes)
    stop = d.op("Max", _clamp(d, ends[0], sizes), begin)
    # The pads of the sliced axes, placed among zeros for the others.
    where = d.ints([*axes, *(rank + a for a in axes)], "pad_axes")
    found = d.op("Concat", begin, d.op("Sub", sizes, stop), axis=0)
    pads = d.op("ScatterElements", d.ints([0] * (2 * rank), "pads"), where, found)
    return d.op("Pad", gy, pads)


def _clamp(d: Backward, index: Value, sizes: Value) -> Value:
    """Slice's reading of a start or end (step 1): negative counts from the end, then
    clamped to [0, size]. The Min comes first so a huge end cannot overflow the Add."""
    index = d.op("Min", index, sizes)
    zero = d.ints([0], "zero")
    index = d.op("Where", d.op("Less", index, zero), d.op("Add", index, sizes), index)
    return d.op("Max", index, zero)


def _unslice_by_scatter(
    d: Backward, gy: Value, axes: list[int], starts: Known, ends: Known, steps: Known
) -> Value:
    """Any steps: one axis at a time, dy scattered into zeros at the positions slicing the
    axis's index range 0..n-1 with the same start, end and step gives."""
    x = d.x(0)
    rank = d.rank(x)
    full, sliced = d.shape_of(x), d.shape_of(d.y(0))
    restored: set[int] = set()
    g = gy
    for k, a in enumerate(axes):
        n = d.shape(x)[a]
        if n is not None and all(v[1] is not None for v in (starts, ends, steps)):
            picked = np.arange(n)[slice(starts[1][k], ends[1][k], steps[1][k])]  # type: ignore[index]
            positions = d.ints(picked.tolist(), "positions")
        else:
            positions = _positions(d, a, k, starts[0], ends[0], steps[0])
        restored.add(a)
        if len(restored) == rank:
            shape = full
        else:
            mask = [axis in restored for axis in range(rank)]
            shape = d.op("Where", d.b.constant(mask, np.bool_, hint="mask"), full, sliced)
        zeros = d.zeros(shape)
        spread = d.op("Expand", _along(d, positions, a, rank), d.shape_of(g))
        g = d.op("ScatterElements", zeros, spread, g, axis=a)
    return g


def _positions(d: Backward, axis: int, k: int, starts: Value, ends: Value, steps: Value) -> Value:
    """The positions along ``axis`` that the ``k``-th start, end and step select, by
    slicing the axis's index range (known at run time) the same way."""
    scalar = [d.b.constant(v, np.int64, hint="scalar") for v in (axis, 0, 1)]
    size = d.op("Gather", d.shape_of(d.x(0)), scalar[0])
    everything = d.op("Range", scalar[1], size, scalar[2])
    at = (d.ints([k], "at"), d.ints([k + 1], "at"))
    pick = [d.op("Slice", v, *at) for v in (starts, ends, steps)]
    return d.op("Slice", everything, pick[0], pick[1], d.ints([0], "axes"), pick[2])
