"""Keras's hinge losses: hinge, squared hinge and categorical hinge."""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value, normalize_axis
from specc.lazy_numpy import np
from specc.losses.base import LOSSES, Loss, LossExample, PerSample, Shape
from specc.types import FLOAT


def _hinge_labels(y_true: np.ndarray) -> np.ndarray:
    # Keras maps 0/1 labels to -1/1 only when every label in the batch is 0 or 1.
    return 2.0 * y_true - 1.0 if np.all((y_true == 0) | (y_true == 1)) else y_true


def _lower_hinge_margin(b: GraphBuilder, y_pred: Value, y_true: Value) -> Value:
    """``relu(1 - y_true * y_pred)`` after Keras's 0/1 to -1/1 label mapping, which tests
    the labels by comparisons only (no Sign: it has no gradient builder)."""
    zero, one = b.constant(0.0), b.constant(1.0)
    binary = b.op("Or", b.op("Equal", y_true, zero), b.op("Equal", y_true, one))
    others = b.reduce_sum(b.op("Cast", b.op("Not", binary), to=FLOAT))
    converted = b.op("Sub", b.op("Mul", y_true, b.constant(2.0)), one)
    labels = b.op("Where", b.op("Equal", others, zero), converted, y_true)
    return b.op("Relu", b.op("Sub", one, b.op("Mul", labels, y_pred)))


@LOSSES.register
class Hinge(Loss):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels mapped to -1/1."""

    type: Literal["Hinge", "hinge"] = "Hinge"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        return PerSample(b.mean_over(_lower_hinge_margin(b, y_pred, y_true), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        return np.mean(np.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("hinge", labels="binary"),
            LossExample({"type": "Hinge", "reduction": "sum"}, labels="pm1"),
            # Not all 0/1: Keras keeps such hinge labels as they are.
            LossExample({"type": "hinge", "reduction": "mean"}, labels="mixed"),
        ]


@LOSSES.register
class SquaredHinge(Loss):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; 0/1 labels to -1/1."""

    type: Literal["SquaredHinge", "squared_hinge"] = "SquaredHinge"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        return PerSample(b.mean_over(b.square(_lower_hinge_margin(b, y_pred, y_true)), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        margin = np.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)
        return np.mean(np.square(margin), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("squared_hinge", labels="binary")]


@LOSSES.register
class CategoricalHinge(Loss):
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""

    type: Literal["CategoricalHinge", "categorical_hinge"] = "CategoricalHinge"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        one = b.constant(1.0)
        positive = b.reduce_sum(b.op("Mul", y_true, y_pred), -1)
        others = b.op("Mul", b.op("Sub", one, y_true), y_pred)
        # ReduceMax has no gradient in the engine; TopK(k=1) does.
        k = b.constant([1], np.int64, hint="k")
        top, _indices = b.op("TopK", others, k, outputs=2, axis=normalize_axis(-1, len(shape)))
        negative = b.reduce_sum(top, -1)
        return PerSample(b.op("Relu", b.op("Add", b.op("Sub", negative, positive), one)))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        positive = np.sum(y_true * y_pred, axis=-1)
        negative = np.max((1.0 - y_true) * y_pred, axis=-1)
        return np.maximum(negative - positive + 1.0, 0.0)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("categorical_hinge", labels="onehot")]
