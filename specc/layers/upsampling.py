"""Upsampling layers: UpSampling1D, UpSampling2D and UpSampling3D.

Each spatial axis of size n grows to n * size. ``nearest`` repeats every entry ``size``
times (Keras's ``ops.repeat``); it lowers to Unsqueeze + Expand + Reshape, since the
training engine has no gradient kernel for Resize. UpSampling2D's other interpolations
follow Keras 3 on JAX (``jax.image.resize``, antialias off, half-pixel centres): output
i samples the input at u = (i + 0.5) / size - 0.5 with weights kernel(|u - j|) over the
input entries j, renormalised to sum to 1 (so the edges are not darkened).

    bilinear: triangle kernel. Lowered as a blend of x with x shifted by one entry (the
              edge entry repeated), phase by phase, then interleaved: any sizes.
    bicubic (Keys, a = -0.5), lanczos3, lanczos5: lowered as a MatMul per axis by the
              fixed (n * size, n) weight matrix, so the spatial sizes must be known.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from specc.graph import GraphBuilder, Value
from specc.layers.base import LAYERS, LowerContext, ShapeError, expect_float, float_input
from specc.layers.core import passthrough_dtype, passthrough_input
from specc.layers.spatial import INT64_MAX, DataFormat, SpatialLayer, int_tuple
from specc.lazy_numpy import np
from specc.types import TensorType

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"]


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    inner = ((1.5 * x - 2.5) * x) * x + 1.0
    outer = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, outer, inner))


def _lanczos(radius: float) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi * x) ** 2
        return np.where(x > radius, 0.0, np.where(x > 1e-3, y, 1.0))

    return kernel


KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bilinear": lambda x: np.maximum(0.0, 1.0 - x),
    "bicubic": _keys_cubic,
    "lanczos3": _lanczos(3.0),
    "lanczos5": _lanczos(5.0),
}


def resize_matrix(n: int, factor: int, interpolation: str) -> np.ndarray:
    """The (n * factor, n) matrix taking an axis of size n to its upsampled values."""
    u = (np.arange(n * factor) + 0.5) / factor - 0.5
    weights = KERNELS[interpolation](np.abs(u[:, None] - np.arange(n)[None, :]))
    return weights / weights.sum(axis=1, keepdims=True)


class _UpSampling(SpatialLayer):
    """Shared shapes and lowering; subclasses set ``size``'s form and the interpolation."""

    size: Any

    @property
    def factors(self) -> tuple[int, ...]:
        """The upsampling factor of each spatial axis."""
        return int_tuple(self.size, self.spatial_rank, "size")

    @property
    def method(self) -> str:
        """The interpolation (only UpSampling2D has a choice)."""
        return getattr(self, "interpolation", "nearest")

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        spatial, channels = self.split(x)
        if self.method == "nearest":
            dtype = passthrough_dtype(x)
        else:
            expect_float(f"{self.type_name()} with interpolation '{self.method}'", x)
            dtype = "float32"
        if self.method not in ("nearest", "bilinear") and None in spatial:
            raise ShapeError(
                f"{self.type_name()} with interpolation '{self.method}' needs known spatial "
                f"sizes (its weights depend on them); got input {x}. 'nearest' and "
                f"'bilinear' accept variable sizes",
                field="interpolation",
            )
        out = tuple(
            None if d is None else d * f for d, f in zip(spatial, self.factors, strict=True)
        )
        return [self.join(dtype, out, channels)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        spatial, _ = self.split(t)
        if self.method == "nearest":
            return [self._repeat(b, passthrough_input(ctx, inputs[0], t), spatial)]
        x = float_input(ctx, inputs[0], t)
        m = self.spatial_rank
        if self.method == "bilinear":
            for i, f in enumerate(self.factors):
                if f > 1:
                    x = _bilinear_axis(b, x, 2 + i, f, m + 2)
            return [x]
        # A MatMul contracts the last axis: treat the last spatial axis, then rotate the
        # spatial axes by one so the previous becomes last; m rotations restore the order.
        rotate = [0, 1, m + 1, *range(2, m + 1)]
        for i in reversed(range(m)):
            n, f = spatial[i], self.factors[i]
            if n is not None and f > 1:
                matrix = resize_matrix(n, f, self.method).T
                x = b.op("MatMul", x, b.constant(matrix, np.float32, hint="resize"))
            x = b.op("Transpose", x, perm=rotate)
        return [x]

    def _repeat(self, b: GraphBuilder, x: Value, spatial: tuple[int | None, ...]) -> Value:
        """Nearest: (N, C, n1, ...) -> (N, C, n1, 1, n2, 1, ...) -> expand -> merge pairs."""
        m = self.spatial_rank
        axes = b.constant([3 + 2 * i for i in range(m)], np.int64, hint="axes")
        expanded = [1, 1, *(v for f in self.factors for v in (1, f))]
        repeated = b.op(
            "Expand", b.op("Unsqueeze", x, axes), b.constant(expanded, np.int64, hint="repeats")
        )
        if None in spatial:
            scale = b.constant([1, 1, *self.factors], np.int64, hint="factors")
            shape = b.op("Mul", b.op("Shape", x), scale)
        else:
            # 0 copies the batch size and the channels.
            out = [(d or 0) * f for d, f in zip(spatial, self.factors, strict=True)]
            shape = b.constant([0, 0, *out], np.int64, hint="shape")
        return b.op("Reshape", repeated, shape)

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        y = self.to_channels_last(inputs[0])
        for axis, f in enumerate(self.factors, start=1):
            if self.method == "nearest":
                y = np.repeat(y, f, axis=axis)
                continue
            n = y.shape[axis]
            kernel = KERNELS[self.method]
            rows = []
            for i in range(n * f):
                centre = (i + 0.5) / f - 0.5
                w = np.array([float(kernel(np.array(abs(centre - j)))) for j in range(n)])
                rows.append(np.tensordot(w / w.sum(), np.moveaxis(y, axis, 0), axes=1))
            y = np.moveaxis(np.stack(rows), 0, axis)
        return [self.from_channels_last(y)]


def _bilinear_axis(b: GraphBuilder, x: Value, axis: int, f: int, rank: int) -> Value:
    """Upsample one axis by f with the triangle kernel, for any (even variable) size.

    Output f * i + r samples u = i + d_r with d_r = (r + 0.5) / f - 0.5 in (-1/2, 1/2):
    (1 - |d_r|) x[i] + |d_r| x[i -+ 1], the neighbour clamped at the edges, which is what
    renormalising the kernel's weights there gives.
    """

    def piece(start: int, end: int) -> Value:
        return b.op(
            "Slice",
            x,
            b.constant([start], np.int64, hint="starts"),
            b.constant([end], np.int64, hint="ends"),
            b.constant([axis], np.int64, hint="axes"),
        )

    previous = b.op("Concat", piece(0, 1), piece(0, -1), axis=axis)
    following = b.op("Concat", piece(1, INT64_MAX), piece(-1, INT64_MAX), axis=axis)
    phases = []
    for r in range(f):
        d = (r + 0.5) / f - 0.5
        y = x
        if not math.isclose(d, 0.0, abs_tol=1e-12):
            near = b.op("Mul", x, b.constant(1 - abs(d), np.float32, hint="weight"))
            other = b.op(
                "Mul",
                previous if d < 0 else following,
                b.constant(abs(d), np.float32, hint="weight"),
            )
            y = b.op("Add", near, other)
        phases.append(b.op("Unsqueeze", y, b.constant([axis + 1], np.int64, hint="axes")))
    stacked = b.op("Concat", *phases, axis=axis + 1)
    factors = [f if a == axis else 1 for a in range(rank)]
    shape = b.op("Mul", b.op("Shape", x), b.constant(factors, np.int64, hint="factors"))
    return b.op("Reshape", stacked, shape)


@LAYERS.register
class UpSampling1D(_UpSampling):
    """UpSampling1D: y[t] = x[t // size]; steps grow to steps * size.

    (batch, steps, features) -> (batch, steps * size, features).
    """

    type: Literal["UpSampling1D"]
    spatial_rank: ClassVar[int] = 1
    size: int = Field(2, gt=0)

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 2))]),
            ({"size": 3}, [TensorType("float32", (None, 2))]),
            ({"size": 2}, [TensorType("int32", (3, 2))]),
        ]


@LAYERS.register
class UpSampling2D(_UpSampling):
    """UpSampling2D: (batch, h, w, c) -> (batch, h * size[0], w * size[1], c).

    nearest: y[i, j] = x[i // size[0], j // size[1]]; the other interpolations as the module
    docstring says. channels_first: (batch, c, h, w) likewise.
    """

    type: Literal["UpSampling2D"]
    spatial_rank: ClassVar[int] = 2
    size: int | list[int] = 2
    data_format: DataFormat = "channels_last"
    interpolation: Interpolation = "nearest"

    @field_validator("size")
    @classmethod
    def _valid_size(cls, value: Any) -> Any:
        int_tuple(value, cls.spatial_rank, "size")
        return value

    @field_validator("interpolation", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        # Keras lower-cases the name before checking it.
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (2, 3, 2))]),
            ({"size": [1, 3]}, [TensorType("float32", (None, 2, 2))]),
            ({"size": [3, 2], "data_format": "channels_first"}, [TensorType("int64", (2, 2, 3))]),
            ({"interpolation": "bilinear"}, [TensorType("float32", (3, 1, 2))]),
            (
                {"size": [3, 4], "interpolation": "bilinear", "data_format": "channels_first"},
                [TensorType("float32", (2, None, 3))],
            ),
            ({"size": [2, 3], "interpolation": "bicubic"}, [TensorType("float32", (4, 3, 2))]),
            ({"size": 2, "interpolation": "lanczos3"}, [TensorType("float32", (3, 4, 1))]),
            (
                {"size": [3, 1], "interpolation": "lanczos5", "data_format": "channels_first"},
                [TensorType("float16", (2, 6, 2))],
            ),
        ]


@LAYERS.register
class UpSampling3D(_UpSampling):
    """UpSampling3D: y[i, j, l] = x[i // s0, j // s1, l // s2] for size = [s0, s1, s2].

    (batch, d1, d2, d3, c) -> (batch, d1 * s0, d2 * s1, d3 * s2, c); channels_first:
    (batch, c, d1, d2, d3) likewise.
    """

    type: Literal["UpSampling3D"]
    spatial_rank: ClassVar[int] = 3
    size: int | list[int] = 2
    data_format: DataFormat = "channels_last"

    @field_validator("size")
    @classmethod
    def _valid_size(cls, value: Any) -> Any:
        int_tuple(value, cls.spatial_rank, "size")
        return value

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (2, 1, 2, 2))]),
            ({"size": [1, 2, 3]}, [TensorType("float32", (2, None, 2, 1))]),
            (
                {"size": [2, 1, 2], "data_format": "channels_first"},
                [TensorType("float32", (2, 2, 3, 1))],
            ),
        ]
