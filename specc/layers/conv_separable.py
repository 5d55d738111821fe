"""SeparableConv1D and SeparableConv2D: a depthwise convolution, then a 1x1 convolution.

y = activation(pointwise(depthwise(x)) + bias): (batch, *spatial, in) -> (batch, *out,
filters), the depthwise step with the strides, padding and dilation (Conv's spatial rule),
the pointwise step mixing its in * m channels. Weights: depthwise_kernel [*k, in, m],
pointwise_kernel [1, ..., in * m, filters], bias [filters].

Lowering: the grouped Conv of DepthwiseConv (without bias), then a 1x1 Conv carrying the
bias.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

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
from specc.layers.conv_common import DataFormat, Padding, SizeArg
from specc.layers.conv_depthwise import DepthwiseBase
from specc.layers.conv_emit import conv_weight, emit_conv
from specc.lazy_numpy import np
from specc.types import TensorType


class SeparableConv(DepthwiseBase):
    """The N-D separable convolution (Keras's BaseSeparableConv)."""

    filters: int = Field(gt=0)
    kernel_size: SizeArg
    strides: SizeArg = 1
    padding: Padding = "valid"
    data_format: DataFormat = "channels_last"
    dilation_rate: SizeArg = 1
    depth_multiplier: int = Field(1, gt=0)
    activation: ActivationField | None = None
    use_bias: bool = True
    depthwise_initializer: InitializerField = initializer("glorot_uniform")
    pointwise_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    depthwise_regularizer: RegularizerField | None = None
    pointwise_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    depthwise_constraint: ConstraintField | None = None
    pointwise_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    def out_channels(self, channels: int) -> int:
        return self.filters

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        _, channels = self.split(inputs[0])
        assert channels is not None  # output_types rejected an unknown channel count
        pointwise = (*(1,) * self.rank, channels * self.depth_multiplier, self.filters)
        return [
            self._depthwise_spec("depthwise_kernel", channels),
            configured_weight(self, "pointwise_kernel", pointwise, "pointwise"),
            *optional_bias(self, (self.filters,)),
        ]

    def lower_channels_first(
        self, b: GraphBuilder, x: Value, x_type: TensorType, weights: dict[str, Value]
    ) -> Value:
        y = self._depthwise(b, x, x_type, weights["depthwise_kernel"], None)
        ones = (1,) * self.rank
        pointwise = conv_weight(b, weights["pointwise_kernel"], self.rank)
        return emit_conv(
            b, y, pointwise, weights.get("bias"), [(0, 0)] * self.rank, ones, ones, ones
        )

    def reference_channels_last(self, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        y = ref.depthwise_conv(
            x, weights["depthwise_kernel"], self.stride, self.dilation, self.padding
        )
        # The pointwise step is a matrix product over channels at every pixel.
        y = y @ weights["pointwise_kernel"].reshape(-1, self.filters)
        return y + weights["bias"] if self.use_bias else y


@LAYERS.register
class SeparableConv1D(SeparableConv):
    """SeparableConv1D: y = activation(pointwise(depthwise(x)) + bias) along the steps axis.

    (batch, steps, in) -> (batch, new_steps, filters); depthwise_kernel [k, in, m],
    pointwise_kernel [1, in * m, filters], bias [filters].
    """

    type: Literal["SeparableConv1D"]
    rank: ClassVar[int] = 1

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            (
                {
                    "filters": 4,
                    "kernel_size": 3,
                    "strides": 2,
                    "padding": "same",
                    "depth_multiplier": 2,
                },
                [TensorType("float32", (10, 3))],
            ),
            (
                {
                    "filters": 2,
                    "kernel_size": 2,
                    "dilation_rate": 2,
                    "data_format": "channels_first",
                },
                [TensorType("float32", (3, None))],
            ),
        ]


@LAYERS.register
class SeparableConv2D(SeparableConv):
    """SeparableConv2D: y = activation(pointwise(depthwise(x)) + bias) over height, width.

    (batch, h, w, in) -> (batch, h', w', filters); depthwise_kernel [kh, kw, in, m],
    pointwise_kernel [1, 1, in * m, filters], bias [filters].
    """

    type: Literal["SeparableConv2D"]
    rank: ClassVar[int] = 2

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"filters": 3, "kernel_size": [3, 2]}, [TensorType("float32", (6, 5, 2))]),
            (
                {
                    "filters": 4,
                    "kernel_size": 3,
                    "strides": 2,
                    "padding": "same",
                    "depth_multiplier": 2,
                    "data_format": "channels_first",
                    "use_bias": False,
                },
                [TensorType("float32", (2, 7, 6))],
            ),
            (
                {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
                [TensorType("float32", (None, None, 3))],
            ),
        ]
