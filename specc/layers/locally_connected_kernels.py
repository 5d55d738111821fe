"""LocallyConnected geometry: patch positions, Keras's three kernel layouts, NumPy references.

Keras 2 stores the kernel of a locally connected layer in one of three layouts, chosen by
``implementation`` (docs/locally-connected.md gives them in full). The lowering works in
one internal layout, ``(L, C*K, F)`` with features ordered (channel, kernel offset), and
takes it from the stored kernel by a reshape/transpose (implementation 1) or by one Gather
with a constant index map (2 and 3), both differentiable. The references below follow
Keras's own three formulas instead, so they check the index maps rather than repeat them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from specc.lazy_numpy import np


@dataclass(frozen=True)
class Geometry:
    """Spatial sizes of one locally connected layer (per spatial axis unless said)."""

    inputs: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]  # zeros before each axis: kernel // 2 for "same", else 0
    outputs: tuple[int, ...]
    channels: int
    filters: int

    @property
    def patches(self) -> int:
        """L: the number of output positions."""
        return math.prod(self.outputs)

    @property
    def window(self) -> int:
        """K: the number of kernel offsets."""
        return math.prod(self.kernel)

    @property
    def pixels(self) -> int:
        """P: the number of input positions."""
        return math.prod(self.inputs)


def output_length(size: int, kernel: int, stride: int, padding: str) -> int:
    """Keras's conv_output_length (no dilation): ceil(size / stride) for "same"."""
    length = size if padding == "same" else size - kernel + 1
    return (length + stride - 1) // stride


def make_geometry(
    inputs: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    channels: int,
    filters: int,
) -> Geometry:
    """The geometry; some output size may be < 1, which the caller reports."""
    outputs = tuple(
        output_length(n, k, s, padding) for n, k, s in zip(inputs, kernel, strides, strict=True)
    )
    pads = tuple(k // 2 if padding == "same" else 0 for k in kernel)
    return Geometry(inputs, kernel, strides, pads, outputs, channels, filters)


def patch_positions(g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(positions, inside), both (L, K): each patch's input positions, flattened row-major,
    and whether they lie inside the input (outside only with "same" padding).

    Patch l (output positions in row-major order) starts at out_pos * stride - pad; its
    offsets run row-major over the kernel, as Keras slices and reshapes a patch.
    """
    out = np.indices(g.outputs).reshape(len(g.outputs), -1).T  # (L, nd)
    offsets = np.indices(g.kernel).reshape(len(g.kernel), -1).T  # (K, nd)
    pos = out[:, None, :] * np.array(g.strides) - np.array(g.pads) + offsets[None, :, :]
    inside = np.all((pos >= 0) & (pos < np.array(g.inputs)), axis=-1)
    flat = np.ravel_multi_index(tuple(np.clip(pos, 0, np.array(g.inputs) - 1).T), g.inputs)
    return flat.T, inside


def kernel_shape(g: Geometry, implementation: int, channels_first: bool) -> tuple[int, ...]:
    """The Keras kernel shape of each implementation."""
    if implementation == 1:
        return (g.patches, g.window * g.channels, g.filters)
    if implementation == 2:
        if channels_first:
            return (g.channels, *g.inputs, g.filters, *g.outputs)
        return (*g.inputs, g.channels, *g.outputs, g.filters)
    _, inside = patch_positions(g)
    return (int(inside.sum()) * g.channels * g.filters,)


def kernel_index(g: Geometry, implementation: int, channels_first: bool) -> np.ndarray:
    """(L, C, K, F) indices into the flattened implementation-2 or -3 kernel.

    Positions outside the input (zero padding) point at entry 0: they multiply a padded
    zero, so neither the output nor that entry's gradient changes.
    """
    positions, inside = patch_positions(g)
    L, C, K, F = g.patches, g.channels, g.window, g.filters  # the maths' names
    l_ = np.arange(L)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    f = np.arange(F)[None, None, None, :]
    p = positions[:, None, :, None]
    ok = np.broadcast_to(inside[:, None, :, None], (L, C, K, F))
    if implementation == 2:
        # Keras's (*in, C, *out, F) or (C, *in, F, *out), flattened: position and
        # output position each index their spatial block as a whole.
        if channels_first:
            index = ((c * g.pixels + p) * F + f) * L + l_
        else:
            index = ((p * C + c) * L + l_) * F + f
    else:
        # The non-zeros of a (outputs*F, inputs*C) matrix, in sorted (row, column) order;
        # rows and columns flattened in the data format's own order.
        if channels_first:
            row, col = f * L + l_, c * g.pixels + p
        else:
            row, col = l_ * F + f, p * C + c
        keys = np.broadcast_to(row * (g.pixels * C) + col, (L, C, K, F))
        index = np.searchsorted(np.sort(keys[ok]), keys)
    return np.where(ok, np.broadcast_to(index, (L, C, K, F)), 0)


# --- NumPy references: Keras's formulas, one per implementation -------------------------


def _connected(g: Geometry, out_pos: tuple[int, ...]) -> list[range]:
    """Keras's conv_connected_inputs: the input ranges one output position sees."""
    ranges = []
    for d, pos in enumerate(out_pos):
        left, right = g.kernel[d] // 2, g.kernel[d] - g.kernel[d] // 2
        # "valid" centres the window inside the input; "same" centres it on pos * stride.
        # (pads is 0 for "valid"; for "same" it is 0 only with a size-1 kernel, alike.)
        centre = pos * g.strides[d] + (left if g.pads[d] == 0 else 0)
        ranges.append(range(max(0, centre - left), min(g.inputs[d], centre + right)))
    return ranges


def reference_local_conv(
    x: np.ndarray, kernel: np.ndarray, g: Geometry, implementation: int, channels_first: bool
) -> np.ndarray:
    """The layer without bias and activation, in the input's own data format, float64."""
    batch = x.shape[0]
    out_grid = list(itertools.product(*[range(n) for n in g.outputs]))
    if implementation == 1:
        # backend.local_conv: slice each patch, flatten it, one dot per output position.
        cols = []
        for l_, pos in enumerate(out_grid):
            window = tuple(
                slice(p * s, p * s + k) for p, s, k in zip(pos, g.strides, g.kernel, strict=True)
            )
            index = (
                (slice(None), slice(None), *window) if channels_first else (slice(None), *window)
            )
            cols.append(x[index].reshape(batch, -1) @ kernel[l_])
        y = np.stack(cols, axis=1).reshape(batch, *g.outputs, g.filters)
        return np.moveaxis(y, -1, 1) if channels_first else y
    in_flat = x.reshape(batch, -1)
    in_dims = (g.channels, *g.inputs) if channels_first else (*g.inputs, g.channels)
    out_dims = (g.filters, *g.outputs) if channels_first else (*g.outputs, g.filters)

    def join(spatial: tuple[int, ...], channel: int) -> tuple[int, ...]:
        return (channel, *spatial) if channels_first else (*spatial, channel)

    pairs = [
        (np.ravel_multi_index(join(o, f), out_dims), np.ravel_multi_index(join(i, c), in_dims))
        for o in out_grid
        for i in itertools.product(*_connected(g, o))
        for c in range(g.channels)
        for f in range(g.filters)
    ]
    matrix = np.zeros((math.prod(out_dims), math.prod(in_dims)))
    if implementation == 2:
        # local_conv_matmul: the dense kernel times its 0/1 connectivity mask.
        dense = kernel.reshape(math.prod(in_dims), math.prod(out_dims))
        for row, col in pairs:
            matrix[row, col] = dense[col, row]
    else:
        # local_conv_sparse_matmul: kernel[i] sits at the i-th sorted (row, column) pair.
        for value, (row, col) in zip(kernel, sorted(pairs), strict=True):
            matrix[row, col] = value
    return (in_flat @ matrix.T).reshape(batch, *out_dims)
