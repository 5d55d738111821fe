"""LocallyConnected1D and LocallyConnected2D (Keras 2.x): convolutions with unshared weights.

Each output position l has its own kernel: y[:, l, :] = patch_l(x) @ kernel_l + bias_l.
The kernel layout follows ``implementation`` as in Keras 2, so weights files move between
Keras and specc unchanged; docs/locally-connected.md gives the layouts and patch order.

Lowering (channels-first inside, whatever the data format; N batch, C channels, P input
positions, L output positions, K kernel offsets, F filters):

    x (N, C, *in) -Reshape-> (N, C, P) [-Pad one zero position, for "same"]
      -Gather(axis 2, constant (L, K) positions)-> (N, C, L, K) -Transpose-> (L, N, C, K)
      -Reshape-> (L, N, C*K) -MatMul (L, C*K, F)-> (L, N, F) -Transpose-> (N, F, L)
      -Reshape-> (N, F, *out) + bias, activation

The (L, C*K, F) operand is the stored kernel reshaped and transposed (implementation 1)
or gathered from it with a constant index map (2 and 3). Every op has a gradient in the
training engine; no Slice per patch, so the graph stays small for any number of patches.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from specc.fields import (
    ActivationField,
    ConstraintField,
    InitializerField,
    RegularizerField,
    initializer,
)
from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    DataFormat,
    Layer,
    Layout,
    LowerContext,
    ShapeError,
    WeightSpec,
    activate,
    activate_np,
    configured_weight,
    expect_float,
    float_input,
    optional_bias,
)
from specc.layers.locally_connected_kernels import (
    Geometry,
    kernel_index,
    kernel_shape,
    make_geometry,
    patch_positions,
    reference_local_conv,
)
from specc.lazy_numpy import np
from specc.types import TensorType


class _LocallyConnected(Layer):
    """Shared config, shapes, weights, lowering and reference of LocallyConnected1D/2D."""

    filters: int = Field(gt=0)
    kernel_size: int | list[int]
    strides: int | list[int] = 1
    padding: Literal["valid", "same"] = "valid"
    data_format: DataFormat = "channels_last"
    activation: ActivationField | None = None
    use_bias: bool = True
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None
    implementation: Literal[1, 2, 3] = 1

    spatial_rank: ClassVar[int]

    @field_validator("kernel_size", "strides")
    @classmethod
    def _positive_tuple(cls, value: int | list[int], info: Any) -> int | list[int]:
        items = value if isinstance(value, list) else [value]
        if len(items) not in (1, cls.spatial_rank) or any(v <= 0 for v in items):
            raise ValueError(
                f"{info.field_name} must be a positive integer or a list of "
                f"{cls.spatial_rank} positive integers; got {info.field_name}={value}"
            )
        return value

    @model_validator(mode="after")
    def _valid_padding_for_implementation_1(self) -> _LocallyConnected:
        # Keras 2 rejects this in the constructor: implementation 1 slices whole patches.
        if self.padding == "same" and self.implementation == 1:
            raise ValueError(
                'padding="same" needs implementation 2 or 3 (implementation 1 supports only '
                '"valid", as in Keras); got padding="same" with implementation=1'
            )
        return self

    def _tuple(self, value: int | list[int]) -> tuple[int, ...]:
        items = value if isinstance(value, list) else [value]
        return tuple(items * self.spatial_rank if len(items) == 1 else items)

    def _channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def _geometry(self, x: TensorType) -> Geometry:
        name, rank = self.type_name(), self.spatial_rank + 2
        if x.rank != rank:
            raise ShapeError(f"{name} needs a rank-{rank} input; got {x}")
        spatial = x.shape[1:] if self._channels_first() else x.shape[:-1]
        channels = x.shape[0] if self._channels_first() else x.shape[-1]
        if channels is None or any(d is None for d in spatial):
            raise ShapeError(
                f"{name} needs known spatial and channel sizes (its weights depend on them); "
                f"got {x}"
            )
        kernel, strides = self._tuple(self.kernel_size), self._tuple(self.strides)
        g = make_geometry(
            tuple(d or 0 for d in spatial), kernel, strides, self.padding, channels, self.filters
        )
        if min(g.outputs) < 1:
            raise ShapeError(
                f"{name} with kernel_size={list(kernel)} and padding={self.padding!r} needs "
                f"spatial sizes of at least the kernel's; got input {x}",
                field="kernel_size",
            )
        return g

    def layout(self, inputs: list[TensorType]) -> Layout:
        # Channels-first inside: ONNX's layout for channels_last specs. An activation along
        # an axis (softmax) needs the spec's layout, so then ``lower`` transposes itself.
        pointwise = self.activation is None or self.activation.pointwise
        return "channels_first" if pointwise and not self._channels_first() else "native"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float(self.type_name(), x)
        g = self._geometry(x)
        shape = (self.filters, *g.outputs) if self._channels_first() else (*g.outputs, self.filters)
        return [TensorType("float32", shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        g = self._geometry(inputs[0])
        return [
            configured_weight(
                self, "kernel", kernel_shape(g, self.implementation, self._channels_first())
            ),
            *optional_bias(self, (*g.outputs, self.filters)),
        ]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        g = self._geometry(t)
        nd = self.spatial_rank
        L, C, K, F = g.patches, g.channels, g.window, g.filters  # the maths' names
        x = float_input(ctx, inputs[0], t)
        # With layout "native" a channels_last input arrives as the spec says.
        transposed = self.layout(input_types) == "native" and not self._channels_first()
        if transposed:
            x = b.op("Transpose", x, perm=[0, nd + 1, *range(1, nd + 1)])

        def shape(*dims: int) -> Value:
            return b.constant(dims, np.int64, hint="shape")

        flat = b.op("Reshape", x, shape(0, C, -1))
        positions, inside = patch_positions(g)
        if not inside.all():
            # One zero position after the input, for the patches' positions outside it.
            flat = b.op("Pad", flat, b.constant([0, 0, 0, 0, 0, 1], np.int64, hint="pads"))
            positions = np.where(inside, positions, g.pixels)
        patches = b.op("Gather", flat, b.constant(positions, np.int64, hint="patches"), axis=2)
        patches = b.op("Transpose", patches, perm=[2, 0, 1, 3])
        patches = b.op("Reshape", patches, shape(L, -1, C * K))
        kernel = weights["kernel"]
        if self.implementation == 1 and not self._channels_first():
            # Keras orders a channels_last patch (offset, channel); inside it is (channel, offset).
            kernel = b.op("Reshape", kernel, shape(L, K, C, F))
            kernel = b.op(
                "Reshape", b.op("Transpose", kernel, perm=[0, 2, 1, 3]), shape(L, C * K, F)
            )
        elif self.implementation != 1:
            index = kernel_index(g, self.implementation, self._channels_first())
            kernel = b.op("Gather", b.op("Reshape", kernel, shape(-1)), b.constant(index, np.int64))
            kernel = b.op("Reshape", kernel, shape(L, C * K, F))
        y = b.op("Transpose", b.op("MatMul", patches, kernel), perm=[1, 2, 0])
        y = b.op("Reshape", y, shape(0, F, *g.outputs))
        if self.use_bias:
            bias = weights["bias"]
            if self._channels_first():
                # Keras's bias_add *reshapes* the (*out, F) bias to (F, *out) here.
                bias = b.op("Reshape", bias, shape(F, *g.outputs))
            else:
                bias = b.op("Transpose", bias, perm=[nd, *range(nd)])
            y = b.op("Add", y, bias)
        if transposed:
            y = b.op("Transpose", y, perm=[0, *range(2, nd + 2), 1])
        return [activate(b, self.activation, y)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        types = [TensorType("float32", x.shape[1:])]
        g = self._geometry(types[0])
        kernel = weights["kernel"].astype(np.float64)
        y = reference_local_conv(x, kernel, g, self.implementation, self._channels_first())
        if self.use_bias:
            bias = weights["bias"].astype(np.float64)
            # channels_first: reshaped (not transposed) to (F, *out), as Keras's bias_add.
            y = y + (bias.reshape(self.filters, *g.outputs) if self._channels_first() else bias)
        return [activate_np(self.activation, y)]


@LAYERS.register
class LocallyConnected1D(_LocallyConnected):
    """LocallyConnected1D: y[:, i] = activation(patch_i(x) @ kernel[i] + bias[i]);
    (batch, steps, C) -> (batch, new_steps, filters). Kernel [new_steps, k*C, filters]
    (implementation 1), bias [new_steps, filters].
    """

    type: Literal["LocallyConnected1D"]
    spatial_rank: ClassVar[int] = 1

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"filters": 3, "kernel_size": 2}, [TensorType("float32", (7, 4))]),
            (
                {"filters": 2, "kernel_size": 3, "strides": 2, "activation": "tanh",
                 "data_format": "channels_first"},
                [TensorType("float32", (3, 8))],
            ),
            (
                {"filters": 2, "kernel_size": 3, "padding": "same", "implementation": 2},
                [TensorType("float32", (5, 2))],
            ),
            (
                {"filters": 2, "kernel_size": 2, "strides": 2, "implementation": 3,
                 "use_bias": False, "data_format": "channels_first"},
                [TensorType("float32", (3, 7))],
            ),
            (
                {"filters": 3, "kernel_size": 4, "strides": 3, "padding": "same",
                 "implementation": 3},
                [TensorType("float16", (7, 2))],
            ),
        ]  # fmt: skip


@LAYERS.register
class LocallyConnected2D(_LocallyConnected):
    """LocallyConnected2D: y[:, r, c] = activation(patch_rc(x) @ kernel[r*cols + c] +
    bias[r, c]); (batch, rows, cols, C) -> (batch, new_rows, new_cols, filters). Kernel
    [new_rows*new_cols, kr*kc*C, filters] (implementation 1), bias [new_rows, new_cols, filters].
    """

    type: Literal["LocallyConnected2D"]
    spatial_rank: ClassVar[int] = 2

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"filters": 2, "kernel_size": [2, 3]}, [TensorType("float32", (4, 5, 3))]),
            (
                {"filters": 3, "kernel_size": 2, "strides": [2, 1], "activation": "tanh",
                 "data_format": "channels_first"},
                [TensorType("float32", (2, 5, 4))],
            ),
            (
                {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                 "implementation": 2},
                [TensorType("float32", (5, 4, 2))],
            ),
            (
                {"filters": 2, "kernel_size": [3, 2], "padding": "same", "implementation": 3,
                 "data_format": "channels_first"},
                [TensorType("float32", (2, 4, 3))],
            ),
            (
                {"filters": 4, "kernel_size": 2, "activation": "softmax"},
                [TensorType("float32", (3, 3, 2))],
            ),
            (
                {"filters": 2, "kernel_size": 2, "implementation": 2, "use_bias": False,
                 "data_format": "channels_first"},
                [TensorType("float32", (3, 3, 4))],
            ),
        ]  # fmt: skip
