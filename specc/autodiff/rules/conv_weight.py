"""The weight gradient of Conv and ConvTranspose: window contents times output gradients.

d w[f, c, k] = sum over batch and positions o of data_pad[n, c, o * s + k * dl] dy[n, f, o].
Two ways to build it from standard ops:

- ``by_matmul`` (the usual one): every window entry copied out as its own channel by a
  Conv with a one-hot kernel (im2col), then one batched MatMul against the output
  gradient and a sum over the batch. MLAS runs that Conv and MatMul at full speed.
- ``by_conv`` (where the weight's shape is unknown when the graph is built): a Conv of the
  data by the output gradient, batch and channel axes swapped and strides and dilations
  trading places. Its kernel is as large as the output, a shape onnxruntime's Conv handles
  several times slower (28 ms against 9 ms for a 3x3 Conv2D 32 -> 64 over 26x26, batch 64).
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
    if any(n is None for n in weight[:2]) or _windows_past_input(d, w):
        return by_conv(d, data, kernel_of, w, group)
    return by_matmul(d, data, kernel_of, w, group, (int(weight[0]), int(weight[1])))  # type: ignore[arg-type]


def _windows_past_input(d: Backward, w: Windows) -> bool:
    """Whether a ConvTranspose's output_padding of a stride or more fits more windows in
    its dy than x has (onnxruntime 1.19 runs such a ConvTranspose, 1.32 refuses it)."""
    padding = d.attr("output_padding", [0] * len(w.kernel))
    return d.node.op_type == "ConvTranspose" and any(
        p >= s for p, s in zip(padding, w.strides, strict=True)
    )


def window_entries(d: Backward, data: Value, w: Windows) -> tuple[Value, bool]:
    """Every window's entries of ``data`` (N, C, *n), each as its own channel: a Conv of
    one one-hot kernel per entry (K of them, the kernel's size, row-major) over single
    channel images. Returns them and whether they are laid out entry-major.

    1-D and 2-D data go in whole, the channels as one more spatial axis of a 3-D Conv:
    (N, 1, [1,] C, *n) -> (N, K, [1,] C, *o), entry-major. 3-D data, which has no axis to
    spare, goes in one image per channel: (N * C, 1, *n) -> (N * C, K, *o). A 3-D Conv
    for the 2-D case is also what keeps onnxruntime from switching a 2-D Conv with a
    constant kernel to its blocked NCHWc layout, whose output reorder costs as much as
    the Conv. (The whole batch at once ran in 4.5 ms, one image per channel in 7.5 ms,
    as a 2-D Conv in 14 ms: 64 x 32 26x26 images, 3x3, onnxruntime 1.32.)
    """
    entries = int(np.prod(w.kernel))
    whole = len(w.kernel) < 3
    # The Conv's spatial axes ahead of the data's own: a unit one for 1-D, then the
    # channels; the one-hot kernels span 1 along them.
    lead = [1] * (3 - len(w.kernel)) if whole else []
    one_hot = np.eye(entries, dtype=np.float32).reshape(entries, 1, *lead, *w.kernel)
    shape = [0, 1, *lead[:-1], -1] if whole else [-1, 1]
    images = d.op(
        "Reshape",
        data,
        d.op("Concat", d.ints(shape, "shape"), d.op("Shape", data, start=2), axis=0),
    )
    none = [0] * len(lead)
    found = d.op(
        "Conv",
        images,
        d.b.constant(one_hot, np.float32, hint="window_entries"),
        strides=[*([1] * len(lead)), *w.strides],
        dilations=[*([1] * len(lead)), *w.dilations],
        pads=[*none, *w.begin, *none, *w.end],
    )
    return found, whole


def by_matmul(
    d: Backward, data: Value, kernel_of: Value, w: Windows, group: int, weight: tuple[int, int]
) -> Value:
    """``weight_gradient`` as im2col and a batched MatMul (``weight`` = (F, C / group)).

    The window entries of each group's channels meet that group's output gradients in
    one MatMul per sample; the products, summed over the batch, are put into the
    weight's (F, C / group, *k) order at the end, where they are small.
    """
    features, per_group = weight
    entries = int(np.prod(w.kernel))
    found, entry_major = window_entries(d, data, w)
    # (N, group, P, F / group), transposed for the MatMul (onnxruntime fuses the two).
    grads = d.op("Reshape", kernel_of, d.ints([0, group, features // group, -1], "shape"))
    grads = d.op("Transpose", grads, perm=[0, 1, 3, 2])
    if entry_major and group > 1:
        # (N, K, group, C / group, P) against (N, 1, group, P, F / group).
        rows = [entries, group, per_group]
        grads = d.op("Unsqueeze", grads, d.ints([1], "axes"))
        order = [1, 3, 2, 0]  # (K, group, C / group, F / group) -> (group, F/g, C/g, K)
    elif entry_major:
        rows, order = [1, entries * per_group], [1, 3, 2, 0]  # k-major rows, one group
    else:
        rows, order = [group, per_group * entries], [0, 3, 1, 2]
    batch = d.op("Shape", data, start=0, end=1)
    columns = d.op("Reshape", found, d.op("Concat", batch, d.ints([*rows, -1]), axis=0))
    total = d.sum_axes(d.op("MatMul", columns, grads), [0], keepdims=False)
    if entry_major:
        total = d.op("Reshape", total, d.ints([entries, group, per_group, -1], "shape"))
    else:  # (group, C / group * K, F / group) -> (group, C / group, K, F / group)
        total = d.op("Reshape", total, d.ints([group, per_group, entries, -1], "shape"))
    found = d.op("Transpose", total, perm=order)
    return d.op("Reshape", found, d.ints([features, per_group, *w.kernel], "shape"))


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
