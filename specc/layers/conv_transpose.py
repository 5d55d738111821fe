"""Conv1DTranspose, Conv2DTranspose, Conv3DTranspose: the adjoint of a strided convolution.

y = activation(conv_transpose(x, kernel) + bias): every input pixel p adds x[p] times the
kernel at output positions p * s + t * d, and Keras keeps a window of that scatter.
Shapes (channels_last): (batch, *spatial, in) -> (batch, *out, filters), per axis with
k_eff = (k - 1) * d + 1 (Keras's deconv_output_length):
  'valid': out = (n - 1) * s + k_eff + output_padding   (default max(k_eff, s) - k_eff)
  'same':  out = n * s, or (n - 1) * s + k_eff % 2 + output_padding when it is given.
Weights: kernel [*kernel_size, filters, in], bias [filters].

onnxruntime-training 1.19.2 has no ConvTranspose gradient, so the layer is lowered as the
equivalent convolution, as Keras's JAX backend computes it: zeros inserted between input
pixels (Unsqueeze -> Pad -> Reshape), Keras's (left, right) padding, then a stride-1 Conv
with the kernel flipped (Gather with reversed indices) and transposed to [filters, in, *k].
The zero-inserted axis already ends with s - 1 zeros; a Slice removes any that the right
padding does not want.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from specc.fields import (
    ActivationField,
    ConstraintField,
    InitializerField,
    RegularizerField,
    initializer,
)
from specc.graph import GraphBuilder, Value
from specc.layers import conv_reference as ref
from specc.layers.base import LAYERS, WeightSpec, configured_weight, optional_bias
from specc.layers.conv_common import (
    ConvBase,
    DataFormat,
    Padding,
    PaddingArg,
    SizeArg,
    as_tuple,
    check_length,
)
from specc.layers.conv_emit import emit_conv, flipped_weight, insert_zeros
from specc.lazy_numpy import np
from specc.types import Dim, TensorType


def transpose_pads(
    k_eff: int, stride: int, padding: str, output_padding: int | None
) -> tuple[int, int]:
    """Zeros around the zero-inserted input (length (n - 1) * s + 1) of one axis, from
    Keras's _convert_conv_transpose_padding_args_from_keras_to_jax."""
    if padding == "valid":
        extra = max(k_eff, stride) - k_eff if output_padding is None else output_padding
        return k_eff - 1, k_eff - 1 + extra
    # Keras's totals: n * s outputs by default, else (n - 1) * s + k_eff % 2 + output_padding.
    extra = stride - k_eff % 2 if output_padding is None else output_padding
    total = k_eff + k_eff % 2 - 2 + extra
    left = min(total // 2 + total % 2, k_eff - 1)
    return left, total - left


class ConvTranspose(ConvBase):
    """The N-D transposed convolution (Keras's BaseConvTranspose)."""

    filters: int = Field(gt=0)
    kernel_size: SizeArg
    strides: SizeArg = 1
    padding: Padding = "valid"
    output_padding: PaddingArg | None = None
    data_format: DataFormat = "channels_last"
    dilation_rate: SizeArg = 1
    activation: ActivationField | None = None
    use_bias: bool = True
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    @field_validator("output_padding")
    @classmethod
    def _below_strides(cls, value: Any, info: ValidationInfo) -> Any:
        value = check_length(cls, value, info)
        strides = info.data.get("strides")
        if value is None or strides is None:
            return value
        pairs = zip(as_tuple(value, cls.rank), as_tuple(strides, cls.rank), strict=True)
        if any(p >= s for p, s in pairs):
            # Keras's TensorFlow backend rejects these and its PyTorch backend clamps them,
            # so no output would be portable.
            raise ValueError(
                "output_padding must be smaller than strides on every axis; "
                f"got output_padding={value} and strides={strides}"
            )
        return value

    @property
    def extra(self) -> tuple[int | None, ...]:
        """output_padding per axis (None: Keras's default)."""
        if self.output_padding is None:
            return (None,) * self.rank
        return as_tuple(self.output_padding, self.rank)

    def out_channels(self, channels: int) -> int:
        return self.filters

    def out_spatial(self, spatial: tuple[Dim, ...]) -> tuple[Dim, ...]:
        out: list[Dim] = []
        for n, k, s, op in zip(spatial, self.dilated_kernel, self.stride, self.extra, strict=True):
            if n is None:
                out.append(None)
            elif self.padding == "valid":
                out.append((n - 1) * s + k + (max(k, s) - k if op is None else op))
            else:
                out.append(n * s if op is None else (n - 1) * s + k % 2 + op)
        return tuple(out)

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        _, channels = self.split(inputs[0])
        assert channels is not None  # output_types rejected an unknown channel count
        return [
            configured_weight(self, "kernel", (*self.kernel, self.filters, channels)),
            *optional_bias(self, (self.filters,)),
        ]

    def lower_channels_first(
        self, b: GraphBuilder, x: Value, x_type: TensorType, weights: dict[str, Value]
    ) -> Value:
        spatial, _ = self.split(x_type)
        if max(self.stride) > 1:
            x = insert_zeros(b, x, spatial, self.stride)
        pads: list[tuple[int, int] | None] = []
        crops: list[int] = []
        for k, s, op in zip(self.dilated_kernel, self.stride, self.extra, strict=True):
            left, right = transpose_pads(k, s, self.padding, op)
            # The zero-inserted axis (length n * s) already ends with s - 1 zeros.
            end = right - (s - 1)
            pads.append((left, max(end, 0)))
            crops.append(max(-end, 0))
        if any(crops):
            axes = [i + 2 for i, c in enumerate(crops) if c]

            def ints(values: list[int]) -> Value:
                return b.constant(values, np.int64, hint="slice")

            x = b.op(
                "Slice",
                x,
                ints([0] * len(axes)),
                ints([-c for c in crops if c]),
                ints(axes),
                ints([1] * len(axes)),
            )
        return emit_conv(
            b,
            x,
            flipped_weight(b, weights["kernel"], self.kernel),
            weights.get("bias"),
            pads,
            self.kernel,
            (1,) * self.rank,
            self.dilation,
        )

    def reference_channels_last(self, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        op = None if self.output_padding is None else as_tuple(self.output_padding, self.rank)
        y = ref.conv_transpose(x, weights["kernel"], self.stride, self.dilation, self.padding, op)
        return y + weights["bias"] if self.use_bias else y


@LAYERS.register
class Conv1DTranspose(ConvTranspose):
    """Conv1DTranspose: y = activation(conv1d_transpose(x, kernel) + bias), the adjoint of Conv1D.

    (batch, steps, in) -> (batch, new_steps, filters); kernel [k, filters, in], bias [filters].
    """

    type: Literal["Conv1DTranspose"]
    rank: ClassVar[int] = 1

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"filters": 3, "kernel_size": 3, "strides": 2}, [TensorType("float32", (5, 2))]),
            (
                {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
                [TensorType("float32", (None, 3))],
            ),
            # Right padding short of the s - 1 trailing zeros: the input is cropped.
            (
                {
                    "filters": 2,
                    "kernel_size": 2,
                    "strides": 3,
                    "padding": "same",
                    "output_padding": 1,
                },
                [TensorType("float32", (4, 2))],
            ),
            (
                {"filters": 2, "kernel_size": 1, "strides": 2, "output_padding": 0},
                [TensorType("float32", (4, 3))],
            ),
            (
                {
                    "filters": 3,
                    "kernel_size": 3,
                    "dilation_rate": 2,
                    "data_format": "channels_first",
                    "activation": "tanh",
                },
                [TensorType("float32", (2, 6))],
            ),
        ]


@LAYERS.register
class Conv2DTranspose(ConvTranspose):
    """Conv2DTranspose: y = activation(conv2d_transpose(x, kernel) + bias), the adjoint of Conv2D.

    (batch, h, w, in) -> (batch, h', w', filters); kernel [kh, kw, filters, in], bias [filters].
    """

    type: Literal["Conv2DTranspose"]
    rank: ClassVar[int] = 2

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            (
                {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
                [TensorType("float32", (3, 4, 3))],
            ),
            (
                {
                    "filters": 3,
                    "kernel_size": [2, 3],
                    "strides": [2, 1],
                    "output_padding": [1, 0],
                    "data_format": "channels_first",
                },
                [TensorType("float32", (2, 3, 4))],
            ),
            (
                {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
                [TensorType("float32", (None, None, 2))],
            ),
            (
                {
                    "filters": 2,
                    "kernel_size": 3,
                    "strides": [3, 2],
                    "padding": "same",
                    "output_padding": [2, 0],
                    "use_bias": False,
                },
                [TensorType("float32", (3, 3, 2))],
            ),
        ]


@LAYERS.register
class Conv3DTranspose(ConvTranspose):
    """Conv3DTranspose: y = activation(conv3d_transpose(x, kernel) + bias), the adjoint of Conv3D.

    (batch, d, h, w, in) -> (batch, d', h', w', filters); kernel [kd, kh, kw, filters, in],
    bias [filters].
    """

    type: Literal["Conv3DTranspose"]
    rank: ClassVar[int] = 3

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            (
                {"filters": 2, "kernel_size": 2, "strides": [2, 1, 1], "padding": "same"},
                [TensorType("float32", (2, 3, 2, 2))],
            ),
            (
                {
                    "filters": 1,
                    "kernel_size": [1, 2, 2],
                    "strides": 2,
                    "output_padding": [1, 0, 1],
                    "data_format": "channels_first",
                },
                [TensorType("float32", (2, 2, 2, 3))],
            ),
        ]
