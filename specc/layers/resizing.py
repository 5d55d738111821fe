"""Resizing and CenterCrop: images brought to a fixed height and width, as Keras does on
its JAX backend (``specc.layers.image_resampling`` holds the resampling itself).

Both take (batch, height, width, channels) images (channels_first: (batch, channels,
height, width)) of known height and width, and lower on the channels-first values ONNX
uses: a Slice for crops, a Pad for pad_to_aspect_ratio, then one MatMul (or Gather, for
"nearest") per axis whose size changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from specc.graph import GraphBuilder, Value
from specc.layers.base import LAYERS, DataFormat, LowerContext, ShapeError
from specc.layers.image_resampling import (
    aspect_crop,
    aspect_pad,
    resample,
    resample_reference,
    saturate_cast,
    saturation_limits,
)
from specc.layers.spatial import SpatialLayer
from specc.lazy_numpy import np
from specc.types import FLOAT, INT_DTYPES, TensorType


def _size() -> Any:
    """A target height or width: a positive integer (the size limits bound the output)."""
    return Field(gt=0)


Interpolation = Literal["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"]


@dataclass(frozen=True)
class Steps:
    """What a layer does to images of a given size, in order: crop a window (top, left,
    height, width), pad rows and columns of ``fill`` on both sides, then resample from
    ``size_in`` (the size after those) to the target by ``method``."""

    crop: tuple[int, int, int, int] | None
    pad: tuple[int, int] | None
    size_in: tuple[int, int]
    method: str
    antialias: bool = False
    fill: float = 0.0


def _apply(b: GraphBuilder, x: Value, steps: Steps, size_out: tuple[int, int]) -> Value:
    """``steps`` on channels-first ``x``."""
    if steps.crop is not None:
        top, left, height, width = steps.crop
        starts = b.constant([top, left], np.int64, hint="starts")
        ends = b.constant([top + height, left + width], np.int64, hint="ends")
        x = b.op("Slice", x, starts, ends, b.constant([2, 3], np.int64, hint="axes"))
    if steps.pad is not None:
        rows, columns = steps.pad
        pads = b.constant([0, 0, rows, columns, 0, 0, rows, columns], np.int64, hint="pads")
        fill = b.constant(steps.fill, np.float32, hint="fill_value")
        x = b.op("Pad", x, pads, fill, mode="constant")
    (height, width), method = steps.size_in, steps.method
    x = resample(b, x, 3, 4, width, size_out[1], method, steps.antialias)
    return resample(b, x, 2, 4, height, size_out[0], method, steps.antialias)


def _apply_reference(x: np.ndarray, steps: Steps, size_out: tuple[int, int]) -> np.ndarray:
    """``steps`` on channels-last ``x`` (float64), the resampling pixel by pixel."""
    if steps.crop is not None:
        top, left, height, width = steps.crop
        x = x[:, top : top + height, left : left + width]
    if steps.pad is not None:
        rows, columns = steps.pad
        x = np.pad(
            x, ((0, 0), (rows, rows), (columns, columns), (0, 0)), constant_values=steps.fill
        )
    x = resample_reference(x, 1, size_out[0], steps.method, steps.antialias)
    return resample_reference(x, 2, size_out[1], steps.method, steps.antialias)


class _ImageLayer(SpatialLayer):
    """Images of known height and width brought to ``height`` x ``width``."""

    spatial_rank: ClassVar[int] = 2
    height: int = _size()
    width: int = _size()
    data_format: DataFormat = "channels_last"

    def _size_in(self, x: TensorType) -> tuple[int, int]:
        spatial, _ = self.split(x)
        if spatial[0] is None or spatial[1] is None:
            raise ShapeError(f"{self.type_name()} needs a known height and width; got input {x}")
        return spatial[0], spatial[1]

    def steps(self, height: int, width: int) -> Steps:
        """What this layer does to images of this size."""
        raise NotImplementedError

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        if x.dtype == "bool":
            raise ShapeError(f"{self.type_name()} needs a numeric input; got dtype {x.dtype}")
        self._size_in(x)
        _, channels = self.split(x)
        return [self.join("float32", (self.height, self.width), channels)]

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        steps = self.steps(*self._size_in(inputs[0]))
        if steps.method == "nearest":
            return []  # an index per output pixel
        pairs = zip(steps.size_in, (self.height, self.width), strict=True)
        return [
            ("a resampling matrix", TensorType("float32", (a, z), batched=False))
            for a, z in pairs
            if a != z
        ]

    def _float_input(self, ctx: LowerContext, value: Value, t: TensorType) -> Value:
        return value if t.dtype == "float32" else ctx.builder.op("Cast", value, to=FLOAT)


@LAYERS.register
class Resizing(_ImageLayer):
    """Resizing: images resampled to (height, width) by ``interpolation`` (half-pixel
    centres; antialiased when downscaling with ``antialias``), optionally after cropping
    to the target's aspect ratio (``crop_to_aspect_ratio``) or padding to it with
    ``fill_value`` (``pad_to_aspect_ratio``); (batch, H, W, C) -> (batch, height, width, C),
    float32, or for integer images their dtype (rounded half to even, clipped to its range).
    """

    type: Literal["Resizing"]
    interpolation: Interpolation = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    fill_mode: Literal["constant"] = "constant"
    fill_value: float = Field(0.0, allow_inf_nan=False)
    antialias: bool = False

    @model_validator(mode="after")
    def _one_aspect_mode(self) -> Resizing:
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("only one of pad_to_aspect_ratio and crop_to_aspect_ratio can be true")
        return self

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (y,) = super().output_types(inputs)
        # Integer images come back in their own dtype, rounded (Keras's saturating cast).
        dtype = inputs[0].dtype if inputs[0].dtype in INT_DTYPES else "float32"
        return [TensorType(dtype, y.shape)]

    def steps(self, height: int, width: int) -> Steps:
        crop = pad = None
        if self.crop_to_aspect_ratio:
            crop = aspect_crop(height, width, self.height, self.width, False)
            height, width = crop[2], crop[3]
        elif self.pad_to_aspect_ratio and any(aspect_pad(height, width, self.height, self.width)):
            pad = aspect_pad(height, width, self.height, self.width)
            height, width = height + 2 * pad[0], width + 2 * pad[1]
        size = (height, width)
        return Steps(crop, pad, size, self.interpolation, self.antialias, self.fill_value)

    def _resamples_integers(self, t: TensorType) -> bool:
        """Whether JAX resamples integer images as they are: "nearest" only picks pixels,
        unless padding (a float fill) has made them floats already."""
        nearest = self.interpolation == "nearest"
        return t.dtype in INT_DTYPES and nearest and self.steps(*self._size_in(t)).pad is None

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        as_is = self._resamples_integers(t)
        x = inputs[0] if as_is else self._float_input(ctx, inputs[0], t)
        y = _apply(b, x, self.steps(*self._size_in(t)), (self.height, self.width))
        if t.dtype in INT_DTYPES and not as_is:
            y = saturate_cast(b, b.op("Round", y), t.dtype)
        return [y]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = self.to_channels_last(inputs[0]).astype(np.float64)
        steps = self.steps(x.shape[1], x.shape[2])
        y = _apply_reference(x, steps, (self.height, self.width))
        if inputs[0].dtype.kind == "i":
            low, high = saturation_limits(inputs[0].dtype.name)
            y = np.clip(np.round(y), low, high).astype(inputs[0].dtype)
        return [self.from_channels_last(y)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        image = TensorType("float32", (5, 7, 2))
        return [
            ({"height": 8, "width": 3}, [image]),
            ({"height": 3, "width": 4, "interpolation": "nearest"}, [image]),
            ({"height": 4, "width": 9, "interpolation": "bicubic"}, [image]),
            ({"height": 2, "width": 3, "interpolation": "lanczos3", "antialias": True}, [image]),
            ({"height": 6, "width": 6, "interpolation": "lanczos5"}, [image]),
            ({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, [image]),
            (
                {"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 0.5},
                [image],
            ),
            # Integer images are rounded: a doubling's weights (1/4, 3/4) are exact in
            # float32, so the rounding cannot differ from the float64 reference's.
            ({"height": 10, "width": 14}, [TensorType("int32", (5, 7, 1))]),
            (
                {"height": 4, "width": 9, "interpolation": "nearest"},
                [TensorType("int64", (5, 7, 1))],
            ),
            (
                {"height": 3, "width": 5, "data_format": "channels_first", "antialias": True},
                [TensorType("float16", (2, 6, 6))],
            ),
        ]


@LAYERS.register
class CenterCrop(_ImageLayer):
    """CenterCrop: the centred (height, width) window of each image; an image smaller than
    that on either axis is first cropped to the target's aspect ratio, then resized to it
    (bilinear), as Keras's ``smart_resize``; (batch, H, W, C) -> (batch, height, width, C).
    """

    type: Literal["CenterCrop"]

    def steps(self, height: int, width: int) -> Steps:
        if height >= self.height and width >= self.width:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            # The window has the target's size: nothing is resampled.
            window = (top, left, self.height, self.width)
            return Steps(window, None, (self.height, self.width), "bilinear")
        crop = aspect_crop(height, width, self.height, self.width, True)
        return Steps(crop, None, (crop[2], crop[3]), "bilinear")

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        t = input_types[0]
        x = self._float_input(ctx, inputs[0], t)
        return [_apply(ctx.builder, x, self.steps(*self._size_in(t)), (self.height, self.width))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = self.to_channels_last(inputs[0]).astype(np.float64)
        steps = self.steps(x.shape[1], x.shape[2])
        return [self.from_channels_last(_apply_reference(x, steps, (self.height, self.width)))]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"height": 3, "width": 4}, [TensorType("float32", (5, 7, 2))]),
            ({"height": 2, "width": 2}, [TensorType("int32", (4, 5, 1))]),
            ({"height": 6, "width": 4}, [TensorType("float32", (5, 7, 2))]),
            (
                {"height": 8, "width": 9, "data_format": "channels_first"},
                [TensorType("float32", (2, 5, 6))],
            ),
        ]
