"""Pooling layers: MaxPooling1D/2D/3D and AveragePooling1D/2D/3D (and Keras's aliases).

Keras 3's rules (``compute_pooling_output_shape`` and the backends' pools): per spatial
axis with size n, window k and stride s,

    valid: out = floor((n - k) / s) + 1   (at least 1, else an error)
    same:  out = ceil(n / s), padded with total = max((out - 1) * s + k - n, 0) entries,
           total // 2 before and the rest (the odd one) after, as TensorFlow pads.

Max pooling reads the padding as -inf; average pooling leaves it out of the average (the
divisor counts only real entries). The lowering (``pooling_ops``) uses explicit pads, never
``auto_pad``, and only ops whose gradients the training engine gets right.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar, Literal

from pydantic import ValidationInfo, field_validator

from specc.graph import Value
from specc.layers.base import LAYERS, LowerContext, ShapeError, expect_float, float_input
from specc.layers.pooling_ops import Windows, average_pool, max_pool
from specc.layers.spatial import DataFormat, SpatialLayer, int_tuple
from specc.lazy_numpy import np
from specc.types import Dim, TensorType


class _Pooling(SpatialLayer):
    """Shared config, shapes and lowering of the max and average pools."""

    mode: ClassVar[Literal["max", "average"]]
    pool_size: int | list[int] = 2
    strides: int | list[int] | None = None
    padding: Literal["valid", "same"] = "valid"
    data_format: DataFormat = "channels_last"

    @field_validator("pool_size", "strides")
    @classmethod
    def _valid_tuple(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            int_tuple(value, cls.spatial_rank, info.field_name or "pool_size")
        return value

    def _window(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(pool_size, strides) per spatial axis; strides default to pool_size."""
        k = int_tuple(self.pool_size, self.spatial_rank, "pool_size")
        s = k if self.strides is None else int_tuple(self.strides, self.spatial_rank, "strides")
        return k, s

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        spatial, channels = self.split(x)
        expect_float(self.type_name(), x)
        k, s = self._window()
        out: list[Dim] = []
        for i, n in enumerate(spatial):
            if n is None:
                out.append(None)
            elif self.padding == "same":
                out.append(math.ceil(n / s[i]))
            elif n < k[i]:
                raise ShapeError(
                    f"{self.type_name()} with padding 'valid' needs every spatial axis at "
                    f"least as long as pool_size {list(k)}; got input {x}, whose spatial "
                    f"axis {i + 1} has size {n} < {k[i]}",
                    field="pool_size",
                )
            else:
                out.append((n - k[i]) // s[i] + 1)
        return [self.join("float32", tuple(out), channels)]

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        (x,) = inputs
        k, _ = self._window()
        if self.mode == "average":
            # The window sums are a convolution with a constant kernel of the window's size.
            return [("a pooling window", TensorType("float32", k, batched=False))]
        if None in self.split(x)[0]:
            # With a variable size, the maximum is taken over one slice per window position.
            (out,) = self.output_types(inputs)
            return [("its window slices", out.with_shape((math.prod(k), *out.shape)))]
        return []

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        spatial, channels = self.split(t)
        k, s = self._window()
        windows = Windows(k, s, spatial, self.padding == "same")
        if self.mode == "max":
            return [max_pool(b, x, windows)]
        return [average_pool(b, x, windows, channels)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = self.to_channels_last(inputs[0])
        k, s = self._window()
        sizes = x.shape[1:-1]
        # Each window covers [o * s - before, o * s - before + k) on each axis, clipped to
        # the input: clipping is exactly "padding ignored" for both max and mean.
        if self.padding == "same":
            outs = [-(-n // st) for n, st in zip(sizes, s, strict=True)]
            befores = [
                max((o - 1) * st + kk - n, 0) // 2
                for o, st, kk, n in zip(outs, s, k, sizes, strict=True)
            ]
        else:
            outs = [(n - kk) // st + 1 for n, kk, st in zip(sizes, k, s, strict=True)]
            befores = [0] * len(sizes)
        y = np.empty((x.shape[0], *outs, x.shape[-1]))
        for pos in itertools.product(*(range(o) for o in outs)):
            window = tuple(
                slice(max(o * st - bf, 0), min(o * st - bf + kk, n))
                for o, st, bf, kk, n in zip(pos, s, befores, k, sizes, strict=True)
            )
            block = x[(slice(None), *window, slice(None))]
            block = block.reshape(x.shape[0], -1, x.shape[-1])
            pooled = block.max(axis=1) if self.mode == "max" else block.mean(axis=1)
            y[(slice(None), *pos, slice(None))] = pooled
        return [self.from_channels_last(y)]


@LAYERS.register
class MaxPooling1D(_Pooling):
    """MaxPooling1D: y[t] = max of x over window t (size pool_size, stride strides).

    (batch, steps, features) -> (batch, out_steps, features); channels_first swaps the
    last two axes. Shapes and padding as the module docstring says.
    """

    type: Literal["MaxPooling1D", "MaxPool1D"]
    spatial_rank: ClassVar[int] = 1
    mode: ClassVar[Literal["max", "average"]] = "max"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (7, 3))]),
            ({"pool_size": 3, "strides": 2, "padding": "same"}, [TensorType("float32", (8, 2))]),
            ({"pool_size": 2, "strides": 3}, [TensorType("float32", (None, 2))]),
            ({"pool_size": 4, "strides": 3, "padding": "same"}, [TensorType("float32", (None, 2))]),
            (
                {
                    "pool_size": [3],
                    "strides": 1,
                    "padding": "same",
                    "data_format": "channels_first",
                },
                [TensorType("float16", (2, 5))],
            ),
        ]


@LAYERS.register
class MaxPooling2D(_Pooling):
    """MaxPooling2D: y[i, j] = max of x over window (i, j).

    (batch, h, w, c) -> (batch, out_h, out_w, c); channels_first: (batch, c, h, w).
    """

    type: Literal["MaxPooling2D", "MaxPool2D"]
    spatial_rank: ClassVar[int] = 2
    mode: ClassVar[Literal["max", "average"]] = "max"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5, 4, 2))]),
            (
                {"pool_size": [3, 2], "strides": [2, 1], "padding": "same"},
                [TensorType("float32", (6, 5, 2))],
            ),
            (
                {"pool_size": 2, "strides": 1, "data_format": "channels_first"},
                [TensorType("float32", (2, 3, 4))],
            ),
            (
                {"pool_size": 3, "strides": 2, "padding": "same"},
                [TensorType("float32", (None, 5, 2))],
            ),
        ]


@LAYERS.register
class MaxPooling3D(_Pooling):
    """MaxPooling3D: y[i, j, l] = max of x over window (i, j, l).

    (batch, d1, d2, d3, c) -> (batch, o1, o2, o3, c); channels_first: (batch, c, d1, d2, d3).
    """

    type: Literal["MaxPooling3D", "MaxPool3D"]
    spatial_rank: ClassVar[int] = 3
    mode: ClassVar[Literal["max", "average"]] = "max"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (4, 5, 3, 2))]),
            (
                {"pool_size": [2, 3, 1], "strides": [1, 2, 2], "padding": "same"},
                [TensorType("float32", (3, 4, 5, 1))],
            ),
            (
                {"pool_size": 2, "data_format": "channels_first"},
                [TensorType("float32", (2, 4, 3, 3))],
            ),
        ]


@LAYERS.register
class AveragePooling1D(_Pooling):
    """AveragePooling1D: y[t] = mean of x over the real (unpadded) entries of window t.

    (batch, steps, features) -> (batch, out_steps, features); channels_first swaps the
    last two axes.
    """

    type: Literal["AveragePooling1D", "AvgPool1D"]
    # Keras's average pools have no default window, unlike its max pools.
    pool_size: int | list[int]
    spatial_rank: ClassVar[int] = 1
    mode: ClassVar[Literal["max", "average"]] = "average"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"pool_size": 2}, [TensorType("float32", (7, 3))]),
            ({"pool_size": 4, "strides": 3, "padding": "same"}, [TensorType("float32", (8, 2))]),
            ({"pool_size": 2, "strides": 3}, [TensorType("float32", (None, 2))]),
            ({"pool_size": 4, "strides": 3, "padding": "same"}, [TensorType("float32", (None, 2))]),
            (
                {"pool_size": 3, "strides": 1, "padding": "same", "data_format": "channels_first"},
                [TensorType("float16", (2, 5))],
            ),
        ]


@LAYERS.register
class AveragePooling2D(_Pooling):
    """AveragePooling2D: y[i, j] = mean of x over the real entries of window (i, j).

    (batch, h, w, c) -> (batch, out_h, out_w, c); channels_first: (batch, c, h, w).
    """

    type: Literal["AveragePooling2D", "AvgPool2D"]
    # Keras's average pools have no default window, unlike its max pools.
    pool_size: int | list[int]
    spatial_rank: ClassVar[int] = 2
    mode: ClassVar[Literal["max", "average"]] = "average"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"pool_size": 2}, [TensorType("float32", (5, 4, 2))]),
            (
                {"pool_size": [3, 2], "strides": [2, 1], "padding": "same"},
                [TensorType("float32", (6, 5, 2))],
            ),
            (
                {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"},
                [TensorType("float32", (2, 5, 4))],
            ),
            (
                {"pool_size": [2, 3], "strides": 2, "padding": "same"},
                [TensorType("float32", (None, 5, 2))],
            ),
        ]


@LAYERS.register
class AveragePooling3D(_Pooling):
    """AveragePooling3D: y[i, j, l] = mean of x over the real entries of window (i, j, l).

    (batch, d1, d2, d3, c) -> (batch, o1, o2, o3, c); channels_first: (batch, c, d1, d2, d3).
    """

    type: Literal["AveragePooling3D", "AvgPool3D"]
    # Keras's average pools have no default window, unlike its max pools.
    pool_size: int | list[int]
    spatial_rank: ClassVar[int] = 3
    mode: ClassVar[Literal["max", "average"]] = "average"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"pool_size": 2}, [TensorType("float32", (4, 5, 3, 2))]),
            (
                {"pool_size": [2, 3, 2], "strides": [1, 2, 2], "padding": "same"},
                [TensorType("float32", (3, 4, 5, 1))],
            ),
            (
                {"pool_size": 2, "strides": 1, "data_format": "channels_first"},
                [TensorType("float32", (2, 3, 3, 2))],
            ),
        ]
