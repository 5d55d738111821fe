"""specc.autodiff's activation rules against central differences, over their attributes,
and every activation of specc's registry lowered into a small graph and differentiated."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import specc.autodiff.core
from specc.activations import ACTIVATIONS, Activation
from specc.autodiff.core import RULES
from specc.graph import Graph, GraphBuilder, Node
from specc.onnx_model import value_types
from specc.types import TensorType
from tests.autodiff_harness import check_graph_gradients, check_op
from tests.test_autodiff_elementwise import gradients_at, normal
from tests.test_trainable_lowering import _activation_values

# Spread wide enough to reach both sides of every kink and the flat ends of HardSigmoid;
# and a narrow spread, where saturating functions still have a large slope.
X = normal(4, 5, scale=3.0)
X_NARROW = normal(3, 4)

CASES: list[Any] = [
    ("Relu", {}),
    ("LeakyRelu", {}),
    ("LeakyRelu", {"alpha": 0.3}),
    ("Elu", {}),
    ("Elu", {"alpha": 0.5}),
    ("Selu", {}),
    ("Selu", {"alpha": 1.2, "gamma": 0.8}),
    ("Celu", {}),
    ("Celu", {"alpha": 2.0}),
    ("ThresholdedRelu", {}),
    ("ThresholdedRelu", {"alpha": -0.5}),
    ("HardSigmoid", {}),
    ("HardSigmoid", {"alpha": 0.5, "beta": 0.3}),
    ("HardSwish", {}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Softplus", {}),
    ("Softsign", {}),
]


def _case_id(case: Any) -> str:
    op, attributes = case
    return op + "".join(f"-{k}={v}" for k, v in attributes.items())


@pytest.mark.parametrize("opset", [17, 21])
@pytest.mark.parametrize("x", [X, X_NARROW], ids=["wide", "narrow"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rules_match_central_differences(case: Any, x: np.ndarray, opset: int) -> None:
    op, attributes = case
    assert check_op(op, [x], attributes, opset=opset) == []


@pytest.mark.parametrize(
    ("op", "attributes", "opset"),
    [("Mish", {}, 18), ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20)],
)
def test_newer_activation_ops(
    op: str, attributes: dict[str, Any], opset: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mish (opset 18) and Gelu (opset 20), which specc's opset-17 graphs do not use; their
    types are inferred at their own opset."""
    monkeypatch.setattr(specc.autodiff.core, "value_types", lambda g: value_types(g, opset))
    for x in (X, X_NARROW):
        t = TensorType("float32", x.shape, batched=False)
        graph = Graph(op, [("x", t)], [("y", t)], [Node(op, ["x"], ["y"], attributes, op)])
        assert check_graph_gradients(graph, ["x"], {"x": x}, opset=opset) == []


def test_subgradients_at_the_kinks() -> None:
    """At 0, Relu gives 0 and LeakyRelu alpha (Keras's x > 0 test); HardSigmoid nothing at
    the ends of its linear stretch."""
    zero = np.zeros(2, np.float32)
    np.testing.assert_array_equal(gradients_at("Relu", [zero])[0], 0.0)
    np.testing.assert_allclose(gradients_at("LeakyRelu", [zero], alpha=0.1)[0], 0.1)
    ends = np.array([-2.5, 2.5, 0.0], np.float32)  # alpha * x + beta = 0, 1, 0.5
    np.testing.assert_allclose(gradients_at("HardSigmoid", [ends])[0], [0, 0, 0.2])
    np.testing.assert_allclose(gradients_at("HardSwish", [np.float32([-3, 3, 0])])[0], [0, 1, 0.5])


def test_a_wrong_activation_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    right = RULES["Sigmoid"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        (gx,) = right(d, g)
        return [d.op("Mul", gx, d.const(1.05))]

    monkeypatch.setitem(RULES, "Sigmoid", wrong)
    assert check_op("Sigmoid", [X_NARROW]) != []


def _configurations() -> list[Any]:
    """Every registered activation by every name, with its defaults, plus the arguments
    that lower it differently (the layer matrix's, and a negative threshold)."""
    values: list[Any] = [{"type": name} for name in ACTIVATIONS.names()]
    values += [value for value in _activation_values() if isinstance(value, dict)]
    values.append({"type": "relu", "negative_slope": 0.1, "threshold": -0.3})
    return values


def _configuration_id(value: dict[str, Any]) -> str:
    arguments = ",".join(f"{k}={v}" for k, v in value.items() if k != "type")
    return f"{value['type']}({arguments})"


def _activation_graph(activation: Activation) -> tuple[Graph, dict[str, np.ndarray]]:
    """y = activation(x @ w + c), x of shape (batch, 2, 3), so softmax has an axis 1."""
    rng = np.random.default_rng(1)
    b = GraphBuilder("activation")
    x = b.input("x", TensorType("float32", (2, 3)))
    w = b.parameter("w", rng.normal(size=(3, 4)).astype(np.float32))
    c = b.parameter("c", rng.normal(size=(4,)).astype(np.float32))
    h = b.op("Add", b.op("MatMul", x, w), c)
    b.output(activation.lower(b, h), "y", TensorType("float32", (2, 4)))
    return b.graph, {"x": normal(3, 2, 3, scale=1.5, seed=2)}


@pytest.mark.parametrize("config", _configurations(), ids=_configuration_id)
def test_every_activation_differentiates(config: dict[str, Any]) -> None:
    activation = ACTIVATIONS.get(config["type"]).model_validate(config)
    if not activation.pointwise and not {"Softmax", "LogSoftmax"} <= RULES.keys():
        pytest.skip("Softmax and LogSoftmax have their rules in the reductions' family")
    graph, feeds = _activation_graph(activation)
    assert check_graph_gradients(graph, ["w", "c", "x"], feeds) == []
