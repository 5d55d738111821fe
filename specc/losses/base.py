"""The ``Loss`` base class, the ``LOSSES`` registry and what every loss shares.

A loss module defines each loss once: its config (Keras's arguments), its label type, its
lowering to ONNX (``lower_values``: Keras's loss function before reduction) and its NumPy
float64 reference (``per_sample``), and the examples the test matrix draws. ``Loss.lower``
does the rest for all of them: float16 predictions cast to float32, the choice between
probabilities and logits, and Keras's reduction to one number.

Engine constraints (``docs/engine-notes.md#no-gradient-builder``) shape every lowering:

- No ReduceMax, Softplus or Sign (no gradient builders): a max is ``TopK(k=1)``, softplus
  is ``GraphBuilder.softplus``, and tests on labels use only comparisons, which lie on no
  gradient path.
- The same graph must be valid at opsets 17 to 21, and ReduceMean's ``axes`` moved from an
  attribute to an input at opset 18. So reductions along an axis are ``ReduceSum`` with
  ``axes`` as an input (``GraphBuilder.reduce_sum``, ``mean_over``), and only the final
  mean over every axis uses ``ReduceMean``, with no axes at all (valid at every opset).
- Probabilities are clipped as Keras clips them; ``Clip`` and ``Max`` pass no gradient
  where they clip, as Keras's clip does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value, normalize_axis
from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel
from specc.types import FLOAT, Dim, TensorType

Reduction = Literal["sum_over_batch_size", "mean", "mean_with_sample_weight", "sum"]
LabelSmoothing = Annotated[float, Field(ge=0, le=1)]
LogitsOf = Literal["softmax", "sigmoid"]
Shape = tuple[Dim, ...]


def _float32(value: float) -> float:
    """``float(np.float32(value))``, without importing NumPy to check a spec."""
    return struct.unpack("f", struct.pack("f", value))[0]


#: ``keras.backend.epsilon()``.
EPSILON = 1e-7
# Keras computes in float32, so its clip bounds are the float32 roundings; in float64,
# log(1 - (1 - 1e-7)) would be -16.12 where Keras gets log(1.19e-7) = -15.94.
LOW = _float32(EPSILON)
HIGH = _float32(1.0 - EPSILON)


def f64(x: np.ndarray) -> np.ndarray:
    """``x`` as a float64 array: the references compute in float64."""
    return np.asarray(x, dtype=np.float64)


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


@dataclass(frozen=True)
class PerSample:
    """A lowering's result: Keras's loss function before reduction and, for a loss that
    ignores some labels, the float mask of those that count (the mean divides by its sum)."""

    values: Value
    mask: Value | None = None


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

    def axes(self) -> tuple[int, ...]:
        """The axes the config names (Keras's layout, batch axis first): its ``axis``."""
        axis = getattr(self, "axis", None)
        if axis is None:
            return ()
        return (axis,) if isinstance(axis, int) else tuple(axis)

    def label_type(self, prediction: TensorType) -> TensorType:
        """The target's type for an output of type ``prediction``: float32, the same shape."""
        return TensorType("float32", prediction.shape)

    def logits_activation(self, prediction: TensorType) -> LogitsOf | None:
        """The output activation whose input ``lower`` can take as ``logits``, if any."""
        return None

    def values_rank(self, rank: int) -> int:
        """The rank of ``per_sample``'s result for an output of ``rank`` (batch included):
        Keras's loss functions reduce one axis."""
        return rank - 1

    def lower(
        self,
        b: GraphBuilder,
        y_pred: Value,
        y_true: Value,
        prediction: TensorType,
        logits: Value | None = None,
        sample_weight: Value | None = None,
        mask: Value | None = None,
    ) -> Value:
        """Emit ops computing the batch's loss, a float32 scalar (shape ``[]``).

        ``prediction`` is the output's type (without the batch axis); ``y_pred`` and
        ``y_true`` are in Keras's layout, ``y_true`` of type ``label_type(prediction)``.
        Pass ``logits`` only when ``y_pred`` is ``self.logits_activation(prediction)`` of
        them (softmax over the last axis): the loss is then computed from the logits, the
        stable way. Losses that take none ignore them, and so does a ``from_logits`` loss.
        ``sample_weight`` (float32, one per sample) weighs each sample's loss as Keras's
        ``reduce_weighted_values`` does (``_lower_weighted_reduction``). ``mask`` is the
        output's Keras mask (float32 0/1, the shape of the per-step losses): as Keras's
        ``apply_mask``, only the steps it keeps count, and the means divide by their count.
        """
        shape = prediction.full_shape
        for axis in self.axes():
            normalize_axis(axis, len(shape))  # an error here, not in onnxruntime
        if prediction.dtype != "float32":
            y_pred = b.op("Cast", y_pred, to=FLOAT)
            logits = None if logits is None else b.op("Cast", logits, to=FLOAT)
        if self.logits_activation(prediction) is None:
            # Either the predictions are logits already, or the loss takes none.
            logits = y_pred if getattr(self, "from_logits", False) else None
        lowered = self.lower_values(b, shape, y_pred, y_true, logits)
        rank = self.values_rank(len(shape))
        if mask is not None:
            lowered = _masked(b, lowered, mask)
        if sample_weight is not None:
            return self._lower_weighted_reduction(b, lowered, rank, sample_weight)
        return self._lower_reduction(b, lowered, rank)

    def lower_values(
        self, b: GraphBuilder, shape: Shape, y_pred: Value, y_true: Value, logits: Value | None
    ) -> PerSample:
        """Emit Keras's loss function before reduction, for an output of full ``shape``
        (``y_pred`` float32; ``logits`` given only when the loss should use them)."""
        raise NotImplementedError(f"{type(self).__name__} has no lowering")

    def _lower_reduction(self, b: GraphBuilder, lowered: PerSample, rank: int) -> Value:
        """Keras's reduction of the per-sample losses to one number."""
        values, mask = lowered.values, lowered.mask
        if rank == 0:
            # Keras leaves a scalar loss unreduced whatever the reduction (a rank-1
            # output's mean over axis -1 is already over the batch).
            return values
        if self.reduction == "sum":
            return b.reduce_sum(values)
        if mask is not None:
            # Keras weighs the labels that count by total/valid: the sum over the valid count
            # (which is a whole number, so max(count, 1) only changes an empty batch's 0/0).
            count = b.op("Max", b.reduce_sum(mask), b.constant(1.0))
            return b.op("Div", b.reduce_sum(values), count)
        return b.op("ReduceMean", values, keepdims=0)

    def _lower_weighted_reduction(
        self, b: GraphBuilder, lowered: PerSample, rank: int, sample_weight: Value
    ) -> Value:
        """Keras 3's ``reduce_weighted_values`` with one weight per sample: the values times
        the weights (a scalar loss broadcast to one per sample, as Keras's multiply does),
        then ``sum``; ``sum_over_batch_size`` and ``mean`` divide by the number of values,
        not by the weights' sum; ``mean_with_sample_weight`` by the weights' sum. A mask
        (ignored labels) divides the means by its count instead, as Keras's ``apply_mask``
        weighs the valid entries by total/valid."""
        if rank > 1:
            raise ValueError("a weight per sample needs a loss with one value per sample")
        values, mask = lowered.values, lowered.mask
        weighted = b.op("Mul", values, sample_weight)
        total = b.reduce_sum(weighted)
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight":
            merged = sample_weight if mask is None else b.op("Mul", sample_weight, mask)
            return _divide_no_nan(b, total, b.reduce_sum(merged))
        if mask is not None:
            return _divide_no_nan(b, total, b.reduce_sum(mask))
        return b.op("ReduceMean", weighted, keepdims=0)

    def per_sample(self, y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
        """Keras's loss function before reduction, in NumPy float64."""
        raise NotImplementedError

    def reference(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        """The batch's loss by Keras's formula and reduction, in NumPy float64."""
        return reduce_reference(self.per_sample(f64(y_pred), f64(y_true)), self.reduction)

    @classmethod
    def examples(cls) -> list[LossExample]:
        """Configurations, output types and data for the test matrix (every option)."""
        return []


def _divide_no_nan(b: GraphBuilder, numerator: Value, denominator: Value) -> Value:
    """Keras's ``divide_no_nan`` for scalars: 0 where the denominator is 0 (weights that
    are all zero, or every label ignored)."""
    zero = b.op("Cast", b.op("Equal", denominator, b.constant(0.0)), to=FLOAT)
    safe = b.op("Add", denominator, zero)
    return b.op("Mul", b.op("Div", numerator, safe), b.op("Sub", b.constant(1.0), zero))


class FromLogits(Loss):
    """A loss whose predictions may be probabilities or logits."""

    from_logits: bool = False


LOSSES: Registry[Loss] = Registry("loss", package="specc.losses")


def _masked(b: GraphBuilder, lowered: PerSample, mask: Value) -> PerSample:
    """The per-step losses with an output's mask joined to any mask of their own (Keras:
    ``in_mask & out_mask``): masked steps contribute 0 and leave the count."""
    joined = mask if lowered.mask is None else b.op("Mul", lowered.mask, mask)
    return PerSample(b.op("Mul", lowered.values, joined), joined)
