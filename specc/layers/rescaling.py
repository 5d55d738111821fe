"""Rescaling: y = x * scale + offset, for inputs of any numeric dtype (cast to float32).

``scale`` and ``offset`` are numbers or per-channel lists; as Keras multiplies them, a
list broadcasts against the input's last axis (channels_last data).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from specc.graph import Value
from specc.layers.base import LAYERS, Layer, Layout, LowerContext, ShapeError
from specc.lazy_numpy import np
from specc.types import FLOAT, TensorType

Factor = float | list[float]


def _some_values(cls: type, value: Factor) -> Factor:
    if isinstance(value, list) and not value:
        raise ValueError("a per-channel list must hold at least one value; got []")
    return value


@LAYERS.register
class Rescaling(Layer):
    """Rescaling: y = float32(x) * scale + offset; same shape, float32."""

    supports_masking = True  # Keras passes the mask on

    type: Literal["Rescaling"]
    scale: Factor
    offset: Factor = 0.0

    _check_values = field_validator("scale", "offset")(classmethod(_some_values))

    def layout(self, inputs: list[TensorType]) -> Layout:
        # Lists line up with the spec's last axis; plain numbers fit any layout.
        lists = isinstance(self.scale, list) or isinstance(self.offset, list)
        return "native" if lists else "elementwise"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        last = x.full_shape[-1] if x.rank > 0 else None
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if not isinstance(value, list) or len(value) == 1:
                continue
            if x.rank < 2 or (last is not None and last != len(value)):
                raise ShapeError(
                    f"Rescaling {name} holds {len(value)} values, one per channel, so the "
                    f"input's last axis must have that size; got input {x}",
                    field=name,
                )
        return [TensorType("float32", x.shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = inputs[0]
        if input_types[0].dtype != "float32":
            x = b.op("Cast", x, to=FLOAT)
        y = b.op("Mul", x, b.constant(self.scale, np.float32, hint="scale"))
        if self.offset == 0:
            return [y]  # adding zero changes no value
        return [b.op("Add", y, b.constant(self.offset, np.float32, hint="offset"))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        return [x * np.asarray(self.scale) + np.asarray(self.offset)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"scale": 0.5}, [TensorType("float32", (6,))]),
            ({"scale": 1 / 127.5, "offset": -1.0}, [TensorType("int32", (4, 4, 3))]),
            (
                {"scale": [0.5, 2.0, -1.0], "offset": [1.0, 0.0, 0.5]},
                [TensorType("float32", (2, 3))],
            ),
            ({"scale": 2.0, "offset": [1.0]}, [TensorType("float16", (None, 2))]),
        ]
