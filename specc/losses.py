"""Losses: Keras 3's ``keras.losses``, under every name ``losses.get`` accepts.

Keras 3 resolves a loss name exactly (case-sensitive) against its class names, its function
names and six short aliases (``bce``, ``kld``, ``mae``, ``mse``, ``mape``, ``msle``, each
also in capitals). specc accepts exactly those; the canonical name is the class name.
Names Keras 2 knew but Keras 3 dropped (``logcosh``, ``kullback_leibler_divergence``) are
not accepted. A name and a mapping with only ``type`` mean the same loss, as in Keras,
where the function and the default-constructed class compute the same values.

Keras's ``reduction`` is accepted where training can honour it: ``sum_over_batch_size``
(the default), its synonym ``mean``, ``mean_with_sample_weight`` (the same as ``mean``
without sample weights, which specc does not take) and ``sum``. ``none`` and null are
rejected: training needs one number per batch. Keras's ``name`` and ``dtype`` arguments do
not change what is trained and are not accepted.

Each loss has two derivations of Keras 3's formula: ``lower`` emits ONNX ops that have
gradients in onnxruntime-training (``specc.train.loss_graph``), and ``per_sample`` /
``reference`` compute it in NumPy float64, independently, for tests and for the metrics
that wrap these functions. Where Keras's backends differ, the JAX/NumPy backend is
followed: probabilities are clipped to ``[epsilon, 1 - epsilon]`` with Keras's float32
``epsilon`` 1e-7 (categorical ones after renormalising along the axis). When an output is
``softmax``/``sigmoid`` of logits, ``lower`` may take the logits and compute the loss from
them without clipping, as Keras's TensorFlow backend does for such outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.registry import Registry, SpecModel
from specc.train.loss_graph import lower_loss
from specc.types import TensorType

Reduction = Literal["sum_over_batch_size", "mean", "mean_with_sample_weight", "sum"]
LabelSmoothing = Annotated[float, Field(ge=0, le=1)]
LogitsOf = Literal["softmax", "sigmoid"]

#: ``keras.backend.epsilon()``.
EPSILON = 1e-7
# Keras computes in float32, so its clip bounds are the float32 roundings; in float64,
# log(1 - (1 - 1e-7)) would be -16.12 where Keras gets log(1.19e-7) = -15.94.
_LOW = float(np.float32(EPSILON))
_HIGH = float(np.float32(1.0 - EPSILON))


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def _log_probabilities(y_pred: np.ndarray, from_logits: bool, axis: int) -> np.ndarray:
    """log_softmax of logits, or Keras's renormalised and clipped log of probabilities."""
    if from_logits:
        return _log_softmax(y_pred, axis)
    y_pred = y_pred / y_pred.sum(axis=axis, keepdims=True)
    return np.log(np.clip(y_pred, _LOW, _HIGH))


def _hinge_labels(y_true: np.ndarray) -> np.ndarray:
    # Keras maps 0/1 labels to -1/1 only when every label in the batch is 0 or 1.
    return 2.0 * y_true - 1.0 if np.all((y_true == 0) | (y_true == 1)) else y_true


def _l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    # keras.ops.normalize: x * min(rsqrt(sum(x**2)), 1 / epsilon) = x / max(norm, epsilon).
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x / np.maximum(norm, _LOW)


def reduce_reference(values: np.ndarray, reduction: str) -> float:
    """Keras's ``reduce_values``: a per-sample array to one number (a scalar stays as is)."""
    if values.ndim == 0:
        return float(values)
    total = float(np.sum(values))
    return total if reduction == "sum" else total / values.size


@dataclass(frozen=True)
class LossExample:
    """A loss as a spec gives it, the output's type, and the data the test matrix draws.

    ``pred``: how predictions are made from a standard normal (``real``, ``positive``,
    ``sigmoid``, or ``softmax`` over ``softmax_axis``); ``labels``: the targets the loss
    takes (``real``, ``positive``, ``nonzero``, ``binary``, ``pm1``, ``mixed``,
    ``distribution``, ``onehot``, ``sparse``, ``sparse_ignored``).
    """

    config: str | dict[str, Any]
    shape: tuple[int | None, ...] = (4,)
    pred: str = "real"
    labels: str = "real"
    softmax_axis: int = -1


class Loss(SpecModel):
    """Base of every loss: Keras's ``Loss`` arguments that training can honour."""

    reduction: Reduction = "sum_over_batch_size"

    @property
    def expects_sparse_labels(self) -> bool:
        """Whether targets are integer class indices rather than one value per prediction."""
        return False

    @property
    def divides_by_batch_size(self) -> bool:
        """True for the mean reductions, False for ``sum``."""
        return self.reduction != "sum"

    def label_type(self, prediction: TensorType) -> TensorType:
        """The target's type for an output of type ``prediction``: float32, the same shape."""
        return TensorType("float32", prediction.shape)

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """The output activation whose input ``lower`` can take as ``logits``, if any."""
        return None

    def lower(
        self,
        b: GraphBuilder,
        y_pred: Value,
        y_true: Value,
        prediction: TensorType,
        logits: Value | None = None,
    ) -> Value:
        """Emit ops computing the batch's loss, a float32 scalar (shape ``[]``).

        ``prediction`` is the output's type (without the batch axis); ``y_pred`` and
        ``y_true`` are in Keras's layout, ``y_true`` of type ``label_type(prediction)``.
        Pass ``logits`` only when ``y_pred`` is ``self.logits_activation(prediction)`` of
        them (softmax over the last axis): the loss is then computed from the logits, the
        stable way. Losses that take none ignore them, and so does a ``from_logits`` loss.
        """
        return lower_loss(self, b, y_pred, y_true, prediction, logits)

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        """Keras's loss function before reduction, in NumPy float64."""
        raise NotImplementedError

    def reference(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        """The batch's loss by Keras's formula and reduction, in NumPy float64."""
        return reduce_reference(self.per_sample(_f64(y_pred), _f64(y_true)), self.reduction)

    @classmethod
    def examples(cls) -> list[LossExample]:
        """Configurations, output types and data for the test matrix (every option)."""
        return []


LOSSES: Registry[Loss] = Registry("loss")


@LOSSES.register
class MeanSquaredError(Loss):
    """``mean(square(y_true - y_pred), axis=-1)``."""

    type: Literal["MeanSquaredError", "mean_squared_error", "mse", "MSE"] = "MeanSquaredError"

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

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        ratio = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), _LOW))
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

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        first = np.log(np.maximum(y_pred, _LOW) + 1.0)
        second = np.log(np.maximum(y_true, _LOW) + 1.0)
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

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        x = y_pred - y_true
        # Keras's overflow-free form of log(cosh(x)).
        return np.mean(x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("log_cosh")]


class _FromLogits(Loss):
    """A loss whose predictions may be probabilities or logits."""

    from_logits: bool = False


@LOSSES.register
class BinaryCrossentropy(_FromLogits):
    """Binary cross-entropy, labels smoothed towards 0.5, mean over ``axis``."""

    type: Literal["BinaryCrossentropy", "binary_crossentropy", "bce", "BCE"] = "BinaryCrossentropy"
    label_smoothing: LabelSmoothing = 0.0
    axis: int = -1

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """``sigmoid``, unless the predictions are logits already."""
        return None if self.from_logits else "sigmoid"

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        z = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            x = y_pred
            elementwise = np.maximum(x, 0.0) - x * z + np.log1p(np.exp(-np.abs(x)))
        else:
            p = np.clip(y_pred, _LOW, _HIGH)
            elementwise = -(z * np.log(p) + (1.0 - z) * np.log(1.0 - p))
        return np.mean(elementwise, axis=self.axis)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("bce", pred="sigmoid", labels="binary"),
            LossExample({"type": "BinaryCrossentropy", "from_logits": True}, labels="binary"),
            LossExample(
                {"type": "bce", "label_smoothing": 0.2, "reduction": "sum"},
                pred="sigmoid",
                labels="binary",
            ),
            LossExample({"type": "bce", "axis": 1}, shape=(2, 3), pred="sigmoid", labels="binary"),
        ]


@LOSSES.register
class CategoricalCrossentropy(_FromLogits):
    """Cross-entropy against one-hot labels along ``axis``, labels smoothed uniformly."""

    type: Literal["CategoricalCrossentropy", "categorical_crossentropy"] = "CategoricalCrossentropy"
    label_smoothing: LabelSmoothing = 0.0
    axis: int = -1

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """``softmax`` over the last axis, when that is the loss's axis too."""
        last = self.axis % prediction.rank == prediction.rank - 1
        return "softmax" if last and not self.from_logits else None

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        if self.label_smoothing:
            # Keras counts the classes on the last axis, whatever ``axis`` is.
            classes = y_true.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        log_p = _log_probabilities(y_pred, self.from_logits, self.axis)
        return -np.sum(y_true * log_p, axis=self.axis)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("categorical_crossentropy", pred="softmax", labels="onehot"),
            LossExample({"type": "CategoricalCrossentropy", "from_logits": True}, labels="onehot"),
            LossExample(
                {"type": "CategoricalCrossentropy", "label_smoothing": 0.1},
                pred="softmax",
                labels="onehot",
            ),
            LossExample(
                {"type": "CategoricalCrossentropy", "axis": 1, "label_smoothing": 0.1},
                shape=(3, 2),
                pred="softmax",
                labels="onehot",
                softmax_axis=1,
            ),
        ]


@LOSSES.register
class SparseCategoricalCrossentropy(_FromLogits):
    """Cross-entropy against integer class labels; ``ignore_class`` entries count for 0.

    Keras 3's class takes no ``axis`` (only the function does, fixed at -1 when named by a
    string), so neither does specc. With ``ignore_class``, the mean reductions divide by the
    number of labels that are not ignored (Keras masks them out of the reduction), and a
    batch with none gives 0.
    """

    type: Literal["SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"] = (
        "SparseCategoricalCrossentropy"
    )
    ignore_class: int | None = None

    @property
    def expects_sparse_labels(self) -> bool:
        """Targets are class indices."""
        return True

    def label_type(self, prediction: TensorType) -> TensorType:
        """int64 class indices: the prediction's shape without its class axis."""
        if not prediction.shape:
            raise ValueError(
                "sparse_categorical_crossentropy needs a class axis; got an output of shape "
                f"{prediction}"
            )
        return TensorType("int64", prediction.shape[:-1])

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """``softmax`` over the last axis, unless the predictions are logits already."""
        return None if self.from_logits else "softmax"

    def valid_mask(self, y_true: np.ndarray) -> np.ndarray:
        """Which labels count: all, or those other than ``ignore_class``."""
        if self.ignore_class is None:
            return np.ones(y_true.shape, dtype=bool)
        return y_true != self.ignore_class

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        valid = self.valid_mask(y_true)
        labels = np.where(valid, y_true, 0).astype(np.int64)
        log_p = _log_probabilities(y_pred, self.from_logits, -1)
        picked = np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
        return np.where(valid, -picked, 0.0)

    def reference(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        values = self.per_sample(_f64(y_pred), np.asarray(y_true))
        if self.ignore_class is None or self.reduction == "sum":
            return reduce_reference(values, self.reduction)
        valid = int(np.sum(self.valid_mask(np.asarray(y_true))))
        return float(np.sum(values)) / valid if valid else 0.0

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("sparse_categorical_crossentropy", pred="softmax", labels="sparse"),
            LossExample(
                {"type": "SparseCategoricalCrossentropy", "from_logits": True},
                shape=(2, 4),
                labels="sparse",
            ),
            LossExample(
                {"type": "SparseCategoricalCrossentropy", "ignore_class": -1},
                shape=(3, 4),
                pred="softmax",
                labels="sparse_ignored",
            ),
            LossExample(
                {"type": "SparseCategoricalCrossentropy", "ignore_class": 0, "reduction": "sum"},
                shape=(3, 4),
                pred="softmax",
                labels="sparse_ignored",
            ),
            LossExample(
                {
                    "type": "SparseCategoricalCrossentropy",
                    "from_logits": True,
                    "ignore_class": 2,
                    "reduction": "mean_with_sample_weight",
                },
                shape=(3, 4),
                labels="sparse_ignored",
            ),
        ]


@LOSSES.register
class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[epsilon, 1]``."""

    type: Literal["KLDivergence", "kl_divergence", "kld", "KLD"] = "KLDivergence"

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        y_true, y_pred = np.clip(y_true, _LOW, 1.0), np.clip(y_pred, _LOW, 1.0)
        return np.sum(y_true * np.log(y_true / y_pred), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("kld", pred="softmax", labels="distribution")]


@LOSSES.register
class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""

    type: Literal["Poisson", "poisson"] = "Poisson"

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        return np.mean(y_pred - y_true * np.log(y_pred + _LOW), axis=-1)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("poisson", pred="positive", labels="positive")]


@LOSSES.register
class Hinge(Loss):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels mapped to -1/1."""

    type: Literal["Hinge", "hinge"] = "Hinge"

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

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        positive = np.sum(y_true * y_pred, axis=-1)
        negative = np.max((1.0 - y_true) * y_pred, axis=-1)
        return np.maximum(negative - positive + 1.0, 0.0)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [LossExample("categorical_hinge", labels="onehot")]


@LOSSES.register
class CosineSimilarity(Loss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""

    type: Literal["CosineSimilarity", "cosine_similarity"] = "CosineSimilarity"
    axis: int = -1

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        unit_true = _l2_normalize(y_true, self.axis)
        return -np.sum(unit_true * _l2_normalize(y_pred, self.axis), axis=self.axis)

    @classmethod
    def examples(cls) -> list[LossExample]:
        return [
            LossExample("cosine_similarity"),
            LossExample({"type": "CosineSimilarity", "axis": 1}, shape=(2, 3)),
        ]


#: The field type of one loss in ``compile.loss``: a name or a mapping with ``type``.
LossField = LOSSES.discriminated_union()
