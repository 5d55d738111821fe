"""Regularizer penalties against Keras 3's documented formulas, plus names and validation.

Expectations are literal numbers from Keras's docstrings or are recomputed here from the
formula's definition (e.g. the orthogonal penalty as a mean over pairs of cosines), not
from specc's vectorized code.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from pydantic import ValidationError

from specc.graph import GraphBuilder
from specc.onnx_model import to_model_proto
from specc.registry import SpecModel
from specc.regularizers import REGULARIZERS, Regularizer, RegularizerShapeError
from specc.types import TensorType


class Holder(SpecModel):
    """A spec field that takes a regularizer, as ``kernel_regularizer`` does."""

    reg: REGULARIZERS.discriminated_union()  # type: ignore[valid-type]


def make(spec: str | dict[str, Any]) -> Regularizer:
    return Holder.model_validate({"reg": spec}).reg


def errors_of(spec: str | dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        make(spec)
    return info.value.errors()


W = np.array([[1.0, -2.0], [3.0, -4.0]], dtype=np.float32)  # sum|w| = 10, sum w^2 = 30


def test_keras_docstring_examples() -> None:
    # keras.regularizers docs: L2(2.) on ones((5, 5)) is 50.0; a Dense kernel of ones
    # (5 x 5) under L1(0.01) costs 0.25.
    assert make({"type": "L2", "l2": 2.0}).penalty(np.ones((5, 5), np.float32)) == 50.0
    assert make({"type": "L1", "l1": 0.01}).penalty(np.ones((5, 5))) == pytest.approx(0.25)


def test_l1_l2_l1l2_on_known_weight() -> None:
    assert make("l1").penalty(W) == pytest.approx(0.01 * 10)  # Keras default l1=0.01
    assert make("L2").penalty(W) == pytest.approx(0.01 * 30)  # Keras default l2=0.01
    assert make({"type": "L1", "l1": 0.1}).penalty(W) == pytest.approx(1.0)
    assert make({"type": "l2", "l2": 0.1}).penalty(W) == pytest.approx(3.0)
    assert make({"type": "L1L2", "l1": 0.1, "l2": 0.2}).penalty(W) == pytest.approx(7.0)
    assert make({"type": "l1_l2", "l2": 0.5}).penalty(W) == pytest.approx(15.0)
    # Keras 3's L1L2 defaults both factors to 0.0: the bare name adds nothing.
    assert make("l1l2").penalty(W) == 0.0


def test_penalty_on_random_conv_kernel_in_float64() -> None:
    w = np.random.default_rng(3).normal(size=(3, 3, 4, 5)).astype(np.float32)
    wide = w.astype(np.float64).ravel()
    l1 = sum(abs(v) for v in wide)
    l2 = sum(v * v for v in wide)
    got = make({"type": "L1L2", "l1": 0.003, "l2": 0.02}).penalty(w)
    assert isinstance(got, float)
    assert got == pytest.approx(0.003 * l1 + 0.02 * l2, rel=1e-12)


def test_l1l2_skips_zero_terms_like_keras() -> None:
    # Keras adds a term only when its factor is non-zero, so 0 * inf never gives nan.
    w = np.array([np.inf, 1.0])
    assert make({"type": "L1L2", "l1": 0.0, "l2": 0.0}).penalty(w) == 0.0
    assert make({"type": "L1L2", "l1": 0.5}).penalty(np.array([np.inf])) == np.inf


def mean_abs_cosine(vectors: np.ndarray) -> float:
    """Mean over pairs i < j of |cos(v_i, v_j)|, a zero vector counting as orthogonal."""
    total, pairs = 0.0, 0
    for a, b in itertools.combinations(vectors, 2):
        na, nb = math.sqrt(float(a @ a)), math.sqrt(float(b @ b))
        total += 0.0 if na == 0 or nb == 0 else abs(float(a @ b)) / (na * nb)
        pairs += 1
    return total / pairs


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 7)])
def test_orthogonal_regularizer(mode: str, shape: tuple[int, int]) -> None:
    w = np.random.default_rng(11).normal(size=shape).astype(np.float32)
    vectors = w.astype(np.float64) if mode == "rows" else w.astype(np.float64).T
    got = make({"type": "OrthogonalRegularizer", "factor": 0.3, "mode": mode}).penalty(w)
    assert got == pytest.approx(0.3 * mean_abs_cosine(vectors), rel=1e-9)


def test_orthogonal_regularizer_extremes() -> None:
    reg = make("orthogonal_regularizer")  # Keras defaults: factor 0.01, rows
    assert reg.penalty(np.eye(5)) == 0.0
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(6, 6)))
    assert reg.penalty(q) == pytest.approx(0.0, abs=1e-12)
    # Parallel rows: every |cosine| is 1, so the penalty is the factor itself.
    assert reg.penalty(np.outer([1.0, -2.0, 3.0], [1.0, 2.0])) == pytest.approx(0.01)
    # A zero row stays zero under Keras's epsilon-floored normalization: no nan.
    got = reg.penalty(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    assert got == pytest.approx(0.01 * (0 + 0 + math.sqrt(0.5)) / 3)
    # One row has no pairs: nothing to penalize.
    assert reg.penalty(np.ones((1, 4))) == 0.0


def test_orthogonal_regularizer_needs_2d() -> None:
    with pytest.raises(RegularizerShapeError, match=r"2D weight; got shape \(4, 4, 4\)"):
        make("OrthogonalRegularizer").penalty(np.ones((4, 4, 4)))


KERAS_NAMES = {
    "L1": "L1",
    "l1": "L1",
    "L2": "L2",
    "l2": "L2",
    "L1L2": "L1L2",
    "l1l2": "L1L2",  # Keras 3's to_snake_case("L1L2")
    "l1_l2": "L1L2",  # keras.regularizers.l1_l2, and Keras 2's string name
    "OrthogonalRegularizer": "OrthogonalRegularizer",
    "orthogonal_regularizer": "OrthogonalRegularizer",
}


def test_registry_holds_exactly_keras_names() -> None:
    assert sorted(REGULARIZERS.names()) == sorted(KERAS_NAMES)


@pytest.mark.parametrize(("name", "canonical"), sorted(KERAS_NAMES.items()))
def test_name_resolution(name: str, canonical: str) -> None:
    for spec in (name, {"type": name}):
        reg = make(spec)
        assert type(reg).__name__ == canonical
        assert reg.config()["type"] == canonical


def test_unknown_name() -> None:
    (error,) = errors_of("L1_L2")
    assert error["type"] == "unknown_name"
    assert "did you mean 'l1_l2'" in error["msg"]
    (error,) = errors_of({"type": "orthogonal"})
    assert error["type"] == "unknown_name"
    assert "did you mean" in error["msg"]


@pytest.mark.parametrize(
    ("spec", "error_type"),
    [
        ({"type": "L1", "l1": -0.1}, "greater_than_equal"),
        ({"type": "L2", "l2": float("inf")}, "finite_number"),
        ({"type": "L2", "l2": float("nan")}, "finite_number"),
        ({"type": "L1", "l1": "0.1"}, "float_type"),
        ({"type": "L1L2", "l1": True}, "float_type"),
        ({"type": "OrthogonalRegularizer", "factor": -1}, "greater_than_equal"),
        ({"type": "OrthogonalRegularizer", "mode": "row"}, "literal_error"),
        ({"type": "L1", "l2": 0.1}, "unknown_key"),
    ],
)
def test_argument_validation(spec: dict[str, Any], error_type: str) -> None:
    assert [e["type"] for e in errors_of(spec)] == [error_type]


def test_config() -> None:
    assert make("l1_l2").config() == {"type": "L1L2", "l1": 0.0, "l2": 0.0}
    assert make({"type": "L1", "l1": 1}).config() == {"type": "L1", "l1": 1.0}
    assert make("orthogonal_regularizer").config() == {
        "type": "OrthogonalRegularizer",
        "factor": 0.01,
        "mode": "rows",
    }
    config = make({"type": "l1_l2", "l1": 0.25, "l2": 0.5}).config()
    assert make(config).config() == config


@pytest.mark.parametrize(
    "config",
    [
        {"type": "l1", "l1": 0.3},
        {"type": "l2"},
        {"type": "l1_l2", "l1": 0.1, "l2": 0.2},
        {"type": "L1L2", "l2": 0.2},
        {"type": "l1_l2"},
        {"type": "OrthogonalRegularizer", "factor": 0.5},
        {"type": "OrthogonalRegularizer", "mode": "columns"},
    ],
)
def test_onnx_penalty_matches_numpy(config: dict) -> None:
    regularizer = REGULARIZERS.get(config["type"]).model_validate(config)
    weight = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    b = GraphBuilder("penalty")
    # The weight is fed as a batched input: its rows play the batch axis.
    value = b.input("w", TensorType("float32", (3,)))
    b.output(regularizer.lower(b, value, (4, 3)), "penalty", TensorType("float32", ()))
    model = to_model_proto(b.graph)
    model.graph.output[0].type.tensor_type.shape.ClearField("dim")
    onnx.checker.check_model(model, full_check=True)
    (got,) = ort.InferenceSession(model.SerializeToString()).run(None, {"w": weight})
    assert float(got) == pytest.approx(regularizer.penalty(weight), rel=1e-5, abs=1e-7)
