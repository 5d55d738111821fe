"""Embedding: a lookup table from integer ids to dense vectors.

Shapes: (batch, ...) ids -> (batch, ..., output_dim) float32. Weight: embeddings
[input_dim, output_dim].
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.fields import (
    ConstraintField,
    InitializerField,
    RegularizerField,
    initializer,
)
from specc.graph import Value
from specc.layers.base import LAYERS, Layer, LowerContext, WeightSpec, configured_weight
from specc.layers.masks import DROP, MaskRule, not_equal
from specc.lazy_numpy import np
from specc.types import INT64, TensorType


@LAYERS.register
class Embedding(Layer):
    """Embedding: y = embeddings[int(x)]; (batch, ...) -> (batch, ..., output_dim).

    Non-integer ids are truncated towards zero, as Keras's cast to int32 does. With
    ``mask_zero`` the output carries a mask: 1 where the id is not 0 (specc.layers.masks).
    """

    type: Literal["Embedding"]
    input_dim: int = Field(gt=0)
    output_dim: int = Field(gt=0)
    embeddings_initializer: InitializerField = initializer("uniform")
    embeddings_regularizer: RegularizerField | None = None
    embeddings_constraint: ConstraintField | None = None
    mask_zero: bool = False

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        return [TensorType("float32", (*x.shape, self.output_dim))]

    def mask_rule(self) -> MaskRule:
        # Keras: supports_masking = mask_zero; compute_mask marks the ids not equal to 0.
        return MaskRule("compute") if self.mask_zero else DROP

    def make_mask(
        self, ctx: LowerContext, inputs: list[Value], input_types: list[TensorType]
    ) -> Value:
        # Keras compares the ids as given, before its cast to int (0.5 is kept, though it
        # reads row 0).
        return not_equal(ctx.builder, inputs[0], input_types[0].dtype, 0)

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        return [configured_weight(self, "embeddings", (self.input_dim, self.output_dim))]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        ids = inputs[0]
        if input_types[0].dtype != "int64":
            # int64 ids are the path whose Gather gradient was verified
            # (docs/engine-notes.md#gather); a float-to-int Cast truncates towards zero
            # like Keras's.
            ids = b.op("Cast", ids, to=INT64)
        return [b.op("Gather", weights["embeddings"], ids, axis=0)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        ids = inputs[0]
        if ids.dtype.kind == "f":
            ids = np.trunc(ids)
        ids = ids.astype(np.int64)
        return [np.asarray(weights["embeddings"], np.float64)[ids]]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        # input_dim >= 10: generic test inputs draw integer ids from [0, 10).
        return [
            ({"input_dim": 10, "output_dim": 4}, [TensorType("int64", (5,))]),
            ({"input_dim": 13, "output_dim": 3}, [TensorType("int32", (None,))]),
            ({"input_dim": 10, "output_dim": 2}, [TensorType("float32", (2, 3))]),
            ({"input_dim": 11, "output_dim": 1}, [TensorType("int64", ())]),
            ({"input_dim": 10, "output_dim": 3, "mask_zero": True}, [TensorType("int64", (4,))]),
        ]
