"""Image resampling as Keras's JAX backend does it (``jax.image.resize``), for Resizing
and CenterCrop.

jax.image.resize resamples each spatial axis whose size changes by a fixed matrix: output
pixel i samples the input at s = (i + 0.5) * in / out - 0.5 (half-pixel centres), weighing
input pixel j by kernel(|s - j| / kernel_scale), the weights normalised to sum to 1 and
zeroed where s lies outside the input. ``kernel_scale`` is in / out when antialiasing a
downscale, else 1. The matrices are computed here in float32 as JAX computes them and
applied with MatMul, so every method JAX offers matches it (ONNX's Resize has no
antialiased lanczos, and differentiating MatMul needs no new gradient rule). "nearest"
takes input floor((i + 0.5) * in / out) as XLA computes it, a Gather.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.types import INT64

Kernel = Callable[["np.ndarray"], "np.ndarray"]


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.float32(0), np.float32(1) - np.abs(x))


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """Keys's cubic convolution kernel with a = -0.5."""
    one, two = np.float32(1), np.float32(2)
    out = ((np.float32(1.5) * x - np.float32(2.5)) * x) * x + one
    far = ((np.float32(-0.5) * x + np.float32(2.5)) * x - np.float32(4)) * x + two
    out = np.where(x >= one, far, out)
    return np.where(x >= two, np.float32(0), out)


def _lanczos(radius: float) -> Kernel:
    def kernel(x: np.ndarray) -> np.ndarray:
        y = (
            np.float32(radius)
            * np.sin(np.float32(np.pi) * x)
            * np.sin(np.float32(np.pi) * x / np.float32(radius))
        )
        safe = np.where(x != 0, np.float32(np.pi**2) * x * x, np.float32(1))
        out = np.where(x > np.float32(1e-3), y / safe, np.float32(1))
        return np.where(x > np.float32(radius), np.float32(0), out).astype(np.float32)

    return kernel


KERNELS: dict[str, Kernel] = {
    "bilinear": _triangle,
    "bicubic": _keys_cubic,
    "lanczos3": _lanczos(3.0),
    "lanczos5": _lanczos(5.0),
}
METHODS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def weight_matrix(size_in: int, size_out: int, method: str, antialias: bool) -> np.ndarray:
    """The (size_in, size_out) float32 matrix resampling one axis (``compute_weight_mat``
    of jax.image, in the same float32 steps)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        # JAX takes 1 / scale in double precision and rounds it into float32 arithmetic.
        inv_scale = np.float32(1.0 / (size_out / size_in))
        kernel_scale = max(inv_scale, np.float32(1)) if antialias else np.float32(1)
        sample = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * inv_scale
        sample = sample - np.float32(0) - np.float32(0.5)
        distance = np.abs(sample[np.newaxis, :] - np.arange(size_in, dtype=np.float32)[:, None])
        weights = KERNELS[method](distance / np.float32(kernel_scale)).astype(np.float32)
        total = weights.sum(axis=0, keepdims=True, dtype=np.float32)
        usable = np.abs(total) > np.float32(1000 * np.finfo(np.float32).eps)
        weights = np.where(usable, weights / np.where(total != 0, total, 1), 0)
        inside = (sample >= -0.5) & (sample <= size_in - 0.5)
    return np.where(inside[np.newaxis, :], weights, 0).astype(np.float32)


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """The input index each output takes: floor((i + 0.5) * in / out), computed as XLA
    compiles JAX's expression on the CPU: the division by the constant ``out`` becomes a
    product with its float32 reciprocal, folded into ``in`` first. So 80 -> 50 takes
    index 3 for output 2 (2.5 * 1.6 rounds below 4), as Keras does."""
    ratio = np.float32(size_in) * np.float32(1 / size_out)
    offsets = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * ratio
    return np.floor(offsets).astype(np.int64)


def resample(
    b: GraphBuilder,
    x: Value,
    axis: int,
    rank: int,
    size_in: int,
    size_out: int,
    method: str,
    antialias: bool,
) -> Value:
    """``x`` resampled along ``axis`` (of ``rank``) from ``size_in`` to ``size_out``; an
    axis that keeps its size is left alone, as JAX leaves it."""
    if size_in == size_out:
        return x
    if method == "nearest":
        indices = b.constant(nearest_indices(size_in, size_out), np.int64, hint="indices")
        return b.op("Gather", x, indices, axis=axis)
    matrix = weight_matrix(size_in, size_out, method, antialias)
    if axis == rank - 1:
        return b.op("MatMul", x, b.constant(matrix, np.float32, hint="resample"))
    if axis == rank - 2:
        # (out, in) @ (..., in, last): MatMul broadcasts the matrix over the leading axes.
        return b.op("MatMul", b.constant(matrix.T, np.float32, hint="resample"), x)
    raise ValueError(f"resample works on the last two axes; got axis {axis} of rank {rank}")


def resample_reference(
    x: np.ndarray, axis: int, size_out: int, method: str, antialias: bool
) -> np.ndarray:
    """NumPy twin of ``resample`` in float64, written from the formula, pixel by pixel."""
    size_in = x.shape[axis]
    if size_in == size_out:
        return x
    moved = np.moveaxis(x, axis, -1)
    if method == "nearest":
        # In float32 as XLA evaluates it (see nearest_indices): the exact quotient would
        # pick another pixel where (i + 0.5) * in / out is a whole number.
        ratio = np.float32(size_in) * np.float32(1 / size_out)
        picks = [int(np.floor(np.float32(i + 0.5) * ratio)) for i in range(size_out)]
        return np.moveaxis(moved[..., picks], -1, axis)
    kernel = {
        "bilinear": lambda t: max(0.0, 1.0 - t),
        "bicubic": _cubic_scalar,
        "lanczos3": lambda t: _lanczos_scalar(3.0, t),
        "lanczos5": lambda t: _lanczos_scalar(5.0, t),
    }[method]
    scale = max(size_in / size_out, 1.0) if antialias else 1.0
    out = np.zeros((*moved.shape[:-1], size_out))
    for i in range(size_out):
        s = (i + 0.5) * size_in / size_out - 0.5
        if not -0.5 <= s <= size_in - 0.5:
            continue
        w = np.array([kernel(abs(s - j) / scale) for j in range(size_in)])
        if abs(w.sum()) > 1000 * np.finfo(np.float32).eps:
            out[..., i] = moved @ (w / w.sum())
    return np.moveaxis(out, -1, axis)


def _cubic_scalar(t: float) -> float:
    if t >= 2:
        return 0.0
    if t >= 1:
        return ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
    return (1.5 * t - 2.5) * t * t + 1.0


def _lanczos_scalar(radius: float, t: float) -> float:
    if t > radius:
        return 0.0
    if t <= 1e-3:
        return 1.0
    return radius * math.sin(math.pi * t) * math.sin(math.pi * t / radius) / (math.pi * t) ** 2


def aspect_crop(
    height: int, width: int, target_h: int, target_w: int, float32: bool
) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width): the largest centred window of the target's
    aspect ratio. ``float32``: computed as ``smart_resize`` does (float32 casts), else as
    ``image.resize``'s crop_to_aspect_ratio (Python floats)."""
    real = np.float32 if float32 else float
    crop_h = int(real(width * target_h) / real(target_w))
    crop_h = max(min(height, crop_h), 1)
    crop_w = int(real(height * target_w) / real(target_h))
    crop_w = max(min(width, crop_w), 1)
    return int(real(height - crop_h) / real(2)), int(real(width - crop_w) / real(2)), crop_h, crop_w


def aspect_pad(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int]:
    """(rows, columns) of fill added on each side by pad_to_aspect_ratio: only rows when
    any are needed, else columns (``image.resize`` on JAX)."""
    pad_h = max(height, int(float(width * target_h) / target_w))
    pad_w = max(width, int(float(height * target_w) / target_h))
    rows = int(float(pad_h - height) / 2)
    columns = int(float(pad_w - width) / 2)
    return (rows, 0) if rows > 0 else (0, max(columns, 0))


# ONNX element types for Cast's ``to`` (onnx.TensorProto's values).
CAST_TO = {"int32": 6, "int64": INT64}


def saturation_limits(dtype: str) -> tuple[np.float32, np.float32]:
    """The float32 bounds Keras's ``_saturate_cast`` clips to before casting to ``dtype``:
    the dtype's range, nudged inwards where float32 rounds it outwards."""
    info = np.iinfo(dtype)
    low, high = np.float32(info.min), np.float32(info.max)
    if low < info.min:
        low = np.nextafter(low, np.float32(0))
    if high > info.max:
        high = np.nextafter(high, np.float32(0))
    return low, high


def saturate_cast(b: GraphBuilder, y: Value, dtype: str) -> Value:
    """float32 ``y`` clipped to ``dtype``'s range and cast to it (``_saturate_cast``)."""
    low, high = saturation_limits(dtype)
    clipped = b.op("Clip", y, b.constant(low, hint="low"), b.constant(high, hint="high"))
    return b.op("Cast", clipped, to=CAST_TO[dtype])
