"""Keras 3 weight regularizers: config models and their penalties in NumPy.

Names are those ``keras.regularizers.get`` accepts: the class name and Keras's snake_case
of it (``L1L2`` -> ``l1l2``), plus ``l1_l2``, the ``keras.regularizers.l1_l2`` spelling
(Keras 2's string name, which Keras 3's docs still use). Coefficients are checked as
Keras's ``validate_float_arg`` checks them: finite and non-negative.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel

# keras.backend.epsilon(): the floor Keras's normalize puts under a row's norm.
EPSILON = 1e-7


class RegularizerShapeError(ValueError):
    """A regularizer cannot be applied to a weight of this shape."""


def _coefficient(default: float) -> Any:
    """A penalty factor: a finite number >= 0 (ints are accepted, strings and bools not)."""
    return Field(default, ge=0, allow_inf_nan=False)


class Regularizer(SpecModel):
    """Base of every regularizer config; ``penalty`` is the term Keras adds to the loss."""

    def lower(self, b: GraphBuilder, weight: Value, shape: tuple[int, ...]) -> Value:
        """Emit ops computing the penalty of ``weight`` (a float32 scalar)."""
        raise NotImplementedError

    def penalty(self, weight: np.ndarray) -> float:
        """Keras's penalty for ``weight``, computed in float64."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The JSON-able config ``{"type": <Keras class name>, **arguments}``."""
        arguments = self.model_dump(mode="json", exclude={"type"})
        return {"type": REGULARIZERS.canonical_name(type(self)), **arguments}


REGULARIZERS: Registry[Regularizer] = Registry("regularizer")


def _sum(b: GraphBuilder, x: Value) -> Value:
    """The sum of every element, as a scalar."""
    return b.op("ReduceSum", x, keepdims=0)


def _l1(factor: float, w: np.ndarray) -> float:
    return factor * float(np.sum(np.abs(w)))


def _l2(factor: float, w: np.ndarray) -> float:
    return factor * float(np.sum(np.square(w)))


def _float64(weight: np.ndarray) -> np.ndarray:
    return np.asarray(weight, dtype=np.float64)


@REGULARIZERS.register
class L1(Regularizer):
    """penalty = l1 * sum(|w|)."""

    type: Literal["L1", "l1"]
    l1: float = _coefficient(0.01)

    def lower(self, b: GraphBuilder, weight: Value, shape: tuple[int, ...]) -> Value:
        return b.op("Mul", b.constant(self.l1), _sum(b, b.op("Abs", weight)))

    def penalty(self, weight: np.ndarray) -> float:
        return _l1(self.l1, _float64(weight))


@REGULARIZERS.register
class L2(Regularizer):
    """penalty = l2 * sum(w^2)."""

    type: Literal["L2", "l2"]
    l2: float = _coefficient(0.01)

    def lower(self, b: GraphBuilder, weight: Value, shape: tuple[int, ...]) -> Value:
        return b.op("Mul", b.constant(self.l2), _sum(b, b.op("Mul", weight, weight)))

    def penalty(self, weight: np.ndarray) -> float:
        return _l2(self.l2, _float64(weight))


@REGULARIZERS.register
class L1L2(Regularizer):
    """penalty = l1 * sum(|w|) + l2 * sum(w^2)."""

    # Keras 3's defaults are 0.0 for both (the class's), so the bare name "l1l2" adds no
    # penalty; Keras 2's l1_l2() function defaulted to 0.01 each, Keras 3 does not.
    type: Literal["L1L2", "l1l2", "l1_l2"]
    l1: float = _coefficient(0.0)
    l2: float = _coefficient(0.0)

    def lower(self, b: GraphBuilder, weight: Value, shape: tuple[int, ...]) -> Value:
        terms = [L1(type="l1", l1=self.l1), L2(type="l2", l2=self.l2)]
        parts = [
            t.lower(b, weight, shape) for t, c in zip(terms, (self.l1, self.l2), strict=True) if c
        ]
        if not parts:
            return b.constant(0.0)
        return parts[0] if len(parts) == 1 else b.op("Add", *parts)

    def penalty(self, weight: np.ndarray) -> float:
        w = _float64(weight)
        total = 0.0
        # Keras skips a zero term entirely, so 0 * inf never turns the penalty into nan.
        if self.l1:
            total += _l1(self.l1, w)
        if self.l2:
            total += _l2(self.l2, w)
        return total


@REGULARIZERS.register
class OrthogonalRegularizer(Regularizer):
    """penalty = factor * mean over pairs i<j of |<u_i, u_j>|, u the l2-normalized rows/columns."""

    type: Literal["OrthogonalRegularizer", "orthogonal_regularizer"]
    factor: float = _coefficient(0.01)
    mode: Literal["rows", "columns"] = "rows"

    def lower(self, b: GraphBuilder, weight: Value, shape: tuple[int, ...]) -> Value:
        if len(shape) != 2:
            raise RegularizerShapeError(
                f"OrthogonalRegularizer needs a 2D weight; got shape {tuple(shape)}"
            )
        vectors = weight if self.mode == "rows" else b.op("Transpose", weight, perm=[1, 0])
        size = shape[0] if self.mode == "rows" else shape[1]
        if size < 2:
            return b.constant(0.0)
        squares = b.op("Mul", vectors, vectors)
        norms = b.op("Sqrt", b.op("ReduceSum", squares, b.constant([1], np.int64), keepdims=1))
        unit = b.op("Div", vectors, b.op("Max", norms, b.constant(EPSILON)))
        products = b.op("MatMul", unit, b.op("Transpose", unit, perm=[1, 0]))
        off_diagonal = b.op("Mul", products, b.constant(1.0 - np.eye(size)))
        scale = self.factor * 0.5 / (size * (size - 1.0) / 2.0)
        return b.op("Mul", b.constant(scale), _sum(b, b.op("Abs", off_diagonal)))

    def penalty(self, weight: np.ndarray) -> float:
        w = _float64(weight)
        if w.ndim != 2:
            raise RegularizerShapeError(
                f"OrthogonalRegularizer needs a 2D weight; got shape {tuple(w.shape)}"
            )
        # Work on rows either way: columns mode is rows mode of the transpose.
        vectors = w if self.mode == "rows" else w.T
        # Keras's normalize: x * min(1/||x||, 1/epsilon), i.e. x / max(||x||, epsilon),
        # which leaves an all-zero row at zero instead of dividing by zero.
        norms = np.sqrt(np.sum(np.square(vectors), axis=1, keepdims=True))
        unit = vectors / np.maximum(norms, EPSILON)
        size = unit.shape[0]
        if size < 2:
            # No pairs to compare. Keras divides 0 by 0 pairs here and gets nan, which
            # would poison the whole loss; there is nothing to penalize, so 0.
            return 0.0
        off_diagonal = (unit @ unit.T) * (1.0 - np.eye(size))
        num_pairs = size * (size - 1.0) / 2.0
        # The 0.5 undoes counting each pair twice (the product matrix is symmetric).
        return self.factor * 0.5 * float(np.sum(np.abs(off_diagonal))) / num_pairs
