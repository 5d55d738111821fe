"""The ``axis`` argument of layers that take one axis or several (Softmax,
UnitNormalization, RMSNormalization): validation and normalisation against an input."""

from __future__ import annotations

from specc.layers.base import ShapeError
from specc.types import TensorType


def axes_list(value: int | list[int]) -> list[int]:
    """An ``axis`` argument (one axis or several) as a list."""
    return value if isinstance(value, list) else [value]


def some_axis(cls: type, value: int | list[int]) -> int | list[int]:
    """Validator of an ``axis`` argument: an empty list names no axis."""
    if isinstance(value, list) and not value:
        raise ValueError("axis must name at least one axis; got axis=[]")
    return value


def sorted_axes(layer: str, axis: int | list[int], x: TensorType) -> list[int]:
    """``axis`` as sorted non-negative axes, each checked against the input."""
    outside = [a for a in axes_list(axis) if not -x.rank <= a < x.rank]
    if outside:
        raise ShapeError(
            f"{layer} axis must be in [-{x.rank}, {x.rank - 1}] for input {x}; got axis={axis}",
            field="axis",
        )
    return sorted({a % x.rank for a in axes_list(axis)})
