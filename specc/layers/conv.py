"""Conv1D, Conv2D and Conv3D: y = activation(cross_correlate(x, kernel) + bias).

Shapes (channels_last): (batch, *spatial, in) -> (batch, *out, filters), per axis
out = floor((n - k_eff) / s) + 1 under 'valid' and ceil(n / s) under 'same' and 'causal',
with k_eff = (k - 1) * d + 1; a variable (null) axis stays variable. Weights: kernel
[*kernel_size, in / groups, filters], bias [filters].

Lowering: ONNX Conv with explicit pads (TensorFlow's 'same': the odd pixel at the end;
'causal': (k - 1) * d zeros before), the kernel transposed to [filters, in / groups, *k]
in the graph so that the parameter keeps Keras's layout. A variable axis under 'same' with
stride > 1 needs a size-dependent pad: a Pad op computes it at run time.
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
from specc.layers.base import LAYERS, ShapeError, WeightSpec, configured_weight, optional_bias
from specc.layers.conv_common import ConvBase, DataFormat, Padding, SizeArg
from specc.layers.conv_emit import conv_weight, emit_conv
from specc.lazy_numpy import np
from specc.types import Dim, TensorType


class Conv(ConvBase):
    """The N-D convolution shared by Conv1D, Conv2D and Conv3D (Keras's BaseConv)."""

    filters: int = Field(gt=0)
    kernel_size: SizeArg
    strides: SizeArg = 1
    padding: Padding = "valid"
    data_format: DataFormat = "channels_last"
    dilation_rate: SizeArg = 1
    groups: int = Field(1, gt=0)
    activation: ActivationField | None = None
    use_bias: bool = True
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    @field_validator("groups")
    @classmethod
    def _groups_divide_filters(cls, value: int, info: ValidationInfo) -> int:
        filters = info.data.get("filters")
        if filters is not None and filters % value:
            raise ValueError(
                f"filters must be divisible by groups; got filters={filters}, groups={value}"
            )
        return value

    def out_channels(self, channels: int) -> int:
        if channels % self.groups:
            raise ShapeError(
                f"{self.type_name()} needs input channels divisible by groups; got "
                f"{channels} channels with groups={self.groups}",
                field="groups",
            )
        return self.filters

    def out_spatial(self, spatial: tuple[Dim, ...]) -> tuple[Dim, ...]:
        return self.conv_out_spatial(spatial)

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        _, channels = self.split(inputs[0])
        assert channels is not None  # output_types rejected an unknown channel count
        return [
            configured_weight(
                self, "kernel", (*self.kernel, channels // self.groups, self.filters)
            ),
            *optional_bias(self, (self.filters,)),
        ]

    def lower_channels_first(
        self, b: GraphBuilder, x: Value, x_type: TensorType, weights: dict[str, Value]
    ) -> Value:
        spatial, _ = self.split(x_type)
        return emit_conv(
            b,
            x,
            conv_weight(b, weights["kernel"], self.rank),
            weights.get("bias"),
            self.forward_pads(spatial),
            self.kernel,
            self.stride,
            self.dilation,
            self.groups,
        )

    def reference_channels_last(self, x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        y = ref.conv(x, weights["kernel"], self.stride, self.dilation, self.padding, self.groups)
        return y + weights["bias"] if self.use_bias else y


@LAYERS.register
class Conv1D(Conv):
    """Conv1D: y = activation(conv1d(x, kernel) + bias) along the steps axis.

    (batch, steps, in) -> (batch, new_steps, filters); kernel [k, in / groups, filters],
    bias [filters]. 'causal' pads (k - 1) * dilation_rate zeros before the steps.
    """

    type: Literal["Conv1D"]
    rank: ClassVar[int] = 1
    padding: Literal["valid", "same", "causal"] = "valid"

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            # 'same' with stride 2 on 10 steps: total padding 1, put after.
            (
                {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
                [TensorType("float32", (10, 3))],
            ),
            # causal and dilated on a variable number of steps.
            (
                {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"},
                [TensorType("float32", (None, 2))],
            ),
            (
                {
                    "filters": 6,
                    "kernel_size": [2],
                    "groups": 2,
                    "data_format": "channels_first",
                    "use_bias": False,
                    "activation": "sigmoid",
                },
                [TensorType("float32", (4, 7))],
            ),
            # float16 inputs are computed in float32; a variable axis, 'same', stride 3.
            (
                {"filters": 2, "kernel_size": 4, "strides": 3, "padding": "same"},
                [TensorType("float16", (None, 2))],
            ),
        ]


@LAYERS.register
class Conv2D(Conv):
    """Conv2D: y = activation(conv2d(x, kernel) + bias) over height and width.

    (batch, h, w, in) -> (batch, h', w', filters); kernel [kh, kw, in / groups, filters],
    bias [filters].
    """

    type: Literal["Conv2D"]
    rank: ClassVar[int] = 2

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            # Odd totals on both axes: height 6, k 3, s 2 -> 1; width 5, k 2, s 1 -> 1.
            (
                {"filters": 3, "kernel_size": [3, 2], "strides": [2, 1], "padding": "same"},
                [TensorType("float32", (6, 5, 2))],
            ),
            (
                {"filters": 2, "kernel_size": 3, "dilation_rate": [2, 1], "activation": "tanh"},
                [TensorType("float32", (7, 6, 3))],
            ),
            (
                {
                    "filters": 6,
                    "kernel_size": 3,
                    "strides": 2,
                    "groups": 3,
                    "data_format": "channels_first",
                },
                [TensorType("float32", (3, 7, 6))],
            ),
            # Variable height and width under 'same' with stride 2: pads computed at run time.
            (
                {"filters": 2, "kernel_size": [4, 3], "strides": 2, "padding": "same"},
                [TensorType("float32", (None, None, 2))],
            ),
            # softmax over the channel axis: the layer keeps the spec's layout.
            (
                {"filters": 3, "kernel_size": 2, "activation": "softmax"},
                [TensorType("float32", (4, 3, 2))],
            ),
        ]


@LAYERS.register
class Conv3D(Conv):
    """Conv3D: y = activation(conv3d(x, kernel) + bias) over depth, height and width.

    (batch, d, h, w, in) -> (batch, d', h', w', filters); kernel [kd, kh, kw, in / groups,
    filters], bias [filters].
    """

    type: Literal["Conv3D"]
    rank: ClassVar[int] = 3

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            (
                {"filters": 2, "kernel_size": [2, 3, 2], "strides": [1, 2, 1], "padding": "same"},
                [TensorType("float32", (3, 5, 4, 2))],
            ),
            (
                {
                    "filters": 2,
                    "kernel_size": 2,
                    "dilation_rate": [1, 2, 1],
                    "data_format": "channels_first",
                    "groups": 2,
                },
                [TensorType("float32", (2, 3, 5, 3))],
            ),
        ]
