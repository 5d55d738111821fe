"""The weight gradient of Conv and ConvTranspose: window contents times output gradients.

d w[f, c, k] = sum over batch and positions o of data_pad[n, c, o * s + k * dl] dy[n, f, o].
Two ways to build it from standard ops, chosen by shape (``matmul_is_faster``):

- ``by_matmul``: every window entry copied out as its own row by a Conv with one-hot
  kernels (im2col, the batch inside each row), then one MatMul per group against the
  output gradient. MLAS runs both at full speed.
- ``by_conv``: a Conv of the data by the output gradient, batch and channel axes swapped
  and strides and dilations trading places. Its kernel is as large as the output, which
  onnxruntime's Conv runs slowly unless the output is small.

Times of the forward and weight-gradient graph on onnxruntime 1.32, one thread, CPU ms
(by_matmul / by_conv), batch 64 unless said: 3x3 32 -> 64 over 26x26: 41 / 47; stride 2,
64 -> 128 over 32x32: 67 / 104; 1-D k5 64 -> 64 over 1000, batch 32: 38 / 64; depthwise
3x3 64 over 32x32, batch 32: 31 / 36; 3x3 64 -> 64 over 10x10: 10.0 / 7.2, over 18x18:
36 / 34; 3x3 1 -> 32 over 28x28: 3.0 / 2.0; 5x5 64 -> 128 over 6x6: 6.1 / 5.2.
A third form, each sample's window entries copied out by a depthwise one-hot Conv, times
its output gradient in one batched MatMul and summed over the batch (no Transpose of
either), gained nothing: M2's whole step graph (timed as bench/conv_gradient_forms.py
times it) 98.3 against
96.9 CPU ms on one thread, 177.8 against 179.1 on two; for the 3x3 1 -> 32 Conv 4.4
against 4.0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from specc.autodiff.core import Backward
from specc.graph import Value

if TYPE_CHECKING:
    from specc.autodiff.rules.conv import Windows


def weight_gradient(d: Backward, data: Value, kernel_of: Value, w: Windows, group: int) -> Value:
    """sum over batch and positions of ``data`` (padded by ``w``) times ``kernel_of`` at
    every kernel offset.

    ``data`` is (N, channels, *n) and ``kernel_of`` (N, F, *o), o the number of windows
    ``w`` fits in ``data``; the result (F, channels / group, *k): the layout of a Conv's
    weight, and of a ConvTranspose's (data its dy). F and channels / group are the
    weight's axes 0 and 1 in both.
    """
    weight = d.shape(d.x(1))
    if matmul_is_faster(d, w, group):
        return by_matmul(d, data, kernel_of, w, group, (int(weight[0]), int(weight[1])))  # type: ignore[arg-type]
    return by_conv(d, data, kernel_of, w, group)


# Output positions per sample up to which by_conv beats by_matmul on a plain 2-D Conv.
FEW_POSITIONS = 256


def matmul_is_faster(d: Backward, w: Windows, group: int) -> bool:
    """Whether ``by_matmul`` serves this node (and can: it needs the weight's shape).

    by_conv wins only on ungrouped, unstrided 2-D convolutions with few output positions
    or a single input channel, and runs 3-D ones (by_matmul's im2col would need a 4-D
    Conv) and ConvTranspose's odd output_padding, whose dy has windows past x's.
    """
    weight = d.shape(d.x(1))
    if any(n is None for n in weight[:2]) or len(w.kernel) > 2 or _windows_past_input(d, w):
        return False
    if len(w.kernel) == 1 or group > 1 or any(s > 1 for s in w.strides):
        return True
    # The windows' positions: the Conv's output, or the ConvTranspose's input.
    found = d.shape(d.y(0) if d.node.op_type == "Conv" else d.x(0))[2:]
    positions = None if None in found else int(np.prod(found))
    single = weight[1] == 1
    return not single and (positions is None or positions > FEW_POSITIONS)


def _windows_past_input(d: Backward, w: Windows) -> bool:
    """Whether a ConvTranspose's output_padding of a stride or more fits more windows in
    its dy than x has (onnxruntime 1.19 runs such a ConvTranspose, 1.32 refuses it)."""
    padding = d.attr("output_padding", [0] * len(w.kernel))
    return d.node.op_type == "ConvTranspose" and any(
        p >= s for p, s in zip(padding, w.strides, strict=True)
    )


def _channels_by_batch(d: Backward, v: Value, group: int) -> Value:
    """(N, C, *spatial) -> (C / group, group * N, *spatial): channel c of group j becomes
    batch entry c and channel j * N + n, so a grouped Conv pairs each group with its own.

    C / group is the weight's axis 1, for Conv (v = x) and ConvTranspose (v = dy) alike.
    """
    rank = d.rank(d.x(0))  # v may be a gradient, which has no recorded type
    if group == 1:
        return d.op("Transpose", v, perm=[1, 0, *range(2, rank)])
    per_group = d.shape(d.x(1))[1]
    if per_group is None:
        raise ValueError(
            f"{d.node.op_type} '{d.node.name}': the weight's shape is unknown; the weight "
            f"gradient of a grouped convolution needs it; got {d.shape(d.x(1))}"
        )
    split = d.op("Reshape", v, d.ints([0, group, per_group, -1], "shape"))
    swapped = d.op("Transpose", split, perm=[2, 1, 0, 3])
    shape = d.op("Concat", d.ints([per_group, -1], "shape"), d.op("Shape", v, start=2), axis=0)
    return d.op("Reshape", swapped, shape)


def by_conv(d: Backward, data: Value, kernel_of: Value, w: Windows, group: int) -> Value:
    """``weight_gradient`` as one Conv with the batch as channels."""
    rank = d.rank(d.x(0))
    spatial = list(range(2, rank))
    data_t = _channels_by_batch(d, data, group)
    kernel_t = d.op("Transpose", kernel_of, perm=[1, 0, *spatial])
    found = d.op(
        "Conv",
        data_t,
        kernel_t,
        strides=w.dilations,
        dilations=w.strides,
        pads=w.pads,
        group=group,
    )
    # The Conv covers k + r // dilation offsets (r = the entries past the last window):
    # the last ones lie past any window and are cut.
    found = d.op(
        "Slice",
        found,
        d.ints([0] * len(spatial), "starts"),
        d.ints(w.kernel, "ends"),
        d.ints(spatial, "axes"),
    )
    return d.op("Transpose", found, perm=[1, 0, *spatial])


def by_matmul(
    d: Backward, data: Value, kernel_of: Value, w: Windows, group: int, weight: tuple[int, int]
) -> Value:
    """``weight_gradient`` as im2col and one MatMul per group (``weight`` = (F, C / group)).

    1-D and 2-D data only: its batch, and for 1-D a unit axis, become the leading
    spatial axes of a 3-D one-hot Conv. A 3-D Conv also keeps onnxruntime from switching a
    2-D Conv with a constant kernel to its blocked NCHWc layout, whose output reorder
    costs as much as the Conv.
    """
    features, per_group = weight
    entries = int(np.prod(w.kernel))
    rank = d.rank(d.x(0))
    spatial = list(range(2, rank))
    lead = [1] * (3 - len(w.kernel))
    # (C, 1, N, *n): one image per channel, its samples stacked along a spatial axis
    # (an image per group ran slower: its im2col buffer outgrew the caches).
    by_channel = d.op("Transpose", data, perm=[1, 0, *spatial])
    batch, sizes = d.op("Shape", data, start=0, end=1), d.op("Shape", data, start=2)
    shape = d.op("Concat", d.ints([-1, 1, *lead[:-1]], "shape"), batch, sizes, axis=0)
    images = d.op("Reshape", by_channel, shape)
    one_hot = np.eye(entries, dtype=np.float32).reshape(entries, 1, *lead, *w.kernel)
    none = [0] * len(lead)
    found = d.op(
        "Conv",
        images,
        d.b.constant(one_hot, np.float32, hint="window_entries"),
        strides=[*([1] * len(lead)), *w.strides],
        dilations=[*([1] * len(lead)), *w.dilations],
        pads=[*none, *w.begin, *none, *w.end],
    )
    # (group, C / group * K, N * P) against (group, N * P, F / group).
    columns = d.op("Reshape", found, d.ints([group, per_group * entries, -1], "shape"))
    grads = d.op("Transpose", kernel_of, perm=[1, 0, *spatial])
    grads = d.op("Reshape", grads, d.ints([group, features // group, -1], "shape"))
    grads = d.op("Transpose", grads, perm=[0, 2, 1])
    total = d.op("MatMul", columns, grads)
    total = d.op("Reshape", total, d.ints([group, per_group, entries, -1], "shape"))
    found = d.op("Transpose", total, perm=[0, 3, 1, 2])
    return d.op("Reshape", found, d.ints([features, per_group, *w.kernel], "shape"))
