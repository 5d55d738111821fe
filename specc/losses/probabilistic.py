"""Keras's probabilistic losses other than the cross-entropies: Kullback-Leibler
divergence and Poisson."""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.losses.base import EPSILON, LOSSES, LOW, Loss, LossExample, PerSample, Shape


@LOSSES.register
class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[epsilon, 1]``."""

    type: Literal["KLDivergence", "kl_divergence", "kld", "KLD"] = "KLDivergence"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        y_true, y_pred = b.clip(y_true, EPSILON, 1.0), b.clip(y_pred, EPSILON, 1.0)
        return PerSample(
            b.reduce_sum(b.op("Mul", y_true, b.op("Log", b.op("Div", y_true, y_pred))), -1)
        )

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        y_true, y_pred = np.clip(y_true, LOW, 1.0), np.clip(y_pred, LOW, 1.0)
        return np.sum(y_true * np.log(y_true / y_pred), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("kld", pred="softmax", labels="distribution")]


@LOSSES.register
class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""

    type: Literal["Poisson", "poisson"] = "Poisson"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        log_pred = b.op("Log", b.op("Add", y_pred, b.constant(EPSILON)))
        return PerSample(b.mean_over(b.op("Sub", y_pred, b.op("Mul", y_true, log_pred)), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        return np.mean(y_pred - y_true * np.log(y_pred + LOW), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("poisson", pred="positive", labels="positive")]
