"""Per-sample shapes: when an array's shape fits a model's, and what to say when not.

As in Keras 3, a trailing axis of size 1 may be missing or extra (its functional model
adjusts input ranks, its losses squeeze or expand labels). When the shape does not fit but
the values per sample are the same, the hint says how to fix it: a transpose when the axes
are the expected ones in another order (channels first given for channels last), which a
reshape would scramble, else a reshape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from specc.train.data_codes import DATA_SHAPE, LABEL_FORM
from specc.train.data_targets import Target
from specc.types import TensorType


def fmt_shape(shape: tuple[int, ...]) -> str:
    """A concrete shape as Python prints it: ``(1797, 64)``, ``(10,)``."""
    return str(tuple(int(d) for d in shape))


def matches(given: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(given) == len(expected) and all(
        e is None or e == g for g, e in zip(given, expected, strict=True)
    )


def fit_shape(given: tuple[int, ...], expected: tuple[int | None, ...]) -> tuple[int, ...] | None:
    """The per-sample shape ``given`` with one trailing size-1 axis added or dropped where
    Keras would (see the module docstring), or None when it does not match ``expected``."""
    if matches(given, expected):
        return given
    if len(given) == len(expected) + 1 and given[-1] == 1 and matches(given[:-1], expected):
        return given[:-1]
    if len(given) + 1 == len(expected) and expected[-1] == 1 and matches(given, expected[:-1]):
        return (*given, 1)
    return None


def fit_rank(array: np.ndarray, expected: tuple[int | None, ...]) -> np.ndarray | None:
    """``array`` with its per-sample shape fitted as ``fit_shape`` fits it, or None."""
    fitted = fit_shape(array.shape[1:], expected)
    return None if fitted is None else array.reshape(len(array), *fitted)


def layout_hint(array_shape: tuple[int, ...], expected: tuple[int | None, ...]) -> str:
    """How to turn an array of ``array_shape`` into one of per-sample shape ``expected``,
    when it holds the same values per sample: a transpose when its axes are the expected
    ones in another order (channels first for channels last: a reshape would scramble
    the values), else a reshape."""
    given = array_shape[1:]
    if None in expected:
        return ""
    size = math.prod(given)
    if size != math.prod(expected):
        return ""
    if len(given) == len(expected) and sorted(given) == sorted(expected):
        # The first unused axis of the same size, for each expected axis in turn: the
        # permutation that keeps equal-sized axes in their order.
        axes: list[int] = []
        for dim in expected:
            axes.append(next(i for i, d in enumerate(given) if d == dim and i not in axes))
        order = (0, *(axis + 1 for axis in axes))
        return (
            f" (the same axes in another order: transpose it with "
            f"np.transpose(array, {order}); a reshape would scramble the values)"
        )
    return f" (the same {size} values per sample: reshape it to {(array_shape[0], *expected)})"


def shape_problem(
    what: str,
    array_shape: tuple[int, ...],
    expected: TensorType,
    target: Target | None,
    whole: Callable[[], bool],
) -> tuple[str, str]:
    """The code and message for ``what`` (an array of ``array_shape``) not fitting
    ``expected``: a label form mixed up with its loss's, else the shapes with a hint.
    ``whole`` says whether the values are whole numbers; it is called only when needed."""
    given, shape = array_shape[1:], expected.shape
    if (
        target is not None
        and target.form == "one_hot"
        and shape
        and fit_shape(given, shape[:-1]) is not None
        and whole()
    ):
        # Class indices where one-hot rows are needed: the loss is the likelier slip.
        return (
            LABEL_FORM,
            f"{what} must be one-hot labels of shape {expected} for "
            f"categorical_crossentropy; got class indices of shape "
            f"{fmt_shape(array_shape)}; use the loss sparse_categorical_crossentropy, "
            "or one-hot encode the labels",
        )
    if (
        target is not None
        and target.form == "sparse"
        and len(given) == len(shape) + 1
        and matches(given[:-1], shape)
        and given[-1] == (target.classes or given[-1])
        and given[-1] > 1
    ):
        return (
            LABEL_FORM,
            f"{what} must be class indices of shape {expected} for "
            f"sparse_categorical_crossentropy; got one-hot labels of shape "
            f"{fmt_shape(array_shape)}; use the loss categorical_crossentropy, or give "
            "each sample's class index (the argmax of its row)",
        )
    return (
        DATA_SHAPE,
        f"{what} must have shape {expected}; got {fmt_shape(array_shape)}"
        f"{layout_hint(array_shape, shape)}",
    )
