"""Gradients of the ops that move elements without changing them: reshapes, transposes,
joins and splits, broadcasts, tiling and padding.

Each sends every element of the output gradient back to the input element it came from,
summing where one input element fed several outputs (Expand, Tile). Shapes, axes, sizes
and pads are integer inputs and take no gradient.
"""

from __future__ import annotations

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.graph import Value, normalize_axis

Grads = list[Value | None]


def unsupported(d: Backward, what: str) -> NotImplementedError:
    """The error for an attribute combination a rule cannot differentiate."""
    node = d.node
    return NotImplementedError(f"no gradient for {node.op_type} '{node.name}' with {what}")


def constant_input(d: Backward, index: int) -> np.ndarray | None:
    """The value of input ``index`` when the graph holds it as a constant, else None."""
    if not d.has_input(index):
        return None
    array = d.b.graph.initializers.get(d.node.inputs[index])
    return None if array is None else np.asarray(array)


def text_attr(d: Backward, name: str, default: str) -> str:
    """A string attribute (stored as str or as the bytes ONNX carries)."""
    value = d.attr(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def shape_value(d: Backward, x: Value) -> Value:
    """The shape of forward value ``x`` as an int64 vector: a constant when every
    dimension is known (and none is 0, which Reshape would read as "copy"), else Shape."""
    dims = d.shape(x)
    if all(dim is not None and dim > 0 for dim in dims):
        return d.ints([int(dim) for dim in dims], "shape")  # type: ignore[arg-type]
    return d.shape_of(x)


def no_grads(d: Backward, first: Value | None) -> Grads:
    """``first`` for the data input, None for the integer inputs after it."""
    return [first, *[None] * (len(d.node.inputs) - 1)]


@vjp("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(d: Backward, g: Grads) -> Grads:
    """The same elements in another shape: the gradient takes the input's shape back."""
    (gy,) = g
    assert gy is not None
    return no_grads(d, d.op("Reshape", gy, shape_value(d, d.x(0))))


@vjp("Transpose")
def _transpose(d: Backward, g: Grads) -> Grads:
    """y = transpose(x, perm) (default: the axes reversed); dx = transpose(dy, perm^-1)."""
    (gy,) = g
    assert gy is not None
    rank = d.rank(d.x(0))
    perm = list(d.attr("perm", None) or range(rank - 1, -1, -1))
    return [d.op("Transpose", gy, perm=[int(a) for a in np.argsort(perm)])]


def _sizes_along(d: Backward, values: list[Value], axis: int) -> Value:
    """The lengths of ``values`` along ``axis`` as an int64 vector (constant when known)."""
    dims = [d.shape(v)[axis] for v in values]
    if all(dim is not None for dim in dims):
        return d.ints([int(dim) for dim in dims], "split")  # type: ignore[arg-type]
    pieces = [
        d.ints([dim], "size") if dim is not None else d.op("Shape", v, start=axis, end=axis + 1)
        for v, dim in zip(values, dims, strict=True)
    ]
    return d.op("Concat", *pieces, axis=0)


@vjp("Concat")
def _concat(d: Backward, g: Grads) -> Grads:
    """Each input's gradient is its own stretch of dy along the axis, cut with Split by the
    inputs' lengths (read at run time where the static shape does not know them)."""
    (gy,) = g
    assert gy is not None
    inputs = d.inputs
    if len(inputs) == 1:
        return [gy]
    axis = normalize_axis(d.attr("axis"), d.rank(inputs[0]))
    pieces = d.op("Split", gy, _sizes_along(d, inputs, axis), axis=axis, outputs=len(inputs))
    return [piece if d.wants(i) else None for i, piece in enumerate(pieces)]


@vjp("Split")
def _split(d: Backward, g: Grads) -> Grads:
    """The pieces' gradients joined back along the axis; a piece no gradient reached
    contributes zeros of its shape."""
    axis = normalize_axis(d.attr("axis", 0), d.rank(d.x(0)))
    pieces = [gk if gk is not None else d.zeros_like(d.y(k)) for k, gk in enumerate(g)]
    joined = pieces[0] if len(pieces) == 1 else d.op("Concat", *pieces, axis=axis)
    return no_grads(d, joined)


@vjp("Expand")
def _expand(d: Backward, g: Grads) -> Grads:
    """Broadcasting: dy summed over the axes the input was broadcast along."""
    (gy,) = g
    assert gy is not None
    return [d.unbroadcast(gy, d.x(0)), None]


@vjp("Tile")
def _tile(d: Backward, g: Grads) -> Grads:
    """y = tile(x, repeats): dy viewed as (r0, d0, r1, d1, ...) and summed over the r's."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    rank = d.rank(x)
    repeats, dims = constant_input(d, 1), d.shape(x)
    if repeats is not None and all(dim is not None for dim in dims):
        pairs = [int(v) for r, n in zip(repeats.reshape(-1), dims, strict=True) for v in (r, n)]
        view = d.ints(pairs, "shape")
    else:
        # Interleave repeats and dims at run time: stack them as (rank, 2) and flatten.
        column = d.ints([1], "axes")
        counts = d.op("Unsqueeze", d.cast_int64(d.x(1)), column)
        sizes = d.op("Unsqueeze", d.shape_of(x), column)
        view = d.op("Reshape", d.op("Concat", counts, sizes, axis=1), d.ints([-1], "shape"))
    grouped = d.op("Reshape", gy, view)
    return [d.sum_axes(grouped, list(range(0, 2 * rank, 2)), keepdims=False), None]


@vjp("Pad")
def _pad(d: Backward, g: Grads) -> Grads:
    """Constant padding: dx is dy with the same pads taken off again, which is Pad with
    the pads negated (a negative pad removes elements; padding that cropped gets zeros
    back). d constant_value = sum(dy) - sum(dx), the gradient of the padded cells."""
    (gy,) = g
    assert gy is not None
    mode = text_attr(d, "mode", "constant")
    if mode != "constant":
        raise unsupported(d, f"mode='{mode}' (only mode='constant' is differentiated)")
    pads = constant_input(d, 1)
    negated = d.ints(-pads.reshape(-1), "pads") if pads is not None else d.op("Neg", d.x(1))
    # The axes input (opset 18 on) picks the axes the pads are for; the same ones here.
    axes = [None, d.x(3)] if d.has_input(3) else []
    gx = d.op("Pad", gy, negated, *axes, mode="constant")
    fill = None
    if d.wants(2):
        outside = d.op("Sub", d.op("ReduceSum", gy, keepdims=0), d.op("ReduceSum", gx, keepdims=0))
        fill = d.op("Reshape", outside, d.shape_of(d.x(2)))
    return [gx if d.wants(0) else None, None, fill, None][: len(d.node.inputs)]


@vjp("DepthToSpace", "SpaceToDepth")
def _depth_space(d: Backward, g: Grads) -> Grads:
    """SpaceToDepth and DepthToSpace in DCR mode undo each other, so each one's gradient
    is the other (CRD mode orders the channels differently and has no such inverse op)."""
    (gy,) = g
    assert gy is not None
    blocksize = d.attr("blocksize")
    if d.node.op_type == "SpaceToDepth":
        return [d.op("DepthToSpace", gy, blocksize=blocksize, mode="DCR")]
    mode = text_attr(d, "mode", "DCR")
    if mode != "DCR":
        raise unsupported(d, f"mode='{mode}' (only mode='DCR' is differentiated)")
    return [d.op("SpaceToDepth", gy, blocksize=blocksize)]
