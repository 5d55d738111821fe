"""Gradients of the pooling ops.

Max pooling sends each output's gradient to the input entry its window picked: MaxPool's
``Indices`` output names it (the first maximum of the window in onnxruntime, so ties go
where onnxruntime-training's MaxPoolGrad sends them). The forward MaxPool is asked for
its Indices, so the pooling runs once. Where no two windows share an entry (each stride
at least the window's reach, as in 2x2 pooling) MaxUnpool writes the gradients there;
where windows overlap, ScatterElements adds them up. (For non-overlapping 2x2 windows,
64 x 64 channels of 24x24 on onnxruntime 1.32, two threads, these forms lost to the
MaxPool recomputed for its Indices and a ScatterElements: the first maximum by ArgMax
over SpaceToDepth's blocks, its gradient placed by DepthToSpace; a mask of the input equal
to the upsampled maximum, kept to the first by a second MaxPool over position weights;
ScatterND with the flat Indices; a mask of the upsampled Indices equal to each entry's
position.) A graph for onnxruntime-web, whose WebGPU provider has no Indices output, finds
the first maxima by ArgMax over strided slices instead (``GradientForms``).

Average pooling spreads each output's gradient, divided by its window's count, over the
window: a ConvTranspose with a kernel of ones.
"""

from __future__ import annotations

import itertools

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.autodiff.rules.conv import Windows, transpose_to_input, windows
from specc.autodiff.rules.elementwise import greater_than, masked
from specc.graph import Value

Grads = list[Value | None]


@vjp("MaxPool")
def _max_pool(d: Backward, g: Grads) -> Grads:
    """y[n, c, o] = max over the window of x[n, c, o * s + k * dl] (padding excluded)."""
    gy = g[0]
    if gy is None:  # only the integer Indices reached the loss
        return [None]
    x = d.x(0)
    gy = _masked_for_relu(d, x, gy)
    add = not windows_are_disjoint(d)
    if not d.forms.max_pool_indices:
        first = _first_maxima(d, x)
        if first is not None:
            return [_scatter_into(d, x, d.zeros_like(x), first, gy, [0, 0, -1], add)]
    if not d.attr("storage_order", 0):
        # The forward MaxPool gives its Indices too (flat, row-major over the whole input):
        # slower than MaxPool alone, but a second pooling for them costs more (M2's step
        # graph 4 to 10% faster on two threads, 5% less CPU time on one, under load).
        indices = d.declared_y(1, "indices")
    else:
        # Column-major Indices: the same pooling again for row-major ones.
        attrs = {k: v for k, v in d.node.attributes.items() if k != "storage_order"}
        _, indices = d.op("MaxPool", x, outputs=2, **attrs)
    unpooled = None if add else _unpool(d, x, gy, indices)
    if unpooled is not None:
        return [unpooled]
    return [_scatter_into(d, x, d.zeros_like(x), indices, gy, [-1], add)]


def _masked_for_relu(d: Backward, x: Value, gy: Value) -> Value:
    """``gy``, zero where the pooled value is not positive when ``x`` is a Relu's output
    read by this MaxPool alone: each output's gradient goes to the entry its window
    picked, whose Relu value is that output, so this is the Relu's mask applied on the
    pooled side (a quarter of the entries under 2x2 pooling; M2's step graph about 3%
    faster), and the Relu's own rule then passes the gradient on unmasked."""
    index = d.forward
    if index is None or not index.sole_reader_of(x.name, "Relu"):
        return gy
    index.positive_only.add(x.name)
    return masked(d, greater_than(d, d.y(0)), gy)


def _static_windows(d: Backward, x: Value) -> tuple[Windows, list[int], list[int]] | None:
    """The MaxPool's windows over ``x`` and the spatial sizes of ``x`` and of the output,
    or None where one of them is known only at run time."""
    sizes, outs = d.shape(x)[2:], d.shape(d.y(0))[2:]
    if any(n is None for n in (*sizes, *outs)):
        return None
    w = windows(d, x, [int(k) for k in d.attr("kernel_shape")])
    return w, [int(n) for n in sizes if n is not None], [int(o) for o in outs if o is not None]


def _unpool(d: Backward, x: Value, gy: Value, indices: Value) -> Value | None:
    """``gy`` written where MaxPool's ``indices`` say, zeros elsewhere, by MaxUnpool: for
    disjoint windows, where no entry gets two gradients (M2's step ran about 7% faster on
    two threads than with ScatterElements, 3% on one: ``bench/step_graph_ab.py``). None
    where a spatial size is known only at run time.

    The output takes ``x``'s shape; onnxruntime checks it is at least what the kernel,
    strides and pads give, (out - 1) * stride + kernel - pads, which a ceil_mode window
    past the end or a dilated window exceeds, so the end pads are raised by that excess
    (they place nothing: the Indices do).
    """
    static = _static_windows(d, x)
    if static is None:
        return None
    w, sizes, outs = static
    end = [
        hi + max((o - 1) * s + k - lo - hi - n, 0)
        for o, s, k, lo, hi, n in zip(outs, w.strides, w.kernel, w.begin, w.end, sizes, strict=True)
    ]
    attrs = {"kernel_shape": w.kernel, "strides": w.strides, "pads": [*w.begin, *end]}
    return d.op("MaxUnpool", gy, indices, d.shape_of(x), **attrs)


def _first_maxima(d: Backward, x: Value) -> Value | None:
    """For each output of the MaxPool, where in its (n, c) plane of ``x`` the window's first
    maximum is (flat, row-major: MaxPool's Indices less the plane's offset), found without
    MaxPool's Indices output; None where a spatial size is known only at run time.

    Each of the window's K offsets takes one strided Slice of ``x`` (padded with -inf where
    the windows reach past it), so the K slices stacked on a last axis hold every window's
    entries in row-major order; ArgMax picks the first largest, as MaxPool's Indices do,
    and two constant tables turn (output position, offset) into the flat position.
    """
    static = _static_windows(d, x)
    if static is None:
        return None
    w, n_in, n_out = static
    kernel = w.kernel
    m = len(kernel)
    axes = list(range(2, 2 + m))
    # The padded extent the last window reaches (ceil_mode's last one may pass the end).
    after = [
        max((o - 1) * s + r - n - lo, 0)
        for o, s, r, n, lo in zip(n_out, w.strides, w.reach, n_in, w.begin, strict=True)
    ]
    padded = x
    if any(w.begin) or any(after):
        pads = d.ints([0, 0, *w.begin, 0, 0, *after], "pads")
        padded = d.op("Pad", x, pads, d.b.constant(-np.inf, np.float32, hint="lowest"))
    offsets = list(itertools.product(*(range(k) for k in kernel)))
    slices = []
    for offset in offsets:
        starts = [k * dl for k, dl in zip(offset, w.dilations, strict=True)]
        ends = [a + (o - 1) * s + 1 for a, o, s in zip(starts, n_out, w.strides, strict=True)]
        piece = d.op(
            "Slice", padded, d.ints(starts), d.ints(ends), d.ints(axes, "axes"), d.ints(w.strides)
        )
        slices.append(d.op("Unsqueeze", piece, d.ints([-1], "axes")))
    stacked = slices[0] if len(slices) == 1 else d.op("Concat", *slices, axis=-1)
    first = d.op("ArgMax", stacked, axis=-1, keepdims=0)
    # Row-major strides of the (unpadded) plane.
    plane = [int(np.prod(n_in[i + 1 :])) for i in range(m)]
    table = [
        sum(k * dl * p for k, dl, p in zip(offset, w.dilations, plane, strict=True))
        for offset in offsets
    ]
    grid = np.meshgrid(*(np.arange(o) for o in n_out), indexing="ij")
    base = sum(
        (g * s - lo) * p for g, s, lo, p in zip(grid, w.strides, w.begin, plane, strict=True)
    )
    found = d.op(
        "Add",
        d.op("Gather", d.ints(table, "offsets"), first),
        d.b.constant(np.asarray(base, np.int64), np.int64, hint="starts"),
    )
    if not any(w.begin) and not any(after):
        return found
    # A window whose real entries are all -inf may pick a padding entry: keep it inside.
    last = d.b.constant(int(np.prod(n_in)) - 1, np.int64, hint="last")
    return d.op("Clip", found, d.b.constant(0, np.int64, hint="first"), last)


def windows_are_disjoint(d: Backward) -> bool:
    """Whether no two windows of the pooling node share an input entry (each stride at
    least the window's reach), so that no entry receives more than one gradient."""
    kernel = list(d.attr("kernel_shape"))
    strides = d.attr("strides", [1] * len(kernel))
    dilations = d.attr("dilations", [1] * len(kernel))
    return all(s >= (k - 1) * dl + 1 for k, s, dl in zip(kernel, strides, dilations, strict=True))


def _scatter_into(
    d: Backward,
    x: Value,
    zeros: Value,
    indices: Value,
    updates: Value,
    rows: list[int],
    add: bool = False,
) -> Value:
    """``updates`` written at ``indices`` along the last axis of ``zeros``, all three
    reshaped to ``rows`` (+ -1), and the result shaped like ``x``. ``add`` sums updates
    that meet at one entry; without it each entry must receive at most one (a plain
    write ran 3.5 -> 3.1 ms for 64 x 64 channels of 24x24 under 2x2 pooling, one thread)."""
    shape = d.ints([*rows[:-1], -1], "shape")
    spread = d.op(
        "ScatterElements",
        d.op("Reshape", zeros, shape),
        d.op("Reshape", indices, shape),
        d.op("Reshape", updates, shape),
        axis=len(rows) - 1,
        **({"reduction": "add"} if add else {}),
    )
    return d.op("Reshape", spread, d.shape_of(x))


@vjp("GlobalMaxPool")
def _global_max_pool(d: Backward, g: Grads) -> Grads:
    """y[n, c] = max over every spatial position of x[n, c]; ties go to the first one."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    rows = d.op("Reshape", x, d.ints([0, 0, -1], "shape"))
    first = d.op("ArgMax", rows, axis=2, keepdims=1)
    return [_scatter_into(d, x, d.zeros_like(rows), first, gy, [0, 0, -1])]


@vjp("GlobalAveragePool")
def _global_average_pool(d: Backward, g: Grads) -> Grads:
    """y[n, c] = mean over every spatial position of x[n, c]."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    sizes = d.shape(x)[2:]
    if all(n is not None for n in sizes):
        share = d.const(1.0 / float(np.prod(sizes)))
    else:
        # size(y) / size(x) = 1 / (the number of spatial positions).
        share = d.op("Div", d.cast_float(d.op("Size", gy)), d.cast_float(d.op("Size", x)))
    return [d.op("Mul", d.op("Expand", gy, d.shape_of(x)), share)]


def _window_counts(w: Windows, sizes: list[int], outs: list[int]) -> np.ndarray:
    """(1, 1, *out): how many input entries each window covers (padding excluded)."""
    counts = np.ones((1, 1))
    axes = zip(sizes, outs, w.kernel, w.strides, w.dilations, w.begin, strict=True)
    for n, o, k, s, dl, lo in axes:
        taps = np.arange(o)[:, None] * s + np.arange(k)[None, :] * dl - lo
        counts = np.multiply.outer(counts, ((taps >= 0) & (taps < n)).sum(axis=1))
    return counts.astype(np.float32)


@vjp("AveragePool")
def _average_pool(d: Backward, g: Grads) -> Grads:
    """y[n, c, o] = the mean of x[n, c, o * s + k * dl] over the window (count_include_pad:
    padding counted in the mean)."""
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    w = windows(d, x, list(d.attr("kernel_shape")))
    sizes, outs = d.shape(x)[2:], d.shape(d.y(0))[2:]
    static = all(n is not None for n in (*sizes, *outs))
    if d.attr("count_include_pad", 0) and d.attr("ceil_mode", 0):
        # A ceil_mode window past the padded end: onnxruntime 1.19 divides it by the
        # kernel's size, later releases by the part of it inside the padded input, so no
        # one gradient is right everywhere (specc emits no AveragePool at all).
        raise NotImplementedError(
            f"AveragePool '{d.node.name}': ceil_mode with count_include_pad averages the "
            "last windows differently across onnxruntime releases: no gradient for it"
        )
    if d.attr("count_include_pad", 0) or (not any(w.pads) and not d.attr("ceil_mode", 0)):
        # Padding counted: every window is divided by the kernel's size.
        counts = d.const(float(np.prod(w.kernel)))
    elif static:
        found = _window_counts(w, sizes, outs)  # type: ignore[arg-type]
        counts = d.b.constant(found, np.float32, hint="counts")
    else:
        raise NotImplementedError(
            f"AveragePool '{d.node.name}': the gradient of windows that exclude the padding "
            f"(or run past the end under ceil_mode) needs static spatial sizes; got "
            f"{d.shape(x)} -> {d.shape(d.y(0))}"
        )
    if d.attr("ceil_mode", 0) and not static:
        raise NotImplementedError(
            f"AveragePool '{d.node.name}': the gradient under ceil_mode needs static spatial "
            f"sizes; got {d.shape(x)} -> {d.shape(d.y(0))}"
        )
    # One channel per (sample, channel) pair, so one kernel of ones serves them all.
    keep = [0] * len(w.kernel)
    per_channel = d.op("Reshape", d.op("Div", gy, counts), d.ints([-1, 1, *keep], "shape"))
    ones = d.b.constant(np.ones((1, 1, *w.kernel), np.float32), np.float32, hint="window")
    gx = transpose_to_input(d, per_channel, ones, w, 1, x)
    return [d.op("Reshape", gx, d.shape_of(x))]
