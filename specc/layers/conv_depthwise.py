"""DepthwiseConv1D and DepthwiseConv2D: one spatial filter bank per input channel.

y[..., c * m + j] = activation(sum_t x_pad[..., o*s + t*d, c] * kernel[t, c, j] + bias):
(batch, *spatial, in) -> (batch, *out, in * m) with m = depth_multiplier and Conv's
spatial rule (valid / same). Weights, under Keras 3's names: kernel [*k, in, m] (Keras 2
called it depthwise_kernel), bias [in * m].

Lowering: an ONNX Conv with group = in and weight [in * m, 1, *k], Keras's kernel
transposed and reshaped in the graph; output channel c * m + j is group c's j-th filter,
the order Keras uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

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
from specc.layers.conv_common import ConvBase, DataFormat, Padding, SizeArg
from specc.layers.conv_emit import depthwise_weight, emit_conv
from specc.lazy_numpy import np
from specc.types import Dim, TensorType


class DepthwiseBase(ConvBase):
    """What DepthwiseConv and SeparableConv share: the per-channel spatial convolution."""

    if TYPE_CHECKING:  # declared by each family in Keras's argument order
        depth_multiplier: int

    def out_spatial(self, spatial: tuple[Dim, ...]) -> tuple[Dim, ...]:
        return self.conv_out_spatial(spatial)

    def _depthwise_shape(self, channels: int) -> tuple[int, ...]:
        """Keras's depthwise kernel layout: [*kernel_size, in, depth_multiplier]."""
        return (*self.kernel, channels, self.depth_multiplier)

    def _depthwise_spec(self, name: str, channels: int) -> WeightSpec:
        """The depthwise kernel, drawn as the depthwise_* arguments say."""
        return configured_weight(self, name, self._depthwise_shape(channels), "depthwise")

    def _depthwise(
        self, b: GraphBuilder, x: Value, x_type: TensorType, kernel: Value, bias: Value | None
    ) -> Value:
        spatial, channels = self.split(x_type)
        assert channels is not None  # output_types rejected an unknown channel count
        return emit_conv(
            b,
            x,
            depthwise_weight(b, kernel, self._depthwise_shape(channels)),
            bias,
            self.forward_pads(spatial),
            self.kernel,
            self.stride,
            self.dilation,
            group=channels,
        )


class DepthwiseConv(DepthwiseBase):
    """The N-D depthwise convolution (Keras's BaseDepthwiseConv)."""

    kernel_size: SizeArg
    strides: SizeArg = 1
    padding: Padding = "valid"
    depth_multiplier: int = Field(1, gt=0)
    data_format: DataFormat = "channels_last"
    dilation_rate: SizeArg = 1
    activation: ActivationField | None = None
    use_bias: bool = True
    depthwise_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    depthwise_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    depthwise_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    def out_channels(self, channels: int) -> int:
        return channels * self.depth_multiplier

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        _, channels = self.split(inputs[0])
        assert channels is not None  # output_types rejected an unknown channel count
        return [
            self._depthwise_spec("kernel", channels),
            *optional_bias(self, (channels * self.depth_multiplier,)),
        ]

    def lower_channels_first(
        self, b: GraphBuilder, x: Value, x_type: TensorType, weights: dict[str, Value]
    ) -> Value:
        return self._depthwise(b, x, x_type, weights["kernel"], weights.get("bias"))

    def reference_channels_last(self, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        y = ref.depthwise_conv(x, weights["kernel"], self.stride, self.dilation, self.padding)
        return y + weights["bias"] if self.use_bias else y


@LAYERS.register
class DepthwiseConv1D(DepthwiseConv):
    """DepthwiseConv1D: y[..., c*m + j] = activation(conv1d(x[..., c], kernel[:, c, j]) + b).

    (batch, steps, in) -> (batch, new_steps, in * m), m = depth_multiplier; kernel [k, in, m],
    bias [in * m].
    """

    type: Literal["DepthwiseConv1D"]
    rank: ClassVar[int] = 1

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            # 8 steps, k 3, s 2 under 'same': one pixel of padding, after.
            (
                {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2},
                [TensorType("float32", (8, 3))],
            ),
            (
                {
                    "kernel_size": 2,
                    "dilation_rate": 2,
                    "padding": "same",
                    "data_format": "channels_first",
                    "use_bias": False,
                },
                [TensorType("float32", (3, None))],
            ),
        ]


@LAYERS.register
class DepthwiseConv2D(DepthwiseConv):
    """DepthwiseConv2D: y[..., c*m + j] = activation(conv2d(x[..., c], kernel[.., c, j]) + b).

    (batch, h, w, in) -> (batch, h', w', in * m), m = depth_multiplier; kernel [kh, kw, in, m],
    bias [in * m].
    """

    type: Literal["DepthwiseConv2D"]
    rank: ClassVar[int] = 2

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"kernel_size": 3, "padding": "same"}, [TensorType("float32", (5, 4, 2))]),
            (
                {
                    "kernel_size": [2, 3],
                    "depth_multiplier": 3,
                    "dilation_rate": [2, 1],
                    "activation": "tanh",
                },
                [TensorType("float32", (6, 5, 2))],
            ),
            (
                {
                    "kernel_size": 3,
                    "strides": 2,
                    "padding": "same",
                    "data_format": "channels_first",
                },
                [TensorType("float32", (2, None, None))],
            ),
        ]
