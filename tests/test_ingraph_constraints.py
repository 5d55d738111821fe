"""Each constraint's ONNX lowering (``lower``) against its NumPy ``apply``.

The weights and axes are ``tests/test_constraints.py``'s, which check ``apply`` against
per-unit loops; here onnxruntime runs the lowering on the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc.constraints import CONSTRAINTS, Constraint, ConstraintShapeError, MaxNorm
from specc.graph import GraphBuilder
from specc.types import TensorType
from tests.ingraph_harness import GraphRunner
from tests.test_constraints import AXES, DENSE_W, make


def lowered(constraint: Constraint, w: np.ndarray) -> np.ndarray:
    b = GraphBuilder("constraint")
    weight_type = TensorType("float32", w.shape, batched=False)
    projected = constraint.lower(b, b.input("w", weight_type), w.shape)
    b.output(projected, "constrained", weight_type)
    (out,) = GraphRunner(b.graph).run({"w": w}).values()
    assert out.dtype == np.float32 and out.shape == w.shape
    return out


def check(constraint: Constraint, w: np.ndarray) -> None:
    np.testing.assert_allclose(lowered(constraint, w), constraint.apply(w), rtol=1e-6, atol=1e-7)


SPECS = [
    {"type": "MaxNorm", "max_value": 1.5},
    {"type": "MaxNorm", "max_value": 0.0},
    {"type": "MinMaxNorm", "min_value": 2.0, "max_value": 3.0, "rate": 1.0},
    {"type": "MinMaxNorm", "min_value": 2.0, "max_value": 3.0, "rate": 0.5},
    {"type": "MinMaxNorm", "min_value": 2.0, "max_value": 3.0, "rate": 0.0},
    {"type": "UnitNorm"},
]


@pytest.mark.parametrize(("w", "axis"), [(w, axis) for w, axis, _ in AXES])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_norm_constraints_over_axes(spec: dict[str, Any], w: np.ndarray, axis: Any) -> None:
    check(make({**spec, "axis": axis}), w)
    check(make({**spec, "axis": axis}), w * 10)  # norms above every bound


@pytest.mark.parametrize("name", ["MaxNorm", "MinMaxNorm", "UnitNorm", "NonNeg"])
def test_keras_defaults(name: str) -> None:
    check(make(name), DENSE_W)


def test_non_neg() -> None:
    w = np.array([[-1.0, 0.0], [2.5, -1e-8], [np.inf, -np.inf]], dtype=np.float32)
    got = lowered(make("non_neg"), w)
    # apply's max(w, 0), which is also 0 at -inf (where Keras's w * (w >= 0) is NaN).
    np.testing.assert_array_equal(got, [[0.0, 0.0], [2.5, 0.0], [np.inf, 0.0]])


def test_zero_vectors_stay_zero() -> None:
    w = np.zeros((3, 2), np.float32)
    for name in ("MaxNorm", "MinMaxNorm", "UnitNorm"):
        np.testing.assert_array_equal(lowered(make(name), w), w, err_msg=name)


def test_every_constraint_is_covered() -> None:
    covered = {type(make(spec)) for spec in [*SPECS, "NonNeg"]}
    assert covered == set(CONSTRAINTS)


def test_axis_errors_at_lowering_time() -> None:
    b = GraphBuilder("g")
    w = b.input("w", TensorType("float32", (3, 4), batched=False))
    with pytest.raises(ConstraintShapeError, match=r"MaxNorm axis 2 is out of range"):
        make({"type": "MaxNorm", "axis": 2}).lower(b, w, (3, 4))
    with pytest.raises(ConstraintShapeError, match=r"names the same axis twice"):
        make({"type": "UnitNorm", "axis": [0, -2]}).lower(b, w, (3, 4))


def test_a_wrong_lowering_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """MaxNorm over the wrong axis: the comparison must catch it."""
    constraint = make({"type": "MaxNorm", "max_value": 1.5, "axis": 0})
    w = AXES[0][0]
    check(constraint, w)
    other = make({"type": "MaxNorm", "max_value": 1.5, "axis": 1})
    lower = MaxNorm.lower

    def other_axis(self: MaxNorm, *args: Any) -> Any:
        return lower(other, *args)

    monkeypatch.setattr(MaxNorm, "lower", other_axis)
    with pytest.raises(AssertionError):
        check(constraint, w)
