"""Normalization, the preprocessing layer: y = (x - mean) / max(sqrt(variance), 1e-7).

The statistics are either given (``mean`` and ``variance``: constants of the graph, no
weights) or Keras's adapted state: non-trainable weights ``mean`` and ``variance`` (the
sizes of the kept axes) and ``count`` (a scalar Keras keeps at 0, for old saved models),
which ``specc train`` computes from the training data as ``adapt`` does
(``specc.train.adapt``). Without either, an inference build is refused
(``Layer.weights_from_data``): Keras would normalize by mean 0 and variance 1.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from specc.graph import Value
from specc.initializers import Ones, Zeros
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError, WeightSpec
from specc.layers.normalization import known_dim, normalize_axis, reshape
from specc.lazy_numpy import np
from specc.types import FLOAT, TensorType

# Keras's backend.epsilon(): the smallest standard deviation divided by.
STD_FLOOR = 1e-7
Statistic = float | list[float] | list[list[float]] | list[list[list[float]]]


def _shape_of(name: str, value: Statistic) -> tuple[int, ...]:
    """The shape of a nested list of numbers (``np.asarray(value).shape``, worked out
    without NumPy: shape inference runs when a spec is checked); ValueError when it is
    ragged."""
    if not isinstance(value, list):
        return ()
    shapes = {_shape_of(name, item) for item in value}
    if len(shapes) > 1:
        raise ValueError(f"{name} must be a number or a rectangular nested list")
    return (len(value), *(shapes.pop() if shapes else ()))


def _expanded(shape: tuple[int, ...], rank: int, kept: list[int]) -> list[int]:
    """A statistic's shape at the input's rank: its axes on the kept axes, from the right."""
    expanded = [1] * rank
    for i in range(1, len(shape) + 1):
        expanded[kept[-i]] = shape[-i]
    return expanded


@LAYERS.register
class Normalization(Layer):
    """Normalization: y = (x - mean) / max(sqrt(variance), 1e-7), or with ``invert`` y =
    mean + x * max(sqrt(variance), 1e-7); one statistic per index of the kept ``axis``
    (null: one for all); same shape, float32.
    """

    supports_masking = True  # Keras passes the mask on

    type: Literal["Normalization"]
    axis: int | list[int] | None = -1
    mean: Statistic | None = None
    variance: Statistic | None = None
    invert: bool = False

    @model_validator(mode="after")
    def _statistics_together(self) -> Normalization:
        # Keras's constructor checks, before it sees an input.
        if (self.mean is None) != (self.variance is None):
            raise ValueError(
                "mean and variance must be given together; got "
                f"mean={self.mean} and variance={self.variance}"
            )
        if self.mean is None or self.variance is None:
            return self
        mean_shape = _shape_of("mean", self.mean)
        variance_shape = _shape_of("variance", self.variance)
        if mean_shape != variance_shape:
            raise ValueError(
                f"mean and variance must have the same shape; got mean shape {mean_shape} "
                f"and variance shape {variance_shape}"
            )
        if len(mean_shape) > len(self._given_axes()):
            raise ValueError(
                f"the rank of mean must be at most the number of axes "
                f"({len(self._given_axes())}); got mean shape {mean_shape} for axis={self.axis}"
            )
        return self

    def _given_axes(self) -> list[int]:
        return (
            [] if self.axis is None else self.axis if isinstance(self.axis, list) else [self.axis]
        )

    def _kept(self, x: TensorType) -> list[int]:
        """The kept axes, sorted and non-negative, each of known size."""
        kept = sorted({normalize_axis("Normalization", a, x) for a in self._given_axes()})
        for a in kept:
            known_dim("Normalization", x, a, "mean and variance (axis null normalizes by one)")
        return kept

    def _broadcast_shape(self, x: TensorType) -> list[int]:
        kept = self._kept(x)
        return [x.full_shape[a] or 0 if a in kept else 1 for a in range(x.rank)]

    def _check_statistics(self, x: TensorType) -> None:
        """ShapeError unless mean and variance (one shape, checked above) broadcast to the
        input as Keras's ``build`` does: a number to every kept index, a list aligned with
        the kept axes from the right. Worked out from shapes alone, without NumPy: shape
        inference runs when a spec is checked."""
        target = self._broadcast_shape(x)
        kept = self._kept(x)
        shape = _shape_of("mean", self.mean)
        expanded = _expanded(shape, x.rank, kept)
        if any(e not in (1, t) for e, t in zip(expanded, target, strict=True)):
            raise ShapeError(
                f"Normalization mean and variance of shape {shape} do not broadcast "
                f"to the kept axes' sizes {tuple(x.full_shape[a] for a in kept)} of input "
                f"{x} (axis={self.axis})",
                field="mean",
            )

    def _given_statistics(self, x: TensorType) -> tuple[np.ndarray, np.ndarray]:
        """mean and variance broadcast to the input (``_check_statistics``)."""
        self._check_statistics(x)
        target = self._broadcast_shape(x)
        kept = self._kept(x)
        result = []
        for value in (self.mean, self.variance):
            array = np.asarray(value, dtype=np.float32)
            expanded = _expanded(array.shape, x.rank, kept)
            result.append(np.broadcast_to(array.reshape(expanded), target))
        return result[0], result[1]

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        if x.dtype == "bool":
            raise ShapeError(f"Normalization needs a numeric input; got dtype {x.dtype}")
        if self.mean is not None:
            self._check_statistics(x)
        else:
            self._kept(x)
        return [TensorType("float32", x.shape)]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        if self.mean is not None:
            return []
        x = inputs[0]
        shape = tuple(x.full_shape[a] or 0 for a in self._kept(x))
        return [
            WeightSpec("mean", shape, Zeros(type="zeros"), trainable=False),
            WeightSpec("variance", shape, Ones(type="ones"), trainable=False),
            WeightSpec("count", (), Zeros(type="zeros"), trainable=False),
        ]

    def weights_from_data(self) -> str | None:
        if self.mean is not None:
            return None
        return (
            "Normalization has no mean and variance: give them in the spec, train the spec "
            "(specc train computes them from the training data, as Keras's adapt does), or "
            "build with --weights from a trained model"
        )

    def adapt_axes(self, x: TensorType) -> tuple[int, ...]:
        """The axes ``adapt`` reduces (every axis but the kept ones, batch included)."""
        kept = self._kept(x)
        return tuple(a for a in range(x.rank) if a not in kept)

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, t = ctx.builder, input_types[0]
        x = inputs[0] if t.dtype == "float32" else b.op("Cast", inputs[0], to=FLOAT)
        if self.mean is not None:
            mean_array, variance_array = self._given_statistics(t)
            mean = b.constant(mean_array, np.float32, hint="mean")
            # max(sqrt(variance), epsilon) in float32, as Keras computes it on each call.
            floor = np.maximum(np.sqrt(variance_array), np.float32(STD_FLOOR))
            std = b.constant(floor, np.float32, hint="std")
        else:
            shape = self._broadcast_shape(t)
            mean = reshape(b, weights["mean"], shape)
            root = b.op("Sqrt", reshape(b, weights["variance"], shape))
            std = b.op("Max", root, b.constant(STD_FLOOR, np.float32, hint="std_floor"))
        if self.invert:
            return [b.op("Add", mean, b.op("Mul", x, std))]
        return [b.op("Div", b.op("Sub", x, mean), std)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0].astype(np.float64)
        kept = sorted({a % x.ndim for a in self._given_axes()})
        shape = [x.shape[a] if a in kept else 1 for a in range(x.ndim)]
        if self.mean is not None:
            mean, variance = np.asarray(self.mean), np.asarray(self.variance)
            # Aligned with the kept axes from the right, as Keras's build does.
            expanded = [1] * x.ndim
            for i in range(1, mean.ndim + 1):
                expanded[kept[-i]] = mean.shape[-i]
            mean, variance = mean.reshape(expanded), variance.reshape(expanded)
        else:
            mean = weights["mean"].astype(np.float64).reshape(shape)
            variance = weights["variance"].astype(np.float64).reshape(shape)
        std = np.maximum(np.sqrt(variance), STD_FLOOR)
        return [mean + x * std if self.invert else (x - mean) / std]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        # Random weights would hold negative variances; the adapted (weights) form is
        # tested with its own values in tests/test_layers_preprocessing.py.
        return [
            ({"mean": 3.0, "variance": 2.0}, [TensorType("float32", (4,))]),
            (
                {"mean": [1.0, -2.0, 0.5], "variance": [4.0, 0.25, 0.0]},
                [TensorType("float32", (None, 3))],
            ),
            (
                {"axis": None, "mean": 0.5, "variance": 9.0, "invert": True},
                [TensorType("int32", (2, 3))],
            ),
            (
                {"axis": [1, 2], "mean": [[1.0, 2.0]], "variance": [[1.0, 4.0]]},
                [TensorType("float16", (3, 2))],
            ),
        ]
