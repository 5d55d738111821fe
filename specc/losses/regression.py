"""Keras's regression losses: squared, absolute, percentage, logarithmic, Huber, log-cosh
and cosine similarity."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.losses.base import EPSILON, LOSSES, LOW, Loss, LossExample, PerSample, Shape


@LOSSES.register
class MeanSquaredError(Loss):
    """``mean(square(y_true - y_pred), axis=-1)``."""

    type: Literal["MeanSquaredError", "mean_squared_error", "mse", "MSE"] = "MeanSquaredError"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        return PerSample(b.mean_over(b.square(b.op("Sub", y_true, y_pred)), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        return np.mean(np.square(y_true - y_pred), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("mse"),
            # A rank-1 output: Keras's mean over axis -1 is over the batch.
            LossExample("mse", shape=()),
            # A variable last axis: its length is read at run time.
            LossExample("mse", shape=(None,)),
            LossExample({"type": "MeanSquaredError", "reduction": "sum"}, shape=(2, 3)),
        ]


@LOSSES.register
class MeanAbsoluteError(Loss):
    """``mean(abs(y_true - y_pred), axis=-1)``."""

    type: Literal["MeanAbsoluteError", "mean_absolute_error", "mae", "MAE"] = "MeanAbsoluteError"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        return PerSample(b.mean_over(b.op("Abs", b.op("Sub", y_true, y_pred)), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample({"type": "mae", "reduction": "mean"})]


@LOSSES.register
class MeanAbsolutePercentageError(Loss):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)``."""

    type: Literal[
        "MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape", "MAPE"
    ] = "MeanAbsolutePercentageError"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        scale = b.op("Max", b.op("Abs", y_true), b.constant(EPSILON))
        ratio = b.op("Abs", b.op("Div", b.op("Sub", y_true, y_pred), scale))
        return PerSample(b.op("Mul", b.constant(100.0), b.mean_over(ratio, shape, -1)))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        ratio = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), LOW))
        return 100.0 * np.mean(ratio, axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("mape", labels="nonzero")]


@LOSSES.register
class MeanSquaredLogarithmicError(Loss):
    """``mean(square(log(y_true + 1) - log(y_pred + 1)), axis=-1)``, inputs clipped at epsilon."""

    type: Literal[
        "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle", "MSLE"
    ] = "MeanSquaredLogarithmicError"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        def log1p_clipped(x: Value) -> Value:
            return b.op("Log", b.op("Add", b.op("Max", x, b.constant(EPSILON)), b.constant(1.0)))

        error = b.op("Sub", log1p_clipped(y_pred), log1p_clipped(y_true))
        return PerSample(b.mean_over(b.square(error), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        first = np.log(np.maximum(y_pred, LOW) + 1.0)
        second = np.log(np.maximum(y_true, LOW) + 1.0)
        return np.mean(np.square(first - second), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("msle", pred="positive", labels="positive")]


@LOSSES.register
class Huber(Loss):
    """``0.5 * x**2`` where ``|x| <= delta``, else ``delta * |x| - 0.5 * delta**2``; mean."""

    type: Literal["Huber", "huber"] = "Huber"
    # Keras does not check it; at delta <= 0 the loss is no longer a loss.
    delta: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        delta = float(self.delta)
        error = b.op("Sub", y_pred, y_true)
        size = b.op("Abs", error)
        quadratic = b.op("Mul", b.constant(0.5), b.square(error))
        linear = b.op("Sub", b.op("Mul", b.constant(delta), size), b.constant(0.5 * delta * delta))
        inside = b.op("LessOrEqual", size, b.constant(delta))
        return PerSample(b.mean_over(b.op("Where", inside, quadratic, linear), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        error = y_pred - y_true
        size = np.abs(error)
        linear = self.delta * size - 0.5 * self.delta**2
        return np.mean(np.where(size <= self.delta, 0.5 * error**2, linear), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("huber"), LossExample({"type": "Huber", "delta": 0.5}, shape=(2, 3))]


@LOSSES.register
class LogCosh(Loss):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``."""

    type: Literal["LogCosh", "log_cosh"] = "LogCosh"

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        # Keras's form: log(cosh(x)) = x + softplus(-2x) - log(2), which never overflows.
        x = b.op("Sub", y_pred, y_true)
        value = b.op("Add", x, b.softplus(b.op("Mul", x, b.constant(-2.0))))
        return PerSample(b.mean_over(b.op("Sub", value, b.constant(float(np.log(2.0)))), shape, -1))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        x = y_pred - y_true
        # Keras's overflow-free form of log(cosh(x)).
        return np.mean(x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("log_cosh")]


def _l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    # keras.ops.normalize: x * min(rsqrt(sum(x**2)), 1 / epsilon) = x / max(norm, epsilon).
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x / np.maximum(norm, LOW)


@LOSSES.register
class CosineSimilarity(Loss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""

    type: Literal["CosineSimilarity", "cosine_similarity"] = "CosineSimilarity"
    axis: int = -1

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        def normalize(x: Value) -> Value:
            # x / max(norm, epsilon), as sqrt(max(sum(x**2), epsilon**2)): no infinite
            # gradient at a zero vector.
            squares = b.reduce_sum(b.square(x), self.axis, keepdims=True)
            floor = b.constant(EPSILON * EPSILON)
            return b.op("Div", x, b.op("Sqrt", b.op("Max", squares, floor)))

        cosine = b.reduce_sum(b.op("Mul", normalize(y_true), normalize(y_pred)), self.axis)
        return PerSample(b.op("Neg", cosine))

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        unit_true = _l2_normalize(y_true, self.axis)
        return -np.sum(unit_true * _l2_normalize(y_pred, self.axis), axis=self.axis)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("cosine_similarity"),
            LossExample({"type": "CosineSimilarity", "axis": 1}, shape=(2, 3)),
        ]
