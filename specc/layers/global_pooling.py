"""Global pooling: GlobalMaxPooling1D/2D/3D and GlobalAveragePooling1D/2D/3D (and aliases).

Each reduces every spatial axis at once: (batch, *spatial, channels) -> (batch, channels),
or (batch, 1, ..., 1, channels) with ``keepdims`` (channels first with ``data_format:
channels_first``). Lowering, on channels-first values:

    average: GlobalAveragePool (any spatial sizes)
    max:     MaxPool with the whole spatial extent as its window, when every spatial size
             is known; else TopK(k=1) over the spatial axes flattened into one. The engine
             has no gradient for GlobalMaxPool or ReduceMax; MaxPool and TopK have one.

then a Flatten to (batch, channels) unless ``keepdims``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from specc.graph import Value
from specc.layers.base import LAYERS, LowerContext, expect_float, float_input
from specc.layers.spatial import DataFormat, SpatialLayer
from specc.lazy_numpy import np
from specc.types import TensorType


class _GlobalPooling(SpatialLayer):
    """Shared config, shapes and lowering of the global max and average pools."""

    mode: ClassVar[Literal["max", "average"]]
    data_format: DataFormat = "channels_last"
    keepdims: bool = False

    # Keras: GlobalAveragePooling1D supports masking (it reads the mask, its output gets
    # none); the other global pools do not, so a mask stops there (max over the padding
    # too, as Keras warns).
    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        _, channels = self.split(x)
        expect_float(self.type_name(), x)
        if not self.keepdims:
            return [TensorType("float32", (channels,))]
        return [self.join("float32", (1,) * self.spatial_rank, channels)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        spatial, _ = self.split(t)
        if self.mode == "average":
            y = b.op("GlobalAveragePool", x)
        elif None not in spatial:
            y = b.op("MaxPool", x, kernel_shape=list(spatial))
        else:
            # (batch, channels, *spatial) -> (batch, channels, prod(spatial)): the largest
            # of the last axis is the maximum; TopK returns it as a kept axis of size 1.
            flat = b.op("Reshape", x, b.constant([0, 0, -1], np.int64, hint="shape"))
            k = b.constant([1], np.int64, hint="k")
            y, _indices = b.op("TopK", flat, k, axis=-1, outputs=2)
            if self.keepdims:
                ones = [1] * self.spatial_rank
                y = b.op("Reshape", y, b.constant([0, 0, *ones], np.int64, hint="shape"))
        if self.keepdims:
            return [y]
        return [b.op("Flatten", y, axis=1)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = self.to_channels_last(inputs[0])
        axes = tuple(range(1, 1 + self.spatial_rank))
        # Written as an explicit loop over every spatial position, as the definition reads.
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        acc = flat[:, 0, :].copy()
        for p in range(1, flat.shape[1]):
            acc = np.maximum(acc, flat[:, p, :]) if self.mode == "max" else acc + flat[:, p, :]
        y = acc if self.mode == "max" else acc / flat.shape[1]
        if not self.keepdims:
            return [y]
        return [self.from_channels_last(np.expand_dims(y, axes))]


@LAYERS.register
class GlobalMaxPooling1D(_GlobalPooling):
    """GlobalMaxPooling1D: y[c] = max over t of x[t, c].

    (batch, steps, features) -> (batch, features); keepdims: (batch, 1, features).
    """

    type: Literal["GlobalMaxPooling1D", "GlobalMaxPool1D"]
    spatial_rank: ClassVar[int] = 1
    mode: ClassVar[Literal["max", "average"]] = "max"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5, 3))]),
            ({"keepdims": True}, [TensorType("float32", (None, 3))]),
            ({"data_format": "channels_first"}, [TensorType("float16", (3, 4))]),
            (
                {"data_format": "channels_first", "keepdims": True},
                [TensorType("float32", (2, None))],
            ),
        ]


@LAYERS.register
class GlobalMaxPooling2D(_GlobalPooling):
    """GlobalMaxPooling2D: y[c] = max over (i, j) of x[i, j, c].

    (batch, h, w, c) -> (batch, c); keepdims: (batch, 1, 1, c).
    """

    type: Literal["GlobalMaxPooling2D", "GlobalMaxPool2D"]
    spatial_rank: ClassVar[int] = 2
    mode: ClassVar[Literal["max", "average"]] = "max"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 5, 2))]),
            ({"keepdims": True}, [TensorType("float32", (4, 3, 2))]),
            ({}, [TensorType("float32", (None, 3, 2))]),
            (
                {"data_format": "channels_first", "keepdims": True},
                [TensorType("float32", (2, None, None))],
            ),
        ]


@LAYERS.register
class GlobalMaxPooling3D(_GlobalPooling):
    """GlobalMaxPooling3D: y[c] = max over (i, j, l) of x[i, j, l, c].

    (batch, d1, d2, d3, c) -> (batch, c); keepdims: (batch, 1, 1, 1, c).
    """

    type: Literal["GlobalMaxPooling3D", "GlobalMaxPool3D"]
    spatial_rank: ClassVar[int] = 3
    mode: ClassVar[Literal["max", "average"]] = "max"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (2, 3, 2, 2))]),
            ({"keepdims": True}, [TensorType("float32", (2, None, 3, 2))]),
            ({"data_format": "channels_first"}, [TensorType("float32", (2, 3, 2, 2))]),
        ]


@LAYERS.register
class GlobalAveragePooling1D(_GlobalPooling):
    """GlobalAveragePooling1D: y[c] = mean over t of x[t, c].

    (batch, steps, features) -> (batch, features); keepdims: (batch, 1, features).
    """

    type: Literal["GlobalAveragePooling1D", "GlobalAvgPool1D"]
    spatial_rank: ClassVar[int] = 1
    mode: ClassVar[Literal["max", "average"]] = "average"

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        mask = ctx.input_masks[0] if ctx.input_masks else None
        if mask is None:
            return super().lower(ctx, inputs, input_types, weights)
        # Keras's masked mean: sum(x * m) / sum(m) over the steps (0/0 = NaN for a sample
        # whose steps are all masked, as in Keras). The mask reaches the layer's output no
        # further (its compute_mask returns None). Values here are (batch, features, steps).
        b = ctx.builder
        x = float_input(ctx, inputs[0], input_types[0])
        m = b.op("Unsqueeze", mask, b.constant([1], np.int64, hint="axes"))
        total = b.reduce_sum(b.op("Mul", x, m), -1, keepdims=self.keepdims)
        count = b.reduce_sum(m, -1, keepdims=self.keepdims)
        return [b.op("Div", total, count)]

    def masked_reference(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Keras's masked mean of channels_last ``x`` (batch, steps, features) in float64."""
        m = np.asarray(mask, np.float64)[:, :, None]
        with np.errstate(invalid="ignore"):  # an all-padding sample: 0/0, as in Keras
            y = np.sum(np.asarray(x, np.float64) * m, axis=1) / np.sum(m, axis=1)
        return y[:, None, :] if self.keepdims else y

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (5, 3))]),
            ({"keepdims": True}, [TensorType("float32", (None, 3))]),
            ({"data_format": "channels_first"}, [TensorType("float16", (3, 4))]),
        ]


@LAYERS.register
class GlobalAveragePooling2D(_GlobalPooling):
    """GlobalAveragePooling2D: y[c] = mean over (i, j) of x[i, j, c].

    (batch, h, w, c) -> (batch, c); keepdims: (batch, 1, 1, c).
    """

    type: Literal["GlobalAveragePooling2D", "GlobalAvgPool2D"]
    spatial_rank: ClassVar[int] = 2
    mode: ClassVar[Literal["max", "average"]] = "average"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 5, 2))]),
            ({"keepdims": True}, [TensorType("float32", (None, 3, 2))]),
            (
                {"data_format": "channels_first", "keepdims": True},
                [TensorType("float32", (2, 3, 4))],
            ),
        ]


@LAYERS.register
class GlobalAveragePooling3D(_GlobalPooling):
    """GlobalAveragePooling3D: y[c] = mean over (i, j, l) of x[i, j, l, c].

    (batch, d1, d2, d3, c) -> (batch, c); keepdims: (batch, 1, 1, 1, c).
    """

    type: Literal["GlobalAveragePooling3D", "GlobalAvgPool3D"]
    spatial_rank: ClassVar[int] = 3
    mode: ClassVar[Literal["max", "average"]] = "average"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (2, 3, 2, 2))]),
            (
                {"data_format": "channels_first", "keepdims": True},
                [TensorType("float32", (2, None, 2, 3))],
            ),
        ]
