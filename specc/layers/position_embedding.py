"""PositionEmbedding: a learned embedding of each step's position, keras_hub's layer.

Shapes: (batch, ..., steps, features) -> the same shape, float32: the embeddings of
positions 0..steps-1, broadcast over the batch, to be added to the input (a token
embedding). Weight: embeddings [sequence_length, features].
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.fields import InitializerField, initializer
from specc.graph import Value
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError, WeightSpec
from specc.layers.masks import PROPAGATE, MaskRule
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class PositionEmbedding(Layer):
    """PositionEmbedding: y = broadcast(embeddings[0:steps], shape(x)).

    keras_hub.layers.PositionEmbedding: the steps are the second-to-last axis, the
    features the last; ``sequence_length`` bounds the steps.
    """

    type: Literal["PositionEmbedding"]
    sequence_length: int = Field(gt=0)
    initializer: InitializerField = initializer("glorot_uniform")

    def _steps_and_features(self, x: TensorType) -> tuple[int | None, int]:
        if len(x.shape) < 2:
            raise ShapeError(
                "PositionEmbedding needs inputs of shape (batch, ..., steps, features); "
                f"got {x.full_shape}"
            )
        steps, features = x.shape[-2], x.shape[-1]
        if features is None:
            raise ShapeError("PositionEmbedding needs a known feature (last) dimension")
        if steps is not None and steps > self.sequence_length:
            raise ShapeError(
                f"PositionEmbedding has {self.sequence_length} positions "
                f"(sequence_length) but the input has {steps} steps"
            )
        return steps, features

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        self._steps_and_features(x)
        return [TensorType("float32", x.shape)]

    def mask_rule(self) -> MaskRule:
        # keras_hub's layer leaves masks to the token Embedding it is added to, and
        # keras_hub's TokenAndPositionEmbedding carries that Embedding's mask. Keras
        # 3.15.1's Add keeps a mask only when every input has one, so this layer passes
        # its input's mask on: Embedding(mask_zero) + PositionEmbedding + Add then carries
        # the padding mask, as keras_hub's TokenAndPositionEmbedding does.
        return PROPAGATE

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        _, features = self._steps_and_features(inputs[0])
        return [WeightSpec("embeddings", (self.sequence_length, features), self.initializer)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        x = inputs[0]
        full = input_types[0].full_shape
        steps = full[-2]
        if steps is not None:
            end = b.constant([steps], np.int64, hint="steps")
        else:
            end = b.op("Gather", b.op("Shape", x), b.constant([len(full) - 2], np.int64))
        zero = b.constant([0], np.int64, hint="zero")
        rows = b.op("Slice", weights["embeddings"], zero, end, zero)
        return [b.op("Expand", rows, b.op("Shape", x))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0]
        rows = np.asarray(weights["embeddings"], np.float64)[: x.shape[-2]]
        return [np.broadcast_to(rows, x.shape).copy()]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"sequence_length": 5}, [TensorType("float32", (5, 3))]),
            ({"sequence_length": 8}, [TensorType("float32", (4, 2))]),
            ({"sequence_length": 6}, [TensorType("float32", (None, 4))]),
            ({"sequence_length": 3, "initializer": "zeros"}, [TensorType("float32", (2, 3, 2))]),
        ]
