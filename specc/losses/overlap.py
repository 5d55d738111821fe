"""Keras's overlap losses for segmentation: Tversky (Dice at alpha = beta = 0.5).

Keras's ``tversky`` sums over ``axis`` (all axes, the batch's included, by default), so
with no ``axis`` the loss is one number for the whole batch, which Keras leaves unreduced
whatever the ``reduction``; with ``axis`` it is one number per remaining position,
reduced as every loss is.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from specc.graph import GraphBuilder, Value, normalize_axis
from specc.lazy_numpy import np
from specc.losses.base import EPSILON, LOSSES, LOW, Loss, LossExample, PerSample, Shape

# Keras does not check them; a negative weight would reward errors.
Weight = Annotated[float, Field(ge=0)]


@LOSSES.register
class Tversky(Loss):
    """``1 - tp / (tp + alpha * fp + beta * fn + epsilon)``, sums over ``axis`` (default all).

    As Keras writes them: ``tp = sum(y_true * y_pred)``, ``fp = sum((1 - y_pred) * y_true)``
    and ``fn = sum(y_pred * (1 - y_true))``. Labels may be soft (between 0 and 1).
    """

    type: Literal["Tversky", "tversky"] = "Tversky"
    alpha: Weight = 0.5
    beta: Weight = 0.5
    axis: int | Annotated[list[int], Field(min_length=1)] | None = None

    @field_validator("axis")
    @classmethod
    def _distinct_axes(cls, axis: int | list[int] | None) -> int | list[int] | None:
        # Keras's sum fails on a repeated axis; refused here, where the spec gives it.
        if isinstance(axis, list) and len(set(axis)) != len(axis):
            message = f"axis lists an axis twice; got axis={axis}"
            raise PydanticCustomError("value_error", "{error}", {"error": message})
        return axis

    def _sum_axes(self) -> int | tuple[int, ...] | None:
        return self.axis if self.axis is None or isinstance(self.axis, int) else tuple(self.axis)

    def values_rank(self, rank: int) -> int:
        """0 without ``axis`` (one number for the batch), else the axes left over."""
        if self.axis is None:
            return 0
        return rank - len({normalize_axis(axis, rank) for axis in self.axes()})

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        # Keras's names: "fp" weighs the missed labels by alpha, "fn" the extra predictions.
        one, axes = b.constant(1.0), self._sum_axes()
        intersection = b.reduce_sum(b.op("Mul", y_true, y_pred), axes)
        fp = b.reduce_sum(b.op("Mul", b.op("Sub", one, y_pred), y_true), axes)
        fn = b.reduce_sum(b.op("Mul", y_pred, b.op("Sub", one, y_true)), axes)
        denominator = b.op("Add", intersection, b.op("Mul", fp, b.constant(float(self.alpha))))
        denominator = b.op("Add", denominator, b.op("Mul", fn, b.constant(float(self.beta))))
        denominator = b.op("Add", denominator, b.constant(EPSILON))
        return PerSample(b.op("Sub", one, b.op("Div", intersection, denominator)))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        axes = self._sum_axes()
        intersection = np.sum(y_true * y_pred, axis=axes)
        fp = np.sum((1.0 - y_pred) * y_true, axis=axes)
        fn = np.sum(y_pred * (1.0 - y_true), axis=axes)
        return 1.0 - intersection / (intersection + fp * self.alpha + fn * self.beta + LOW)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("tversky", pred="sigmoid", labels="binary"),
            LossExample(
                {"type": "Tversky", "alpha": 0.2, "beta": 0.8},
                shape=(2, 3),
                pred="sigmoid",
                labels="distribution",
            ),
            # Per sample over a (batch, height, width) mask, as for segmentation.
            LossExample(
                {"type": "Tversky", "axis": [1, 2]}, shape=(3, 2), pred="sigmoid", labels="binary"
            ),
            LossExample(
                {"type": "Tversky", "axis": -1, "alpha": 0.7, "beta": 0.3, "reduction": "sum"},
                shape=(2, 3),
                pred="sigmoid",
                labels="binary",
            ),
        ]
