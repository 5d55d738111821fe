"""The contract every layer module fulfils: config, shape inference, lowering, reference.

A layer is a Pydantic model registered in ``LAYERS`` under its Keras class name. Besides
its Keras constructor arguments it carries the spec-level keys every entry may have
(``name``, ``inputs``, ``input_shape``, ...). The compiler asks it for its output types,
its weights, and its ONNX lowering; tests ask it for a NumPy reference of the same maths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.registry import Registry, SpecModel, type_names
from specc.types import TensorType

Layout = Literal["native", "channels_first", "elementwise"]
InputDtype = Literal["float32", "float16", "int32", "int64", "bool"]
# A layer or input name.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
# A layer or input name, optionally with the index of one of its outputs: ``lstm[2]``.
REFERENCE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*(\[[0-9]+\])?$"
Reference = Annotated[str, Field(pattern=REFERENCE_PATTERN)]
# Keras lets a layer name any of these; variable dims are null.
ShapeList = list[Annotated[int, Field(gt=0)] | None]


class ShapeError(ValueError):
    """A layer cannot accept the types it is given; the message says what and why.

    ``field`` names the entry key the error is about (default: the layer's ``inputs``).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WeightSpec:
    """One weight of a layer: its Keras name, shape, how it is drawn and trained."""

    name: str
    shape: tuple[int, ...]
    initializer: Any
    regularizer: Any = None
    constraint: Any = None
    trainable: bool = True


TRAINING_FLAG = "specc.training"


@dataclass
class LowerContext:
    """What a layer's lowering needs besides its inputs and weights."""

    builder: GraphBuilder
    _training: Value | None = None

    @property
    def training(self) -> Value:
        """Boolean scalar telling Dropout-like ops whether they run in training mode.

        A constant False named ``specc.training`` in the inference model (made on first
        use, so models without such ops carry no unused initializer); the training-graph
        builder replaces it.
        """
        if self._training is None:
            self._training = self.builder.constant(False, dtype=np.bool_, name=TRAINING_FLAG)
        return self._training


def to_snake_case(name: str) -> str:
    """Keras's default-name rule: ``RepeatVector`` -> ``repeat_vector``; ``Conv2D`` -> ``conv2d``.

    Keras applies exactly these substitutions (keras/src/utils/naming.py).
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


class Layer(SpecModel):
    """Base of every layer config. Subclasses add ``type: Literal[...]`` and their arguments."""

    name: str | None = Field(None, min_length=1, pattern=NAME_PATTERN)
    inputs: Reference | list[Reference] | None = None
    input_shape: ShapeList | None = None
    input_dtype: InputDtype | None = None
    trainable: bool = True

    # How many inputs the layer takes; merge layers take several.
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1

    @classmethod
    def type_name(cls) -> str:
        """The Keras class name this config stands for."""
        return type_names(cls)[0]

    @classmethod
    def default_name(cls) -> str:
        """The stem of Keras's default name for layers of this type."""
        return to_snake_case(cls.type_name())

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        """Infer the output types from the input types; raise ``ShapeError`` on mismatch."""
        raise NotImplementedError

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        """The layer's weights for these input types, in Keras's order."""
        return []

    def layout(self, inputs: list[TensorType]) -> Layout:
        """How ``lower`` wants its inputs laid out in the graph (see specc.passes.layout):
        ``native`` (as the spec's shapes say), ``channels_first`` (rank >= 3 inputs and
        outputs as (batch, channels, *spatial), ONNX's convolution layout) or
        ``elementwise`` (any layout shared by all inputs; outputs keep it)."""
        return "native"

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        """Emit the layer's ONNX ops; return one value per output."""
        raise NotImplementedError

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        """Keras's formula for the layer in NumPy (inference mode)."""
        raise NotImplementedError

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        """Configs (spec mappings without ``type``) and input types for the test matrix."""
        return []


LAYERS: Registry[Layer] = Registry("layer type")


def expect_float(layer: str, tensor: TensorType) -> None:
    """Reject integer and boolean inputs where Keras computes in floating point."""
    if tensor.dtype not in ("float32", "float16"):
        raise ShapeError(f"{layer} needs a floating-point input; got dtype {tensor.dtype}")


def float_input(ctx: LowerContext, value: Value, tensor: TensorType) -> Value:
    """Cast a float16 input up to float32, the compute dtype of every layer (as in Keras)."""
    if tensor.dtype == "float32":
        return value
    return ctx.builder.op("Cast", value, to=1)


def fmt_shape(shape: tuple[int | None, ...]) -> str:
    """Render a shape with its batch axis, as Keras prints it."""
    return str(TensorType("float32", shape))
