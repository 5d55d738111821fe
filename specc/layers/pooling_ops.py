"""Pooling windows as ONNX ops that onnxruntime-training 1.19.2 differentiates correctly.

The engine's pool gradients take the input's shape from the graph's static shape
information, not from the running tensors (orttraining pool_gradient_op.cc):
AveragePoolGrad uses it whole, so a variable batch size gives an empty gradient, and
MaxPoolGrad replaces only the batch size, so variable spatial sizes break it. Hence:

    max, spatial sizes known:   MaxPool with explicit pads (the padding reads as -inf)
    max, a variable size:       the padded input's k1*...*km strided Slices (one per
                                position inside the window), combined by Max
    average:                    a Conv with a ones kernel over (batch * channels, 1,
                                *spatial), divided by the number of real entries in each
                                window (Keras leaves the padding out of the average)

Values are channels-first, (batch, channels, *spatial). 'same' pads follow TensorFlow
(``same_pads``); where they depend on a variable size they are computed at run time and
applied by a constant-mode Pad.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.types import Dim


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of an axis of size n: (before, after)."""
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Windows:
    """The pooling windows over an input's spatial axes."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    sizes: tuple[Dim, ...]
    same: bool

    @property
    def rank(self) -> int:
        """The number of spatial axes."""
        return len(self.kernel)

    def pads(self) -> tuple[list[int], list[int], list[int]]:
        """(before, after, run-time axes): the pads known now, and the spatial axes whose
        pads depend on a variable size (their entries in before/after are 0)."""
        before, after, later = [0] * self.rank, [0] * self.rank, []
        if not self.same:
            return before, after, later
        for i, (n, k, s) in enumerate(zip(self.sizes, self.kernel, self.strides, strict=True)):
            if n is not None:
                before[i], after[i] = same_pads(n, k, s)
            elif s == 1:
                # With stride 1 the total, k - 1, does not depend on n.
                before[i], after[i] = (k - 1) // 2, k - 1 - (k - 1) // 2
            else:
                later.append(i)
        return before, after, later


def _i64(b: GraphBuilder, values: list[int], hint: str) -> Value:
    return b.constant(values, np.int64, hint=hint)


def pad(b: GraphBuilder, x: Value, w: Windows, value: float, include_known: bool) -> Value:
    """``x`` padded with ``value``: the run-time pads, and the known ones if asked."""
    before, after, later = w.pads()
    if not include_known:
        before, after = [0] * w.rank, [0] * w.rank
    if not later and not any(before) and not any(after):
        return x
    begin: list[Value] = [_i64(b, [0], "zero")] * 2
    end: list[Value] = [_i64(b, [0], "zero")] * 2
    for i in range(w.rank):
        if i not in later:
            begin.append(_i64(b, [before[i]], "pad"))
            end.append(_i64(b, [after[i]], "pad"))
            continue
        k, s = w.kernel[i], w.strides[i]
        # out = ceil(n / s); total = max((out - 1) * s + k - n, 0); before = total // 2.
        n = b.op("Shape", x, start=2 + i, end=3 + i)
        out = b.op("Div", b.op("Add", n, _i64(b, [s - 1], "s_1")), _i64(b, [s], "stride"))
        reach = b.op("Add", b.op("Mul", out, _i64(b, [s], "stride")), _i64(b, [k - s], "k_s"))
        total = b.op("Max", b.op("Sub", reach, n), _i64(b, [0], "zero"))
        begin.append(b.op("Div", total, _i64(b, [2], "two")))
        end.append(b.op("Sub", total, begin[-1]))
    pads = b.op("Concat", *begin, *end, axis=0)
    return b.op("Pad", x, pads, b.constant(value, np.float32, hint="pad_value"), mode="constant")


def max_pool(b: GraphBuilder, x: Value, w: Windows) -> Value:
    """The maximum over each window, padding excluded."""
    before, after, _ = w.pads()
    if None not in w.sizes:
        return b.op(
            "MaxPool",
            x,
            kernel_shape=list(w.kernel),
            strides=list(w.strides),
            pads=[*before, *after],
        )
    x = pad(b, x, w, -np.inf, include_known=True)
    # Window position o of output j reads padded entry j * s + o; the last output j is
    # (n_padded - k) // s, so the slice for o runs from o to o + span with span =
    # (out - 1) * s + 1 = n_padded - k - (n_padded - k) % s + 1.
    spans: list[Value] = []
    for i, (n, k, s) in enumerate(zip(w.sizes, w.kernel, w.strides, strict=True)):
        if n is not None:
            span = ((n + before[i] + after[i] - k) // s) * s + 1
            spans.append(_i64(b, [span], "span"))
            continue
        reach = b.op("Sub", b.op("Shape", x, start=2 + i, end=3 + i), _i64(b, [k], "k"))
        span = b.op("Sub", reach, b.op("Mod", reach, _i64(b, [s], "stride")))
        spans.append(b.op("Add", span, _i64(b, [1], "one")))
    span_all = b.op("Concat", *spans, axis=0)
    axes = _i64(b, list(range(2, 2 + w.rank)), "axes")
    steps = _i64(b, list(w.strides), "steps")
    pieces = []
    for offset in itertools.product(*(range(k) for k in w.kernel)):
        starts = _i64(b, list(offset), "starts")
        pieces.append(b.op("Slice", x, starts, b.op("Add", starts, span_all), axes, steps))
    return pieces[0] if len(pieces) == 1 else b.op("Max", *pieces)


def _window_sums(b: GraphBuilder, v: Value, w: Windows, scale: float, pads: list[int]) -> Value:
    """Conv of a (m, 1, *spatial) tensor with a constant kernel of ``scale``s."""
    kernel = np.full((1, 1, *w.kernel), scale, np.float32)
    return b.op(
        "Conv",
        v,
        b.constant(kernel, np.float32, hint="window"),
        kernel_shape=list(w.kernel),
        strides=list(w.strides),
        pads=pads,
    )


def average_pool(b: GraphBuilder, x: Value, w: Windows, channels: Dim) -> Value:
    """The mean over each window's real entries (padding excluded, as Keras does)."""
    before, after, later = w.pads()
    known = [*before, *after]
    padded = pad(b, x, w, 0.0, include_known=False)
    # One input channel per (sample, channel) pair, so the kernel needs no channel count;
    # Reshape's 0 copies the spatial sizes.
    keep = [0] * w.rank
    flat = b.op("Reshape", padded, _i64(b, [-1, 1, *keep], "shape"))
    if not later and not any(known):
        sums = _window_sums(b, flat, w, 1.0 / math.prod(w.kernel), known)
        mean = sums
    else:
        sums = _window_sums(b, flat, w, 1.0, known)
        mean = b.op("Div", sums, _counts(b, x, w))
    if channels is not None:
        return b.op("Reshape", mean, _i64(b, [-1, channels, *keep], "shape"))
    lead = b.op("Shape", x, start=0, end=2)
    return b.op("Reshape", mean, b.op("Concat", lead, b.op("Shape", mean, start=2), axis=0))


def _counts(b: GraphBuilder, x: Value, w: Windows) -> Value:
    """(1, 1, *out): how many real entries each window covers."""
    before, after, _ = w.pads()
    sizes = [n for n in w.sizes if n is not None]
    if len(sizes) == w.rank:
        # A window's real entries are the product of its real extents along each axis, so
        # the counts are an outer product of per-axis counts: nothing as large as the
        # padded input (or the window) is ever built here.
        counts = np.ones((1, 1))
        for n, k, s, low, high in zip(sizes, w.kernel, w.strides, before, after, strict=True):
            starts = np.arange((n + low + high - k) // s + 1) * s - low
            extent = np.minimum(starts + k, n) - np.maximum(starts, 0)
            counts = np.multiply.outer(counts, extent)
        return b.constant(counts.astype(np.float32), np.float32, hint="counts")
    # The same windows over ones shaped (1, 1, *spatial): they come from x's shape only,
    # so no gradient flows through them.
    shape = b.op("Concat", _i64(b, [1, 1], "ones_shape"), b.op("Shape", x, start=2), axis=0)
    ones = b.op("Expand", b.constant(1.0, np.float32, hint="one"), shape)
    return _window_sums(b, pad(b, ones, w, 0.0, include_known=False), w, 1.0, [*before, *after])
