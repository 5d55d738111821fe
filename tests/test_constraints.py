"""Constraints against Keras 3's documented formulas, plus names and validation.

Expected values come from literal hand computations or from per-unit loops over the
weight (one norm per output unit or filter), not from specc's broadcasting code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from specc.constraints import CONSTRAINTS, Constraint, ConstraintShapeError
from specc.registry import SpecModel

EPS = 1e-7  # keras.backend.epsilon()


class Holder(SpecModel):
    """A spec field that takes a constraint, as ``kernel_constraint`` does."""

    con: CONSTRAINTS.discriminated_union()  # type: ignore[valid-type]


def make(spec: str | dict[str, Any]) -> Constraint:
    return Holder.model_validate({"con": spec}).con


def errors_of(spec: str | dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        make(spec)
    return info.value.errors()


def per_slice(w: np.ndarray, kept_axes: tuple[int, ...], rescale: Any) -> np.ndarray:
    """Apply ``rescale(vector, norm)`` to each slice that fixes the indices on ``kept_axes``."""
    out = np.empty_like(w, dtype=np.float64)
    for index in np.ndindex(*(w.shape[a] for a in kept_axes)):
        where: list[Any] = [slice(None)] * w.ndim
        for axis, i in zip(kept_axes, index, strict=True):
            where[axis] = i
        v = w[tuple(where)].astype(np.float64)
        out[tuple(where)] = rescale(v, np.sqrt(np.sum(v * v)))
    return out


DENSE_W = np.array([[3.0, 0.1], [4.0, 0.2], [0.0, 0.2]], dtype=np.float32)  # col norms 5, 0.3


def test_max_norm_on_dense_kernel_by_hand() -> None:
    got = make("max_norm").apply(DENSE_W)  # Keras defaults: max_value=2, axis=0
    assert got.dtype == np.float32
    # Column 0 has norm 5 > 2: scaled by 2 / (5 + eps); column 1 (norm 0.3) is kept.
    np.testing.assert_allclose(got[:, 0], [1.2, 1.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], DENSE_W[:, 1] * (0.3 / (0.3 + EPS)), rtol=1e-6)


KERNEL = np.random.default_rng(4).normal(size=(3, 3, 4, 5)).astype(np.float32)
MATRIX = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)


def clip_rescale(lo: float, hi: float, rate: float = 1.0) -> Any:
    def rescale(v: np.ndarray, n: float) -> np.ndarray:
        desired = rate * min(max(n, lo), hi) + (1 - rate) * n
        return v * desired / (EPS + n)

    return rescale


# (weight, axis as given, the axes that are NOT reduced over)
AXES = [
    (MATRIX, 0, (1,)),
    (MATRIX, 1, (0,)),
    (MATRIX, -1, (0,)),
    (MATRIX, [0, 1], ()),
    (KERNEL, [0, 1, 2], (3,)),
    (KERNEL, [-4, -3, -2], (3,)),
    (KERNEL, 3, (0, 1, 2)),
    (KERNEL, [1, 3], (0, 2)),
]


@pytest.mark.parametrize(("w", "axis", "kept"), AXES)
def test_max_norm_axes(w: np.ndarray, axis: Any, kept: tuple[int, ...]) -> None:
    got = make({"type": "MaxNorm", "max_value": 1.5, "axis": axis}).apply(w)
    want = per_slice(w, kept, clip_rescale(0.0, 1.5))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("w", "axis", "kept"), AXES)
@pytest.mark.parametrize("rate", [1.0, 0.5, 0.0])
def test_min_max_norm_axes(w: np.ndarray, axis: Any, kept: tuple[int, ...], rate: float) -> None:
    spec = {"type": "min_max_norm", "min_value": 2.0, "max_value": 3.0, "rate": rate, "axis": axis}
    got = make(spec).apply(w)
    want = per_slice(w, kept, clip_rescale(2.0, 3.0, rate))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("w", "axis", "kept"), AXES)
def test_unit_norm_axes(w: np.ndarray, axis: Any, kept: tuple[int, ...]) -> None:
    got = make({"type": "UnitNorm", "axis": axis}).apply(w)
    want = per_slice(w, kept, lambda v, n: v / (EPS + n))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_conv_filters_end_up_within_bounds() -> None:
    # Keras docs: axis [0, 1, 2] constrains each Conv2D filter (rows, cols, in_depth).
    big = KERNEL * 10
    got = make({"type": "MinMaxNorm", "min_value": 0.5, "max_value": 1.0, "axis": [0, 1, 2]})
    norms = np.sqrt(np.sum(got.apply(big).astype(np.float64) ** 2, axis=(0, 1, 2)))
    np.testing.assert_allclose(norms, np.ones(5), rtol=1e-5)
    unit = make({"type": "unit_norm", "axis": [0, 1, 2]}).apply(KERNEL)
    np.testing.assert_allclose(np.linalg.norm(unit.reshape(-1, 5), axis=0), 1.0, rtol=1e-5)


def test_min_max_norm_defaults_match_keras() -> None:
    c = make("MinMaxNorm")
    assert (c.min_value, c.max_value, c.rate, c.axis) == (0.0, 1.0, 1.0, 0)
    # Column norm 5 is clipped to max_value 1; 0.3 is inside [0, 1] and kept.
    got = c.apply(DENSE_W)
    np.testing.assert_allclose(got[:, 0], [0.6, 0.8, 0.0], rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], DENSE_W[:, 1] * 0.3 / (0.3 + EPS), rtol=1e-6)


def test_non_neg() -> None:
    w = np.array([[-1.0, 0.0], [2.5, -1e-8]], dtype=np.float32)
    got = make("non_neg").apply(w)
    assert got.dtype == np.float32
    assert np.array_equal(got, np.array([[0.0, 0.0], [2.5, 0.0]], dtype=np.float32))


def test_zero_vectors_stay_zero() -> None:
    w = np.zeros((3, 2), np.float32)
    for name in ("MaxNorm", "MinMaxNorm", "UnitNorm"):
        got = make(name).apply(w)
        assert np.array_equal(got, w), name


def test_float64_weight_keeps_its_dtype() -> None:
    assert make("unit_norm").apply(MATRIX.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize(
    ("axis", "shape", "message"),
    [
        (2, (3, 4), r"MaxNorm axis 2 is out of range for a weight of shape \(3, 4\) \(rank 2\)"),
        ([0, 1, 2], (3, 4), r"axis 2 is out of range"),
        ([0, -2], (3, 4), r"names the same axis twice"),
        (-3, (3, 4), r"axis -3 is out of range"),
    ],
)
def test_axis_errors_at_apply_time(axis: Any, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ConstraintShapeError, match=message):
        make({"type": "MaxNorm", "axis": axis}).apply(np.ones(shape, np.float32))


KERAS_NAMES = {
    "MaxNorm": "MaxNorm",
    "max_norm": "MaxNorm",
    "MinMaxNorm": "MinMaxNorm",
    "min_max_norm": "MinMaxNorm",
    "NonNeg": "NonNeg",
    "non_neg": "NonNeg",
    "UnitNorm": "UnitNorm",
    "unit_norm": "UnitNorm",
}


def test_registry_holds_exactly_keras_names() -> None:
    assert sorted(CONSTRAINTS.names()) == sorted(KERAS_NAMES)


@pytest.mark.parametrize(("name", "canonical"), sorted(KERAS_NAMES.items()))
def test_name_resolution(name: str, canonical: str) -> None:
    for spec in (name, {"type": name}):
        con = make(spec)
        assert type(con).__name__ == canonical
        assert con.config()["type"] == canonical


def test_unknown_name() -> None:
    (error,) = errors_of("max_nrom")
    assert error["type"] == "unknown_name"
    assert "did you mean 'max_norm'" in error["msg"]


@pytest.mark.parametrize(
    ("spec", "error_types"),
    [
        ({"type": "MaxNorm", "axis": "0"}, ["int_type", "list_type"]),
        ({"type": "MaxNorm", "axis": True}, ["int_type", "list_type"]),
        ({"type": "MaxNorm", "axis": []}, ["int_type", "too_short"]),
        ({"type": "MaxNorm", "axis": [0, 0]}, ["int_type", "value_error"]),
        ({"type": "MaxNorm", "max_value": -1}, ["greater_than_equal"]),
        ({"type": "MaxNorm", "max_value": "2"}, ["float_type"]),
        ({"type": "MinMaxNorm", "rate": 1.5}, ["less_than_equal"]),
        ({"type": "MinMaxNorm", "min_value": 2.0, "max_value": 1.0}, ["value_error"]),
        ({"type": "NonNeg", "axis": 0}, ["unknown_key"]),
        ({"type": "UnitNorm", "axes": 0}, ["unknown_key"]),
    ],
)
def test_argument_validation(spec: dict[str, Any], error_types: list[str]) -> None:
    assert [e["type"] for e in errors_of(spec)] == error_types


def test_config() -> None:
    assert make("max_norm").config() == {"type": "MaxNorm", "max_value": 2.0, "axis": 0}
    assert make({"type": "UnitNorm", "axis": [0, 1, 2]}).config() == {
        "type": "UnitNorm",
        "axis": [0, 1, 2],
    }
    assert make("non_neg").config() == {"type": "NonNeg"}
    config = make({"type": "min_max_norm", "rate": 0.5, "axis": -1}).config()
    assert config == {
        "type": "MinMaxNorm",
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 0.5,
        "axis": -1,
    }
    assert make(config).config() == config
