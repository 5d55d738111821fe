"""NumPy references of the convolutions, written from Keras's definitions in float64.

Everything here works on channels_last data (batch, *spatial, channels) and shares nothing
with the ONNX lowering: the forward convolutions are sums over kernel taps of strided
windows of the zero-padded input (padding as TensorFlow defines 'same': output ceil(n/s),
the odd pixel at the end); the transposed convolution scatters every input pixel times the
kernel into a full-size output and crops it the way TensorFlow's conv_transpose (the
gradient of a forward convolution producing the requested output size) does.
"""

from __future__ import annotations

import math

from specc.lazy_numpy import np


def padding_amounts(
    padding: str, n: int, kernel: int, stride: int, dilation: int
) -> tuple[int, int]:
    """Zeros before and after one axis: none (valid), all before (causal), or TF's same."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return extent - 1, 0
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + extent - n, 0)
    return total // 2, total - total // 2


def _windows(
    x: np.ndarray,
    kernel_shape: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    padding: str,
) -> tuple[list[tuple[tuple[int, ...], np.ndarray]], tuple[int, ...]]:
    """For every kernel tap, the padded input's pixels it meets: (tap, (N, *out, C))."""
    spatial = x.shape[1:-1]
    pads = [
        padding_amounts(padding, n, k, s, d)
        for n, k, s, d in zip(spatial, kernel_shape, strides, dilations, strict=True)
    ]
    padded = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = tuple(
        (padded.shape[1 + i] - (k - 1) * d - 1) // s + 1
        for i, (k, s, d) in enumerate(zip(kernel_shape, strides, dilations, strict=True))
    )
    taps = []
    for tap in np.ndindex(*kernel_shape):
        index = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, o, s in zip(tap, dilations, out, strides, strict=True)
        )
        taps.append((tap, padded[(slice(None), *index)]))
    return taps, out


def conv(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    padding: str,
    groups: int = 1,
) -> np.ndarray:
    """y[b, o, f] = sum_{t, c in group(f)} x_pad[b, o*s + t*d, c] * kernel[t, c, f].

    kernel: (*k, C / groups, F); filter f belongs to group f // (F / groups), which reads
    input channels [g * C/groups, (g + 1) * C/groups).
    """
    rank = kernel.ndim - 2
    taps, out = _windows(x, kernel.shape[:rank], strides, dilations, padding)
    c_group, filters = kernel.shape[-2], kernel.shape[-1]
    f_group = filters // groups
    y = np.zeros((x.shape[0], *out, filters))
    for tap, window in taps:
        for g in range(groups):
            part = window[..., g * c_group : (g + 1) * c_group]
            y[..., g * f_group : (g + 1) * f_group] += (
                part @ kernel[tap][:, g * f_group : (g + 1) * f_group]
            )
    return y


def depthwise_conv(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    padding: str,
) -> np.ndarray:
    """y[b, o, c * m + j] = sum_t x_pad[b, o*s + t*d, c] * kernel[t, c, j]; kernel (*k, C, m)."""
    rank = kernel.ndim - 2
    taps, out = _windows(x, kernel.shape[:rank], strides, dilations, padding)
    channels, multiplier = kernel.shape[-2:]
    y = np.zeros((x.shape[0], *out, channels, multiplier))
    for tap, window in taps:
        y += window[..., :, None] * kernel[tap]
    return y.reshape(x.shape[0], *out, channels * multiplier)


def transposed_size(
    n: int, kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> int:
    """Keras's deconv output length for one axis."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(extent, stride) - extent if output_padding is None else output_padding
        return (n - 1) * stride + extent + extra
    if output_padding is None:
        return n * stride
    return (n - 1) * stride + extent % 2 + output_padding


def conv_transpose(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    padding: str,
    output_padding: tuple[int, ...] | None,
) -> np.ndarray:
    """The adjoint of a convolution: every x[b, p, c] adds x * kernel[t, :, c] at p*s + t*d.

    kernel: (*k, F, C). The full scatter has length (n - 1) * s + k_eff per axis; the output
    is its window starting where the forward convolution with that output size would have
    started its padding: pad_before = max((n - 1) * s + k_eff - out, 0) // 2 under 'same',
    0 under 'valid'. Positions past the scatter's end (output_padding) are zero.
    """
    rank = kernel.ndim - 2
    spatial = x.shape[1:-1]
    kernel_shape = kernel.shape[:rank]
    extents = [(k - 1) * d + 1 for k, d in zip(kernel_shape, dilations, strict=True)]
    full_shape = [(n - 1) * s + e for n, s, e in zip(spatial, strides, extents, strict=True)]
    full = np.zeros((x.shape[0], *full_shape, kernel.shape[-2]))
    for tap in np.ndindex(*kernel_shape):
        index = tuple(
            slice(t * d, t * d + (n - 1) * s + 1, s)
            for t, d, n, s in zip(tap, dilations, spatial, strides, strict=True)
        )
        full[(slice(None), *index)] += x @ kernel[tap].T
    out_shape, starts = [], []
    for i, n in enumerate(spatial):
        op = None if output_padding is None else output_padding[i]
        size = transposed_size(n, kernel_shape[i], strides[i], dilations[i], padding, op)
        out_shape.append(size)
        before = 0
        if padding == "same":
            before = max((n - 1) * strides[i] + extents[i] - size, 0) // 2
        starts.append(before)
    y = np.zeros((x.shape[0], *out_shape, kernel.shape[-2]))
    source = tuple(
        slice(b, min(b + o, f)) for b, o, f in zip(starts, out_shape, full_shape, strict=True)
    )
    target = tuple(slice(0, s.stop - s.start) for s in source)
    y[(slice(None), *target)] = full[(slice(None), *source)]
    return y
