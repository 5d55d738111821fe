"""Keras 3 weight constraints: config models and their projections in NumPy.

Keras applies a constraint to a weight after each optimizer step. Names are those
``keras.constraints.get`` accepts: the class name and its snake_case. ``axis`` is the
axis (or list of axes) the norms are taken over: 0 for a Dense kernel's incoming weights,
``[0, 1, 2]`` for a Conv2D kernel's filters.

Each constraint also lowers its projection to ONNX ops (``lower``), in float32 as Keras
computes it, for training graphs that constrain the weights after their update.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel

# keras.backend.epsilon(): keeps the rescaling finite for an all-zero weight vector.
EPSILON = 1e-7


def _distinct(axes: list[int]) -> list[int]:
    # NumPy rejects a repeated axis only when the constraint first runs, mid-training.
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis must not repeat an axis; got axis={axes}")
    return axes


# One axis or a non-empty list of distinct axes (an empty list would normalize each
# scalar by itself).
Axis = int | Annotated[list[int], Field(min_length=1), AfterValidator(_distinct)]


class ConstraintShapeError(ValueError):
    """A constraint cannot be applied to a weight of this shape (e.g. an axis out of range)."""


def _finite(default: float, **bounds: float) -> Any:
    """A finite number field with optional bounds (ints are accepted, strings and bools not)."""
    return Field(default, allow_inf_nan=False, **bounds)


class Constraint(SpecModel):
    """Base of every constraint config; ``apply`` projects a weight as Keras does."""

    def apply(self, weight: np.ndarray) -> np.ndarray:
        """The constrained weight, same shape and (floating) dtype as ``weight``."""
        w = np.asarray(weight)
        dtype = w.dtype if np.issubdtype(w.dtype, np.floating) else np.dtype(np.float64)
        # float64 inside keeps the reference free of float32 rounding in the norms.
        return self._project(w.astype(np.float64)).astype(dtype)

    def config(self) -> dict[str, Any]:
        """The JSON-able config ``{"type": <Keras class name>, **arguments}``."""
        arguments = self.model_dump(mode="json", exclude={"type"})
        return {"type": CONSTRAINTS.canonical_name(type(self)), **arguments}

    def _project(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def lower(self, b: GraphBuilder, w: Value, shape: tuple[int, ...]) -> Value:
        """ONNX ops computing the constrained float32 ``w`` of ``shape`` (Keras's ``__call__``).

        Raises ``ConstraintShapeError`` as ``apply`` does.
        """
        raise NotImplementedError


def norm_axes(constraint: Constraint, shape: tuple[int, ...], axis: int | list[int]) -> list[int]:
    """``axis`` as non-negative axes of a weight of ``shape``.

    Raises ``ConstraintShapeError`` when an axis does not exist in the weight or two axes
    name the same dimension (``[0, -2]`` on a 2D weight).
    """
    axes = [axis] if isinstance(axis, int) else axis
    name = CONSTRAINTS.canonical_name(type(constraint))
    rank = len(shape)
    normalized = []
    for a in axes:
        if not -rank <= a < rank:
            raise ConstraintShapeError(
                f"{name} axis {a} is out of range for a weight of shape "
                f"{tuple(shape)} (rank {rank})"
            )
        normalized.append(a % rank)
    if len(set(normalized)) != len(normalized):
        raise ConstraintShapeError(
            f"{name} axis {axis} names the same axis twice for a weight of rank {rank}"
        )
    return normalized


def l2_norms(constraint: Constraint, w: np.ndarray, axis: int | list[int]) -> np.ndarray:
    """sqrt(sum(w^2)) over ``axis``, kept broadcastable against ``w`` (see ``norm_axes``)."""
    axes = tuple(norm_axes(constraint, w.shape, axis))
    return np.sqrt(np.sum(np.square(w), axis=axes, keepdims=True))


def lower_l2_norms(
    constraint: Constraint,
    b: GraphBuilder,
    w: Value,
    shape: tuple[int, ...],
    axis: int | list[int],
) -> Value:
    """``l2_norms`` as ONNX ops (ReduceSum with its axes as an input, valid at every opset)."""
    axes = norm_axes(constraint, shape, axis)
    return b.op("Sqrt", b.reduce_sum(b.square(w), axes, keepdims=True))


def lower_rescale(b: GraphBuilder, w: Value, desired: Value, norms: Value) -> Value:
    """``w * (desired / (epsilon + norms))``, Keras's rescaling to the desired norms."""
    return b.op("Mul", w, b.op("Div", desired, b.op("Add", b.constant(EPSILON), norms)))


CONSTRAINTS: Registry[Constraint] = Registry("constraint")


@CONSTRAINTS.register
class MaxNorm(Constraint):
    """w * clip(norm, 0, max_value) / (epsilon + norm), norms over ``axis``."""

    type: Literal["MaxNorm", "max_norm"]
    max_value: float = _finite(2.0, ge=0)
    axis: Axis = 0

    def _project(self, w: np.ndarray) -> np.ndarray:
        norms = l2_norms(self, w, self.axis)
        desired = np.clip(norms, 0.0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def lower(self, b: GraphBuilder, w: Value, shape: tuple[int, ...]) -> Value:
        norms = lower_l2_norms(self, b, w, shape, self.axis)
        return lower_rescale(b, w, b.clip(norms, 0.0, self.max_value), norms)


@CONSTRAINTS.register
class MinMaxNorm(Constraint):
    """w * desired / (epsilon + norm), desired = rate*clip(norm, min, max) + (1-rate)*norm."""

    type: Literal["MinMaxNorm", "min_max_norm"]
    min_value: float = _finite(0.0, ge=0)
    max_value: float = _finite(1.0, ge=0)
    # rate 1 enforces the bounds at once; below 1 moves the norm part of the way there.
    rate: float = _finite(1.0, ge=0, le=1)
    axis: Axis = 0

    @model_validator(mode="after")
    def _check_bounds(self) -> MinMaxNorm:
        if self.min_value > self.max_value:
            raise ValueError(
                "min_value must not exceed max_value; got "
                f"min_value={self.min_value}, max_value={self.max_value}"
            )
        return self

    def _project(self, w: np.ndarray) -> np.ndarray:
        norms = l2_norms(self, w, self.axis)
        clipped = np.clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1.0 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def lower(self, b: GraphBuilder, w: Value, shape: tuple[int, ...]) -> Value:
        norms = lower_l2_norms(self, b, w, shape, self.axis)
        clipped = b.clip(norms, self.min_value, self.max_value)
        desired = b.op(
            "Add",
            b.op("Mul", b.constant(self.rate), clipped),
            b.op("Mul", b.constant(1.0 - self.rate), norms),
        )
        return lower_rescale(b, w, desired, norms)


@CONSTRAINTS.register
class NonNeg(Constraint):
    """max(w, 0)."""

    type: Literal["NonNeg", "non_neg"]

    def _project(self, w: np.ndarray) -> np.ndarray:
        return np.maximum(w, 0.0)

    def lower(self, b: GraphBuilder, w: Value, shape: tuple[int, ...]) -> Value:
        # max(w, 0), as apply: Keras's w * (w >= 0) has the same value for every finite
        # weight (-0.0 for a negative one), but NaN rather than 0 at -inf.
        return b.op("Relu", w)


@CONSTRAINTS.register
class UnitNorm(Constraint):
    """w / (epsilon + norm), norms over ``axis``."""

    type: Literal["UnitNorm", "unit_norm"]
    axis: Axis = 0

    def _project(self, w: np.ndarray) -> np.ndarray:
        return w / (EPSILON + l2_norms(self, w, self.axis))

    def lower(self, b: GraphBuilder, w: Value, shape: tuple[int, ...]) -> Value:
        norms = lower_l2_norms(self, b, w, shape, self.axis)
        return b.op("Div", w, b.op("Add", b.constant(EPSILON), norms))
