"""Gradients of the reductions, Softmax, LogSoftmax and CumSum against central differences
(axes as attribute and as input, keepdims, negative axes, noop_with_empty_axes), and
their behaviour where the function has no derivative (ties, zeros)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc.autodiff import differentiate
from specc.autodiff.core import RULES
from specc.autodiff.rules.reduce import RUNTIME_DEPENDENT_NOOPS
from specc.graph import GraphBuilder
from specc.types import TensorType
from tests.autodiff_harness import _run_any_shape, check_graph_gradients, check_op, op_graph

# at_opset is a fixture, used by name.
from tests.test_autodiff_shape import at_opset, ints, loosened, normal  # noqa: F401

REDUCTIONS = [
    "ReduceSum",
    "ReduceMean",
    "ReduceProd",
    "ReduceMax",
    "ReduceMin",
    "ReduceSumSquare",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
]
# Axes forms: (attribute axes, keepdims); None reduces every axis.
FORMS = [([1], 1), ([1], 0), ([-1, 0], 0), ([0, 2], 1), (None, 0), (None, 1)]


def point(op: str) -> np.ndarray:
    """An input away from the op's kinks: distinct values, positive for the logarithms."""
    x = normal(3, 4, 2, seed=1)
    return np.abs(x) + 0.5 if op == "ReduceLogSum" else x


def _form_id(form: Any) -> str:
    axes, keep = form
    return f"axes={axes},keepdims={keep}"


@pytest.mark.parametrize("form", FORMS, ids=_form_id)
@pytest.mark.parametrize("op", REDUCTIONS)
def test_reductions_with_axes_attribute(op: str, form: tuple[list[int] | None, int]) -> None:
    axes, keep = form
    attributes: dict[str, Any] = {"keepdims": keep}
    if op == "ReduceSum":  # axes as an input from opset 13
        inputs = [point(op)] if axes is None else [point(op), ints(*axes)]
    else:
        inputs = [point(op)]
        if axes is not None:
            attributes["axes"] = axes
    assert check_op(op, inputs, attributes) == []
    graph, wrt, feeds = op_graph(op, inputs, attributes)
    assert check_graph_gradients(loosened(graph), wrt, feeds) == []


@pytest.mark.parametrize("op", REDUCTIONS)
def test_reductions_over_a_variable_axis(op: str) -> None:
    """The batch axis reduced: counts and shapes known only at run time."""
    if op == "ReduceSum":
        graph, wrt, feeds = op_graph(op, [point(op), ints(0, 2)], {"keepdims": 0})
    else:
        graph, wrt, feeds = op_graph(op, [point(op)], {"axes": [0, 2], "keepdims": 0})
    assert check_graph_gradients(loosened(graph), wrt, feeds) == []


@pytest.mark.parametrize("op", REDUCTIONS)
def test_reductions_with_axes_input(op: str, at_opset: Any) -> None:  # noqa: F811
    at_opset(18)
    for axes, keep in [([-1], 0), ([0, 1], 1)]:
        assert check_op(op, [point(op), ints(*axes)], {"keepdims": keep}) == []
    # Empty axes with noop_with_empty_axes: the input unchanged, for the reductions whose
    # no-op every onnxruntime release agrees on; refused by name for the others. (With
    # the axes input left out, onnxruntime 1.19 fails in the forward op itself.)
    empty = np.zeros(0, np.int64)
    if op in RUNTIME_DEPENDENT_NOOPS:
        with pytest.raises(ValueError, match="noop_with_empty_axes"):
            check_op(op, [point(op), empty], {"noop_with_empty_axes": 1})
    else:
        assert check_op(op, [point(op), empty], {"noop_with_empty_axes": 1}) == []


def gradient(op: str, x: np.ndarray, attributes: dict[str, Any]) -> np.ndarray:
    """d sum(op(x)) / dx, run in onnxruntime."""
    b = GraphBuilder("g")
    xv = b.input("x", TensorType("float32", x.shape, batched=False))
    loss = b.op("ReduceSum", b.op(op, xv, **attributes), keepdims=0)
    grads = differentiate(b.graph, loss.name, ["x"])
    (found,) = _run_any_shape(grads.graph, {"x": x}, [grads.of["x"]], 17)
    return found


def test_max_and_min_split_the_gradient_among_ties() -> None:
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]], np.float32)
    found = gradient("ReduceMax", x, {"axes": [1], "keepdims": 0})
    np.testing.assert_allclose(found, [[0, 0.5, 0.5, 0], [0.25] * 4])
    found = gradient("ReduceMin", x, {"axes": [1]})
    np.testing.assert_allclose(found, [[0, 0, 0, 1], [0.25] * 4])


def test_prod_at_zeros_is_the_product_of_the_others() -> None:
    x = np.array([[2.0, 0.0, 3.0], [0.0, 5.0, 0.0], [1.0, 2.0, 4.0]], np.float32)
    found = gradient("ReduceProd", x, {"axes": [1], "keepdims": 0})
    np.testing.assert_allclose(found, [[0, 6, 0], [0, 0, 0], [8, 4, 2]])
    # At zeros the product is still linear in each element: central differences agree.
    assert check_op("ReduceProd", [x], {"axes": [1]}) == []
    assert check_op("ReduceProd", [np.abs(x[2:]) - 1], {"keepdims": 0}) == []  # one zero


def test_l2_of_zeros_has_a_zero_gradient() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
    found = gradient("ReduceL2", x, {"axes": [1]})
    np.testing.assert_allclose(found, [[0, 0], [0.6, 0.8]])


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1), ((2, 3, 4), 1)]
)
def test_softmax_family(op: str, shape: tuple[int, ...], axis: int) -> None:
    inputs = [normal(*shape)]
    assert check_op(op, inputs, {"axis": axis}) == []
    graph, wrt, feeds = op_graph(op, inputs, {"axis": axis})
    assert check_graph_gradients(loosened(graph), wrt, feeds) == []


def test_softmax_default_axis_is_the_last() -> None:
    assert check_op("Softmax", [normal(2, 3, 4)]) == []
    assert check_op("LogSoftmax", [normal(2, 3, 4)]) == []


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [1, -3])
def test_cum_sum(exclusive: int, reverse: int, axis: int) -> None:
    inputs = [normal(3, 4, 2), ints(axis)]
    assert check_op("CumSum", inputs, {"exclusive": exclusive, "reverse": reverse}) == []


def test_a_wrong_softmax_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(d, g):  # type: ignore[no-untyped-def]
        # y * dy, forgetting the normalisation term.
        return [d.op("Mul", d.y(0), g[0])]

    monkeypatch.setitem(RULES, "Softmax", wrong)
    assert check_op("Softmax", [normal(3, 5)], {"axis": 1}) != []


def test_a_wrong_reduction_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    right = RULES["ReduceMean"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        gx, _ = right(d, g)
        return [d.op("Mul", gx, d.const(2.0)), None]

    monkeypatch.setitem(RULES, "ReduceMean", wrong)
    assert check_op("ReduceMean", [normal(3, 4)], {"axes": [1]}) != []
