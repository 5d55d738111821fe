"""ONNX emitters of the convolution layers: explicit-pad Conv, zero insertion, kernel
rearrangements. Each rearrangement acts on the parameter in the graph (Transpose, Reshape,
Gather all have gradients), so parameters keep Keras's layouts in weights files.

Only constructs with correct gradients in onnxruntime-training 1.19.2 are emitted
(``docs/engine-notes.md#conv-auto-pad``): Conv with explicit ``pads`` (never ``auto_pad``:
its weight gradient is wrong), constant Pad, Slice with positive steps, Gather, Transpose,
Reshape and Unsqueeze.
"""

from __future__ import annotations

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.types import Dim


def conv_weight(b: GraphBuilder, kernel: Value, rank: int) -> Value:
    """Keras's [*k, in, out] kernel as ONNX's [out, in, *k] (a Transpose, so it trains)."""
    return b.op("Transpose", kernel, perm=[rank + 1, rank, *range(rank)])


def emit_conv(
    b: GraphBuilder,
    x: Value,
    weight: Value,
    bias: Value | None,
    pads: list[tuple[int, int] | None],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    group: int = 1,
) -> Value:
    """ONNX Conv with explicit pads; a None pad (a variable axis under 'same' with stride
    > 1, where the amount depends on the size) is computed at run time by a Pad op."""
    if any(p is None for p in pads):
        x = b.op("Pad", x, _runtime_pads(b, x, pads, kernel, dilations, strides))
        pads = [(0, 0)] * len(pads)
    fixed = [p for p in pads if p is not None]
    operands = [x, weight] if bias is None else [x, weight, bias]
    return b.op(
        "Conv",
        *operands,
        kernel_shape=list(kernel),
        strides=list(strides),
        dilations=list(dilations),
        pads=[p[0] for p in fixed] + [p[1] for p in fixed],
        group=group,
    )


def _runtime_pads(
    b: GraphBuilder,
    x: Value,
    pads: list[tuple[int, int] | None],
    kernel: tuple[int, ...],
    dilations: tuple[int, ...],
    strides: tuple[int, ...],
) -> Value:
    """The Pad op's pads for (batch, channels, *spatial): known ones as constants, the
    others from the run-time size n as total = max(k_eff - 1 - (n - 1) % s, 0), which is
    same_pads' total rewritten without a ceiling division."""

    def const(v: int) -> Value:
        return b.constant([v], np.int64, hint="pad")

    shape = b.op("Shape", x)
    begins, ends = [const(0), const(0)], [const(0), const(0)]
    for axis, pad in enumerate(pads):
        if pad is not None:
            begins.append(const(pad[0]))
            ends.append(const(pad[1]))
            continue
        k_eff = (kernel[axis] - 1) * dilations[axis] + 1
        n = b.op("Gather", shape, b.constant([axis + 2], np.int64, hint="axis"))
        rest = b.op("Mod", b.op("Sub", n, const(1)), const(strides[axis]))
        total = b.op("Max", b.op("Sub", const(k_eff - 1), rest), const(0))
        begin = b.op("Div", total, const(2))
        begins.append(begin)
        ends.append(b.op("Sub", total, begin))
    return b.op("Concat", *begins, *ends, axis=0)


def insert_zeros(
    b: GraphBuilder, x: Value, spatial: tuple[Dim, ...], strides: tuple[int, ...]
) -> Value:
    """(N, C, n1, n2, ...) -> (N, C, n1 * s1, n2 * s2, ...) with each pixel followed by s - 1
    zeros: a new axis after each strided one, padded to length s, merged back."""
    new_axes, ends, index = [], [0, 0], 2
    for s in strides:
        ends.append(0)
        index += 1
        if s > 1:
            new_axes.append(index)
            ends.append(s - 1)
            index += 1
    unsqueezed = b.op("Unsqueeze", x, b.constant(new_axes, np.int64, hint="axes"))
    pads = b.constant([0] * len(ends) + ends, np.int64, hint="pads")
    padded = b.op("Pad", unsqueezed, pads)
    if all(n is not None for n in spatial):
        # 0 copies batch and channels from the padded tensor, where they sit at 0 and 1.
        sizes = [n * s for n, s in zip(spatial, strides, strict=True) if n is not None]
        target = b.constant([0, 0, *sizes], np.int64, hint="shape")
    else:
        target = b.op(
            "Mul", b.op("Shape", x), b.constant([1, 1, *strides], np.int64, hint="strides")
        )
    return b.op("Reshape", padded, target)


def flipped_weight(b: GraphBuilder, kernel: Value, kernel_size: tuple[int, ...]) -> Value:
    """Keras's [*k, filters, in] kernel as the equivalent Conv's [filters, in, *k], each
    spatial axis reversed by a Gather (a negative-step Slice has no working gradient)."""
    rank = len(kernel_size)
    weight = b.op("Transpose", kernel, perm=[rank, rank + 1, *range(rank)])
    for axis, k in enumerate(kernel_size):
        if k > 1:
            reverse = b.constant(np.arange(k - 1, -1, -1), np.int64, hint="reverse")
            weight = b.op("Gather", weight, reverse, axis=axis + 2)
    return weight


def depthwise_weight(b: GraphBuilder, kernel: Value, shape: tuple[int, ...]) -> Value:
    """Keras's [*k, in, m] depthwise kernel as a grouped Conv's [in * m, 1, *k]."""
    rank = len(shape) - 2
    *k, channels, multiplier = shape
    weight = b.op("Transpose", kernel, perm=[rank, rank + 1, *range(rank)])
    target = b.constant([channels * multiplier, 1, *k], np.int64, hint="shape")
    return b.op("Reshape", weight, target)
