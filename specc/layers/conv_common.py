"""What every convolution layer shares: argument types and checks, Keras's shape rules.

The layers (conv.py, conv_transpose.py, conv_depthwise.py, conv_separable.py) derive from
``ConvBase``, which checks the input, applies Keras's output-shape rules and wraps each
layer's channels-first lowering (built from conv_emit.py) in its layout. ONNX convolutions
are channels-first, so a channels_last layer asks for ``channels_first`` inputs
(specc.layers.layout) and a chain of them is transposed once on the way in and once out.
Each layer's NumPy reference comes from conv_reference.py, which shares nothing with the
lowering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import ValidationInfo, WithJsonSchema, field_validator

from specc.graph import GraphBuilder, Value
from specc.layers.base import (
    DataFormat,
    Layer,
    Layout,
    LowerContext,
    ShapeError,
    activate,
    activate_np,
    expect_float,
    float_input,
)
from specc.lazy_numpy import np
from specc.registry import INT64_MAX
from specc.types import Dim, TensorType

if TYPE_CHECKING:
    from specc.activations import Activation

# Keras takes an int for every axis, or one int per spatial axis. The bounds are checked by
# check_length, so that a bad entry gets one message at the argument rather than one per
# branch of the union; the JSON Schema still states them.
_Positive = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1})]
_NonNegative = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 0})]
SizeArg = _Positive | list[_Positive]
PaddingArg = _NonNegative | list[_NonNegative]
Padding = Literal["valid", "same"]

SPATIAL_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def as_tuple(value: int | list[int], rank: int) -> tuple[int, ...]:
    """Keras's standardize_tuple: one int repeated per spatial axis, or the list as given."""
    return (value,) * rank if isinstance(value, int) else tuple(value)


def check_length(cls: type, value: Any, info: ValidationInfo) -> Any:
    """Keras's standardize_tuple: one entry per spatial axis, each positive (at least 0
    for output_padding)."""
    if value is None:
        return value
    rank = cls.rank  # type: ignore[attr-defined]
    name = info.field_name
    if isinstance(value, list) and len(value) != rank:
        raise ValueError(
            f"{name} must be an integer or a list of {rank} integers; got {name}={value}"
        )
    low = 0 if name == "output_padding" else 1
    if min(as_tuple(value, rank)) < low:
        words = "at least 0" if low == 0 else "positive"
        raise ValueError(f"{name} must be {words} on every axis; got {name}={value}")
    return value


def check_dilation(cls: type, value: Any, info: ValidationInfo) -> Any:
    """Keras refuses strides > 1 together with dilation_rate > 1 (ambiguous in TF)."""
    value = check_length(cls, value, info)
    strides = info.data.get("strides")
    if strides is None:
        return value  # strides failed its own validation and was reported
    rank = cls.rank  # type: ignore[attr-defined]
    if max(as_tuple(strides, rank)) > 1 and max(as_tuple(value, rank)) > 1:
        raise ValueError(
            "strides > 1 cannot be combined with dilation_rate > 1 (as in Keras); "
            f"got strides={strides} and dilation_rate={value}"
        )
    return value


def same_pads(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: output ceil(n/s); an odd pixel goes last."""
    total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


def conv_output_size(n: Dim, kernel: int, stride: int, padding: str) -> Dim:
    """Keras's compute_conv_output_shape for one axis (``kernel`` already dilated)."""
    if n is None:
        return None
    if padding == "valid":
        return (n - kernel) // stride + 1
    return -(-n // stride)  # same and causal


class ConvBase(Layer):
    """The shared behaviour of the convolution layers; each family declares its fields.

    Subclasses set ``rank`` and implement ``out_channels``, ``out_spatial``,
    ``lower_channels_first`` and ``reference_channels_last``.
    """

    rank: ClassVar[int] = 2

    if TYPE_CHECKING:  # declared by each family in Keras's argument order
        kernel_size: SizeArg
        strides: SizeArg
        padding: str
        data_format: DataFormat
        dilation_rate: SizeArg
        activation: Activation | None

    # Each family declares these fields; the checks are the same for all of them.
    _lengths = field_validator("kernel_size", "strides", check_fields=False)(
        classmethod(check_length)
    )
    _dilation = field_validator("dilation_rate", check_fields=False)(classmethod(check_dilation))

    # -- argument views --------------------------------------------------------------------

    @property
    def kernel(self) -> tuple[int, ...]:
        """kernel_size, one int per spatial axis."""
        return as_tuple(self.kernel_size, self.rank)

    @property
    def stride(self) -> tuple[int, ...]:
        """strides, one int per spatial axis."""
        return as_tuple(self.strides, self.rank)

    @property
    def dilation(self) -> tuple[int, ...]:
        """dilation_rate, one int per spatial axis."""
        return as_tuple(self.dilation_rate, self.rank)

    @property
    def dilated_kernel(self) -> tuple[int, ...]:
        """The extent a dilated kernel covers: (k - 1) * d + 1."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation, strict=True))

    # -- shapes ----------------------------------------------------------------------------

    def _axes_text(self) -> str:
        names = ", ".join(SPATIAL_NAMES[self.rank])
        if self.data_format == "channels_first":
            return f"(batch, channels, {names})"
        return f"(batch, {names}, channels)"

    def split(self, x: TensorType) -> tuple[tuple[Dim, ...], Dim]:
        """The spatial dims and the channel count of an input, as the data_format says."""
        if self.data_format == "channels_first":
            return x.shape[1:], x.shape[0]
        return x.shape[:-1], x.shape[-1]

    def join(self, spatial: tuple[Dim, ...], channels: int) -> tuple[Dim, ...]:
        """The inverse of ``split``."""
        if self.data_format == "channels_first":
            return (channels, *spatial)
        return (*spatial, channels)

    def input_channels(self, x: TensorType) -> int:
        """Check the input's dtype and rank; its (known) channel count."""
        name = self.type_name()
        expect_float(name, x)
        if x.rank != self.rank + 2:
            raise ShapeError(
                f"{name} needs an input of rank {self.rank + 2} {self._axes_text()}; got {x}"
            )
        _, channels = self.split(x)
        if channels is None:
            axis = "first" if self.data_format == "channels_first" else "last"
            raise ShapeError(
                f"{name} needs a known number of input channels (the {axis} axis of "
                f"{self._axes_text()}) to size its weights; got {x}"
            )
        return channels

    def out_channels(self, channels: int) -> int:
        """The output channel count for ``channels`` input channels (checked)."""
        raise NotImplementedError

    def out_spatial(self, spatial: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """Keras's output spatial dims; ShapeError when one would be empty."""
        raise NotImplementedError

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        if max(self.dilated_kernel) > INT64_MAX:
            # Its extent becomes the pads of the ONNX op, which are 64-bit integers.
            raise ShapeError(
                f"{self.type_name()} kernel_size={self.kernel} with dilation_rate="
                f"{self.dilation} spans {max(self.dilated_kernel)} entries, more than a "
                "64-bit integer holds",
                field="dilation_rate",
            )
        channels = self.out_channels(self.input_channels(x))
        spatial, _ = self.split(x)
        out = self.out_spatial(spatial)
        if any(n is not None and n <= 0 for n in out):
            need = (
                f"every spatial size at least the dilated kernel size {self.dilated_kernel}"
                if self.padding == "valid"
                else "a non-empty output on every spatial axis"
            )
            raise ShapeError(
                f"{self.type_name()} needs {need}; got input {x}, which gives spatial size "
                f"{tuple(out)} with kernel_size={self.kernel}, strides={self.stride}, "
                f"dilation_rate={self.dilation}, padding='{self.padding}'",
                field="kernel_size",
            )
        return [TensorType("float32", self.join(out, channels))]

    def conv_out_spatial(self, spatial: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """compute_conv_output_shape's rule, shared by the forward convolutions."""
        return tuple(
            conv_output_size(n, k, s, self.padding)
            for n, k, s in zip(spatial, self.dilated_kernel, self.stride, strict=True)
        )

    def forward_pads(self, spatial: tuple[Dim, ...]) -> list[tuple[int, int] | None]:
        """Per-axis (begin, end) zeros of a forward convolution, as Keras pads; None for a
        variable axis under 'same' with stride > 1, whose padding depends on its size."""
        pads: list[tuple[int, int] | None] = []
        for n, k, s in zip(spatial, self.dilated_kernel, self.stride, strict=True):
            if self.padding == "valid":
                pads.append((0, 0))
            elif self.padding == "causal":
                pads.append((k - 1, 0))
            elif n is not None:
                pads.append(same_pads(n, k, s))
            elif s == 1:
                # With stride 1 the total is k - 1 whatever the size.
                pads.append(((k - 1) // 2, k - 1 - (k - 1) // 2))
            else:
                pads.append(None)
        return pads

    # -- layout and lowering ---------------------------------------------------------------

    def _self_transposed(self) -> bool:
        # A softmax-style activation needs the spec's axes, so such a layer stays native
        # and moves channels itself around the convolution only.
        pointwise = self.activation is None or self.activation.pointwise
        return self.data_format == "channels_last" and not pointwise

    def layout(self, inputs: list[TensorType]) -> Layout:
        if self.data_format == "channels_last" and not self._self_transposed():
            return "channels_first" if inputs[0].rank >= 3 else "native"
        return "native"

    def lower_channels_first(
        self, b: GraphBuilder, x: Value, x_type: TensorType, weights: dict[str, Value]
    ) -> Value:
        """The convolution and bias on a (batch, channels, *spatial) value."""
        raise NotImplementedError

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        to_first = [0, self.rank + 1, *range(1, self.rank + 1)]
        if self._self_transposed():
            x = b.op("Transpose", x, perm=to_first)
        y = self.lower_channels_first(b, x, t, weights)
        if self._self_transposed():
            y = b.op("Transpose", y, perm=[0, *range(2, self.rank + 2), 1])
        return [activate(b, self.activation, y)]

    def reference_channels_last(self, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        """Keras's maths in float64 on (batch, *spatial, channels) data, before activation."""
        raise NotImplementedError

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        first = self.data_format == "channels_first"
        w = {k: v.astype(np.float64) for k, v in weights.items()}
        y = self.reference_channels_last(np.moveaxis(x, 1, -1) if first else x, w)
        y = np.moveaxis(y, -1, 1) if first else y
        return [activate_np(self.activation, y)]
