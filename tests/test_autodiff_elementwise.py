"""specc.autodiff's elementwise rules against central differences, their subgradients at
kinks, the ops declared non-differentiable, and every Lambda elementwise function."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from specc.autodiff import differentiate
from specc.autodiff.core import NON_DIFFERENTIABLE, RULES
from specc.graph import GraphBuilder, Value
from specc.lambda_functions import UNARY
from specc.types import FLOAT, TensorType
from tests.autodiff_harness import _run_any_shape, check_graph_gradients, check_op, op_graph
from tests.test_autodiff_matrix import check_case
from tests.test_trainable_lowering import _layer_case

F32 = np.float32


def normal(*shape: int, scale: float = 1.0, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * scale + shift).astype(F32)


def positive(*shape: int, seed: int = 0) -> np.ndarray:
    """Values in [0.5, 2.5): away from the poles of Log, Sqrt, Div and Reciprocal."""
    return (np.random.default_rng(seed).random(shape) * 2 + 0.5).astype(F32)


def scalar(value: float) -> np.ndarray:
    # Clip's bounds as one-element vectors: onnxruntime takes them, and the harness
    # perturbs them as arrays.
    return np.array([value], F32)


CASES: list[Any] = [
    pytest.param("Div", [normal(3, 4), positive(4)], {}, id="Div-broadcast-divisor"),
    pytest.param("Div", [normal(2, 1, 4), positive(3, 1)], {}, id="Div-both-broadcast"),
    pytest.param("Div", [normal(4), -positive(3, 4)], {}, id="Div-broadcast-dividend"),
    pytest.param("Neg", [normal(3, 4)], {}, id="Neg"),
    pytest.param("Abs", [normal(3, 4)], {}, id="Abs"),
    pytest.param("Exp", [normal(3, 4)], {}, id="Exp"),
    pytest.param("Log", [positive(3, 4)], {}, id="Log"),
    pytest.param("Sqrt", [positive(3, 4)], {}, id="Sqrt"),
    pytest.param("Reciprocal", [-positive(3, 4)], {}, id="Reciprocal"),
    pytest.param("Sin", [normal(3, 4, scale=3)], {}, id="Sin"),
    pytest.param("Cos", [normal(3, 4, scale=3)], {}, id="Cos"),
    pytest.param("Erf", [normal(3, 4)], {}, id="Erf"),
    pytest.param("Pow", [positive(3, 4), normal(4)], {}, id="Pow-both-broadcast-exponent"),
    pytest.param("Pow", [positive(4), normal(2, 3, 4)], {}, id="Pow-broadcast-base"),
    pytest.param("Pow", [normal(3, 4), np.array(3, np.int64)], {}, id="Pow-int-exponent"),
    pytest.param("Pow", [normal(3, 4), np.array([2.0], F32)], {}, id="Pow-vector-exponent"),
    pytest.param("Mod", [normal(3, 4, scale=4), positive(4)], {"fmod": 1}, id="Mod-fmod"),
    pytest.param("Max", [normal(3, 4)], {}, id="Max-one-input"),
    pytest.param("Max", [normal(3, 4), normal(4, seed=1)], {}, id="Max-broadcast"),
    pytest.param(
        "Max", [normal(3, 1), normal(4, seed=1), normal(2, 1, 1, seed=2)], {}, id="Max-3-inputs"
    ),
    pytest.param("Min", [normal(3, 4), normal(3, 1, seed=1)], {}, id="Min-broadcast"),
    pytest.param("Min", [normal(4), normal(3, 4, seed=1), normal(1, seed=2)], {}, id="Min-3"),
    pytest.param("Sum", [normal(3, 4), normal(4, seed=1), normal(2, 1, 1, seed=2)], {}, id="Sum"),
    pytest.param("Mean", [normal(3, 4), normal(3, 1, seed=1)], {}, id="Mean"),
    pytest.param(
        "Where", [normal(3, 1) > 0, normal(3, 4, seed=1), normal(4, seed=2)], {}, id="Where"
    ),
    pytest.param(
        "Where", [normal(4) > 0, normal(2, 1, 4, seed=1), normal(3, 1, seed=2)], {}, id="Where-b"
    ),
    pytest.param("Clip", [normal(3, 4)], {}, id="Clip-unbounded"),
    pytest.param(
        "Clip", [normal(3, 4), scalar(-0.5), scalar(0.7)], {}, id="Clip-bounds-differentiated"
    ),
    pytest.param("Clip", [normal(3, 4), scalar(-0.5)], {}, id="Clip-min-only"),
    pytest.param("Clip", [normal(3, 4), None, scalar(0.5)], {}, id="Clip-max-only"),
]


@pytest.mark.parametrize("opset", [17, 21])
@pytest.mark.parametrize(("op", "inputs", "attributes"), CASES)
def test_rules_match_central_differences(
    op: str, inputs: list[np.ndarray | None], attributes: dict[str, Any], opset: int
) -> None:
    assert check_op(op, inputs, attributes, opset=opset) == []


def test_constant_second_inputs() -> None:
    """Clip's bounds and Pow's exponent as constants: only the first input is differentiated."""
    assert check_op("Clip", [normal(3, 4), scalar(-0.5), scalar(0.5)], constant={1, 2}) == []
    assert check_op("Pow", [normal(3, 4), np.array(2.0, F32)], constant={1}) == []


def gradients_at(op: str, inputs: list[np.ndarray | None], **attributes: Any) -> list[np.ndarray]:
    """d sum(op(inputs)) / d each float input, at exactly these points."""
    graph, wrt, feeds = op_graph(op, inputs, attributes)
    b = GraphBuilder.extending(graph)
    loss = b.op("ReduceSum", Value(graph.outputs[0][0]), keepdims=0)
    found = differentiate(b.graph, loss.name, wrt)
    return _run_any_shape(found.graph, feeds, [found.of[w] for w in wrt], 17)


def test_subgradients_at_the_kinks() -> None:
    zero = np.zeros(3, F32)
    # |x| at 0: 0 (sign(0)).
    (g,) = gradients_at("Abs", [zero])
    np.testing.assert_array_equal(g, 0.0)
    # Clip: nothing at or beyond a bound, everything strictly inside.
    points = np.array([-1, 0, 0.5, 1, 2], F32)
    g, low, high = gradients_at("Clip", [points, scalar(0.0), scalar(1.0)])
    np.testing.assert_array_equal(g, [0, 0, 1, 0, 0])
    # ... and the bounds get it where x reached them.
    np.testing.assert_array_equal([low, high], [[2], [2]])
    # Max and Min: tied inputs share the gradient equally.
    for op in ("Max", "Min"):
        a, b = gradients_at(op, [np.array([1, 2, 3], F32), np.array([1, 0, 5], F32)])
        np.testing.assert_array_equal(a + b, 1.0)
        np.testing.assert_array_equal(a[0], 0.5)
    # Pow: the exponent takes 0 where the base is not positive, never NaN.
    _, g = gradients_at("Pow", [np.array([-2.0, 0.0, 2.0], F32), np.full(3, 2.0, F32)])
    np.testing.assert_allclose(g, [0, 0, 4 * np.log(2)], rtol=1e-6)


def test_max_of_a_value_with_itself_is_the_identity() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (4,)))
    b.output(b.op("Max", x, x, x), "y", TensorType("float32", (4,)))
    assert check_graph_gradients(b.graph, ["x"], {"x": normal(2, 4)}) == []


def test_cast_gradients_return_to_the_input_type() -> None:
    """float32 -> float64 and back; an int64 input on the path takes no gradient."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (4,)))
    counts = b.input("counts", TensorType("int64", (4,)))
    w = b.parameter("w", normal(4))
    wide = b.op("Cast", b.op("Mul", x, w), to=11)
    squared = b.op("Cast", b.op("Mul", wide, wide), to=FLOAT)
    y = b.op("Mul", squared, b.op("Cast", counts, to=FLOAT))
    b.output(y, "y", TensorType("float32", (4,)))
    feeds = {"x": normal(2, 4, seed=1), "counts": np.arange(8, dtype=np.int64).reshape(2, 4)}
    assert check_graph_gradients(b.graph, ["x", "w"], feeds) == []


def test_nothing_flows_through_non_differentiable_ops() -> None:
    """y = x * floor(x) + where(x > 0, x, 0) * sign(x): dy/dx = floor(x) + (x > 0)."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (5,)))
    stepped = b.op("Mul", x, b.op("Floor", x))
    gate = b.op("Greater", x, b.constant(0.0))
    kept = b.op("Mul", b.op("Where", gate, x, b.constant(0.0)), b.op("Sign", x))
    b.output(b.op("Add", stepped, kept), "y", TensorType("float32", (5,)))
    assert check_graph_gradients(b.graph, ["x"], {"x": normal(3, 5, scale=2)}) == []
    assert {"Floor", "Sign", "Greater", "Shape", "RandomNormalLike"} <= NON_DIFFERENTIABLE


def test_a_wrong_elementwise_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    right = RULES["Div"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        ga, gb = right(d, g)
        return [ga, None if gb is None else d.op("Mul", gb, d.const(0.95))]

    monkeypatch.setitem(RULES, "Div", wrong)
    assert check_op("Div", [normal(3, 4), positive(4)]) != []


# Every elementwise function and operator of the Lambda language (reductions and shape
# functions belong to other families); Log, Sqrt and friends get positive arguments.
_POSITIVE = {"log", "sqrt", "rsqrt", "reciprocal", "log1p"}
LAMBDA_EXPRESSIONS = [
    *(f"{name}(x * x + 0.5)" if name in _POSITIVE else f"{name}(x)" for name in UNARY),
    "-x + y * 2 - 1",
    "x / (y * y + 1)",
    "x ** 2 + abs(y) ** 1.5",
    "2 ** x",
    "minimum(x, y) + maximum(x, 0.2)",
    "clip(x, -0.5, 0.5)",
    "clip(x, y, 1.0)",
    "where(x > y, x, y * 2) + where(x <= 0.1, x, -x)",
    "where(x != y, x, y) * (x >= 0) + (x < y) * y + (x == x)",
]


@pytest.mark.parametrize("expression", LAMBDA_EXPRESSIONS)
def test_lambda_functions_differentiate(expression: str) -> None:
    float3 = TensorType("float32", (3,))
    inputs = [float3, float3] if re.search(r"\by\b", expression) else [float3]
    case = _layer_case("Lambda", {"expression": expression}, inputs)
    assert case is not None
    assert check_case(case) == []
