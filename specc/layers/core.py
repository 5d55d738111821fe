"""Core layers without weights: Activation, Dropout and Identity.

Shapes: each maps (batch, ...) to the same shape. Dropout only acts in training mode; at
inference it is the identity, so its NumPy reference is the identity too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from specc.activations import Activation as ActivationFn
from specc.fields import ActivationField
from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    Layer,
    Layout,
    LowerContext,
    Seed,
    ShapeError,
    dropout_mask,
    expect_float,
    float_input,
    trivial_dropout,
)
from specc.lazy_numpy import np
from specc.types import FLOAT_DTYPES, TensorType


def passthrough_dtype(tensor: TensorType) -> str:
    """The dtype a dtype-preserving layer outputs: float32 for floats, else unchanged.

    Keras casts floating-point inputs to the layer's compute dtype (float32) before
    ``call`` and leaves integer and boolean inputs alone.
    """
    return "float32" if tensor.dtype in FLOAT_DTYPES else tensor.dtype


def passthrough_input(ctx: LowerContext, value: Value, tensor: TensorType) -> Value:
    """``value`` cast as ``passthrough_dtype`` says (only float16 changes)."""
    return float_input(ctx, value, tensor) if tensor.dtype in FLOAT_DTYPES else value


def positive_noise_dims(cls: type, value: list[int | None] | None) -> list[int | None] | None:
    """Validator of a Dropout-style ``noise_shape``: positive integers or null.

    Keras rejects other entries in its constructor, before it sees an input.
    """
    for i, dim in enumerate(value or []):
        if dim is not None and dim <= 0:
            raise ValueError(
                "noise_shape must hold positive integers or null; "
                f"got {dim} at index {i} of noise_shape={value}"
            )
    return value


@LAYERS.register
class Activation(Layer):
    """Activation: y = activation(x); (batch, ...) -> (batch, ...)."""

    supports_masking = True  # Keras passes the mask on

    type: Literal["Activation"]
    activation: ActivationField

    def layout(self, inputs: list[TensorType]) -> Layout:
        return "elementwise" if self.activation.pointwise else "native"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("Activation", x)
        return [TensorType("float32", x.shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        x = float_input(ctx, inputs[0], input_types[0])
        return [self.activation.lower(ctx.builder, x)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        activation: ActivationFn = self.activation
        return [activation.reference(inputs[0].astype(np.float64))]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"activation": "relu"}, [TensorType("float32", (5,))]),
            ({"activation": {"type": "softmax", "axis": 1}}, [TensorType("float32", (3, 4))]),
            ({"activation": "gelu"}, [TensorType("float16", (2, None, 3))]),
        ]


@LAYERS.register
class Dropout(Layer):
    """Dropout: y = x * mask / (1 - rate) in training, y = x at inference; same shape.

    ``noise_shape`` (batch axis included, null = the input's size) makes the mask broadcast
    along the axes where it is 1, as in Keras.
    """

    supports_masking = True  # Keras passes the mask on

    type: Literal["Dropout"]
    rate: float = Field(ge=0, le=1, allow_inf_nan=False)
    noise_shape: list[int | None] | None = None
    seed: Seed | None = None

    _positive_noise_dims = field_validator("noise_shape")(classmethod(positive_noise_dims))

    def layout(self, inputs: list[TensorType]) -> Layout:
        # The mask is drawn in the shape of whatever it multiplies, unless noise_shape
        # names axes of the spec's layout.
        return "elementwise" if self.noise_shape is None else "native"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        expect_float("Dropout", x)
        if self.noise_shape is not None:
            self._check_noise_shape(x)
        return [TensorType("float32", x.shape)]

    def _check_noise_shape(self, x: TensorType) -> None:
        noise = self.noise_shape or []
        if len(noise) != x.rank:
            raise ShapeError(
                f"Dropout noise_shape must have one entry per input axis, batch axis "
                f"included ({x.rank} for input {x}); got noise_shape={noise}",
                field="noise_shape",
            )
        if noise[0] not in (None, 1):
            raise ShapeError(
                f"Dropout noise_shape must be null or 1 on the batch axis, which varies; "
                f"got noise_shape={noise}",
                field="noise_shape",
            )
        for axis, (n, d) in enumerate(zip(noise[1:], x.shape, strict=True), start=1):
            # The mask is broadcast against the input, so each entry is 1 or the size.
            if n is not None and n != 1 and d is not None and n != d:
                raise ShapeError(
                    f"Dropout noise_shape must be 1, null or the input's size on each axis; "
                    f"got {n} on axis {axis} for input {x} (noise_shape={noise})",
                    field="noise_shape",
                )

    def _broadcast_axes(self, x: TensorType) -> list[int]:
        """The axes where the mask has size 1 but the input may not."""
        if self.noise_shape is None:
            return []
        # Any other entry equals the input's size (checked, or required at run time), so
        # the mask takes that size from the input itself.
        return [
            axis
            for axis, (n, d) in enumerate(zip(self.noise_shape, x.full_shape, strict=True))
            if n == 1 and d != 1
        ]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = float_input(ctx, inputs[0], t)
        trivial = trivial_dropout(ctx, x, self.rate)
        if trivial is not None:
            return [trivial]
        # The mask has noise_shape (broadcast by the Mul): size 1 on the broadcast axes,
        # the input's own size elsewhere.
        mask_shape = b.op("Shape", x)
        broadcast = self._broadcast_axes(t)
        if broadcast:
            is_one = np.zeros(t.rank, dtype=np.bool_)
            is_one[broadcast] = True
            mask_shape = b.op(
                "Where",
                b.constant(is_one, np.bool_, hint="broadcast_axes"),
                b.constant(np.ones(t.rank), np.int64, hint="ones_shape"),
                mask_shape,
            )
        return [b.op("Mul", x, dropout_mask(ctx, mask_shape, t.rank, self.rate, self.seed))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [inputs[0].astype(np.float64)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"rate": 0.5}, [TensorType("float32", (7,))]),
            ({"rate": 0.0}, [TensorType("float32", (2, 3))]),
            ({"rate": 1.0}, [TensorType("float32", (3,))]),
            (
                {"rate": 0.3, "noise_shape": [None, 1, 5], "seed": 3},
                [TensorType("float32", (None, 5))],
            ),
        ]


@LAYERS.register
class Identity(Layer):
    """Identity: y = x; (batch, ...) -> (batch, ...), any dtype (float16 becomes float32)."""

    supports_masking = True  # Keras passes the mask on

    type: Literal["Identity"]

    def layout(self, inputs: list[TensorType]) -> Layout:
        return "elementwise"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        return [TensorType(passthrough_dtype(x), x.shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        return [passthrough_input(ctx, inputs[0], input_types[0])]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [inputs[0]]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3, 2))]),
            ({}, [TensorType("int64", (None,))]),
        ]
