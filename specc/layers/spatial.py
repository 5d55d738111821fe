"""ZeroPadding1D/2D/3D, and the base every spatial layer shares (padding, cropping,
pooling, upsampling).

A spatial layer reads (batch, *spatial, channels) data, or (batch, channels, *spatial)
with ``data_format: channels_first`` (where Keras offers it). Either way the lowering sees
channels-first values, ONNX's layout: channels_last data is transposed by the layout pass
(``layout() == "channels_first"``), which inserts nothing between two such layers, so a
Conv -> ZeroPadding -> Conv chain stays channels-first throughout.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from specc.graph import Value
from specc.layers.base import LAYERS, DataFormat, Layer, Layout, LowerContext, ShapeError
from specc.layers.core import passthrough_dtype, passthrough_input
from specc.lazy_numpy import np
from specc.types import Dim, TensorType

# ONNX Slice reads an end past the axis as "to the end"; the largest int64 is the idiom.
INT64_MAX = 2**63 - 1  # np.iinfo(np.int64).max
# Spatial axis names in Keras's docstrings, by number of spatial axes.
AXIS_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("dim1", "dim2", "dim3")}


def int_tuple(
    value: int | list[int], n: int, name: str, minimum: int = 1, whole: Any = None
) -> tuple[int, ...]:
    """Keras's ``standardize_tuple``: an int means n copies; a list must hold n ints >= minimum.

    Raises ``ValueError`` (a validation error at the argument) otherwise; the message shows
    ``whole`` (default ``value``) as the argument's value.
    """
    shown = value if whole is None else whole
    values = (value,) * n if isinstance(value, int) else tuple(value)
    if len(values) != n:
        raise ValueError(f"{name} must be an integer or a list of {n} integers; got {name}={shown}")
    bad = [v for v in values if v < minimum]
    if bad:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must hold {kind} integers; got {bad[0]} in {name}={shown}")
    return values


def int_pairs(value: int | list[Any], n: int, name: str) -> tuple[tuple[int, int], ...]:
    """Keras's per-axis (before, after) amounts for ``padding`` and ``cropping``.

    An int is used for both sides of every axis. For one spatial axis a list is the pair
    ``[before, after]``; for n axes a list holds one entry per axis, each an int (both
    sides) or a pair. Every amount must be >= 0; raises ``ValueError`` otherwise.
    """
    if isinstance(value, int):
        entries: list[Any] = [value] * n
    elif n == 1:
        entries = [value]
    else:
        entries = list(value)
    if len(entries) != n:
        raise ValueError(
            f"{name} must be an integer, or a list of {n} entries (one per spatial axis, "
            f"each an integer or a [before, after] pair); got {name}={value}"
        )
    pairs = []
    for entry in entries:
        if isinstance(entry, list) and not all(isinstance(v, int) for v in entry):
            raise ValueError(
                f"{name} entries must be integers or [before, after] pairs of integers; "
                f"got {name}={value}"
            )
        before, after = int_tuple(entry, 2, name, minimum=0, whole=value)
        pairs.append((before, after))
    return tuple(pairs)


class SpatialLayer(Layer):
    """Base of layers over data with ``spatial_rank`` spatial axes plus a channel axis.

    Subclasses that take ``data_format`` declare the field; Cropping1D and UpSampling1D do
    not (Keras's are channels_last only).
    """

    spatial_rank: ClassVar[int]

    @property
    def channels_first(self) -> bool:
        """Whether the spec's data is (batch, channels, *spatial)."""
        return getattr(self, "data_format", "channels_last") == "channels_first"

    def layout(self, inputs: list[TensorType]) -> Layout:
        # channels_first data already is in ONNX's layout; channels_last is transposed.
        return "native" if self.channels_first else "channels_first"

    def _axes_text(self) -> str:
        names = AXIS_NAMES[self.spatial_rank]
        if self.spatial_rank == 1 and not hasattr(self, "data_format"):
            return "(batch, steps, features)"
        axes = ("channels", *names) if self.channels_first else (*names, "channels")
        return "(batch, " + ", ".join(axes) + ")"

    def split(self, x: TensorType) -> tuple[tuple[Dim, ...], Dim]:
        """The input's spatial dims and channels; a ShapeError on the wrong rank."""
        if x.rank != self.spatial_rank + 2:
            raise ShapeError(
                f"{self.type_name()} needs a {self.spatial_rank + 2}D input "
                f"{self._axes_text()}; got {x} (rank {x.rank})"
            )
        if self.channels_first:
            return x.shape[1:], x.shape[0]
        return x.shape[:-1], x.shape[-1]

    def join(self, dtype: str, spatial: tuple[Dim, ...], channels: Dim) -> TensorType:
        """A type with these spatial dims and channels, in the spec's data format."""
        if self.channels_first:
            return TensorType(dtype, (channels, *spatial))
        return TensorType(dtype, (*spatial, channels))

    def to_channels_last(self, x: np.ndarray) -> np.ndarray:
        """A reference's input in channels_last order (float64 for floating point)."""
        if x.dtype.kind == "f":
            x = x.astype(np.float64)
        return np.moveaxis(x, 1, -1) if self.channels_first else x

    def from_channels_last(self, y: np.ndarray) -> np.ndarray:
        """A reference's channels_last result back in the spec's data format."""
        return np.moveaxis(y, -1, 1) if self.channels_first else y


def spatial_axes(layer: SpatialLayer) -> list[int]:
    """The spatial axes of the channels-first values the lowering sees."""
    return list(range(2, 2 + layer.spatial_rank))


class _Padding(SpatialLayer):
    """ZeroPadding: y = x with ``padding[i] = (before, after)`` zeros around spatial axis i."""

    padding: int | list[int | list[int]] = 1

    @field_validator("padding")
    @classmethod
    def _valid_padding(cls, value: Any) -> Any:
        int_pairs(value, cls.spatial_rank, "padding")
        return value

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        spatial, channels = self.split(x)
        pairs = int_pairs(self.padding, self.spatial_rank, "padding")
        out = tuple(
            None if d is None else d + a + b for d, (a, b) in zip(spatial, pairs, strict=True)
        )
        return [self.join(passthrough_dtype(x), out, channels)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = passthrough_input(ctx, inputs[0], input_types[0])
        pairs = int_pairs(self.padding, self.spatial_rank, "padding")
        pads = [0, 0, *(a for a, _ in pairs), 0, 0, *(z for _, z in pairs)]
        # Constant mode, whose value defaults to zero of x's type: the only Pad mode the
        # training engine differentiates.
        return [b.op("Pad", x, b.constant(pads, np.int64, hint="pads"), mode="constant")]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = self.to_channels_last(inputs[0])
        pairs = int_pairs(self.padding, self.spatial_rank, "padding")
        out_shape = list(x.shape)
        for i, (a, z) in enumerate(pairs, start=1):
            out_shape[i] += a + z
        y = np.zeros(out_shape, x.dtype)
        inner = tuple(slice(a, a + n) for (a, _), n in zip(pairs, x.shape[1:-1], strict=True))
        y[(slice(None), *inner, slice(None))] = x
        return [self.from_channels_last(y)]


@LAYERS.register
class ZeroPadding1D(_Padding):
    """ZeroPadding1D: (batch, steps, features) -> (batch, before + steps + after, features).

    ``padding``: an int (both sides) or ``[before, after]``. channels_first (as Keras 3
    accepts): (batch, features, steps) likewise.
    """

    type: Literal["ZeroPadding1D"]
    spatial_rank: ClassVar[int] = 1
    padding: int | list[int] = 1
    data_format: DataFormat = "channels_last"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (4, 3))]),
            ({"padding": [0, 3]}, [TensorType("float32", (None, 2))]),
            ({"padding": 2}, [TensorType("int32", (3, 2))]),
            ({"padding": [2, 1], "data_format": "channels_first"}, [TensorType("float32", (2, 3))]),
        ]


@LAYERS.register
class ZeroPadding2D(_Padding):
    """ZeroPadding2D: (batch, h, w, c) -> (batch, h + top + bottom, w + left + right, c).

    ``padding``: an int, ``[h, w]`` (symmetric per axis) or ``[[top, bottom], [left,
    right]]``; entries may mix both forms. channels_first: (batch, c, h, w) likewise.
    """

    type: Literal["ZeroPadding2D"]
    spatial_rank: ClassVar[int] = 2
    data_format: DataFormat = "channels_last"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 4, 2))]),
            ({"padding": [[0, 2], [1, 0]]}, [TensorType("float32", (None, 3, 2))]),
            (
                {"padding": [2, [0, 1]], "data_format": "channels_first"},
                [TensorType("float32", (2, 3, 3))],
            ),
        ]


@LAYERS.register
class ZeroPadding3D(_Padding):
    """ZeroPadding3D: (batch, d1, d2, d3, c) -> each d_i grown by its before + after.

    ``padding``: an int, three ints, or three ``[before, after]`` pairs (mixable).
    """

    type: Literal["ZeroPadding3D"]
    spatial_rank: ClassVar[int] = 3
    data_format: DataFormat = "channels_last"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (2, 3, 2, 2))]),
            ({"padding": [[1, 0], 0, [0, 2]]}, [TensorType("float32", (2, None, 3, 1))]),
            (
                {"padding": [1, 2, 0], "data_format": "channels_first"},
                [TensorType("float32", (2, 2, 1, 3))],
            ),
        ]
