"""specc.autodiff's engine: paths, accumulation, pruning, and its checks' power."""

from __future__ import annotations

import numpy as np
import pytest

from specc.autodiff import NoGradientRule, differentiate
from specc.autodiff.core import RULES, Backward
from specc.graph import GraphBuilder, Value
from specc.types import TensorType
from tests.autodiff_harness import check_graph_gradients, check_op


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    ("op", "shapes"),
    [
        ("Add", [(3, 4), (4,)]),
        ("Sub", [(2, 1, 4), (3, 1)]),
        ("Mul", [(3, 4), (3, 4)]),
        ("MatMul", [(2, 3, 4), (4, 5)]),
    ],
)
def test_rules_match_central_differences(op: str, shapes: list[tuple[int, ...]]) -> None:
    inputs = [_rng().normal(size=s).astype(np.float32) for s in shapes]
    assert check_op(op, inputs) == []


def _mlp():
    """h = relu-free two-layer net sharing x on two paths: y = (x @ w) * (x @ w) + x @ v."""
    rng = _rng()
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3,)))
    w = b.parameter("w", rng.normal(size=(3, 2)).astype(np.float32))
    v = b.parameter("v", rng.normal(size=(3, 2)).astype(np.float32))
    h = b.op("MatMul", x, w)
    y = b.op("Add", b.op("Mul", h, h), b.op("MatMul", x, v))
    b.output(y, "y", TensorType("float32", (2,)))
    return b.graph, {"x": rng.normal(size=(5, 3)).astype(np.float32)}


def test_gradients_along_several_paths_are_summed() -> None:
    graph, feeds = _mlp()
    assert check_graph_gradients(graph, ["w", "v"], feeds) == []


def test_only_the_path_to_a_weight_is_differentiated() -> None:
    graph, _ = _mlp()
    b = GraphBuilder.extending(graph)
    loss = b.op("ReduceSum", Value("y"), keepdims=0)
    grads = differentiate(b.graph, loss.name, ["v"])
    added = grads.graph.nodes[len(b.graph.nodes) :]
    # d/dv needs nothing of the w branch: no gradient of the Mul, no transpose of w.
    assert not any(
        "Mul" in n.name and "grad/" in n.name
        for n in added
        if n.op_type == "Mul" and any(i == "w" for i in n.inputs)
    )
    assert all("w" not in n.inputs for n in added)


def test_a_missing_rule_is_named() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3,)))
    w = b.parameter("w", np.ones(3, np.float32))
    y = b.op("Sinh", b.op("Mul", x, w))
    loss = b.op("ReduceSum", y, keepdims=0)
    with pytest.raises(NoGradientRule, match="Sinh"):
        differentiate(b.graph, loss.name, ["w"])


def test_a_wrong_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    right = RULES["Mul"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        ga, gb = right(d, g)
        return [ga, None if gb is None else d.op("Mul", gb, d.const(1.05))]

    monkeypatch.setitem(RULES, "Mul", wrong)
    inputs = [_rng().normal(size=(3, 4)).astype(np.float32) for _ in range(2)]
    assert check_op("Mul", inputs) != []


def _dense_relu() -> tuple[GraphBuilder, dict[str, np.ndarray]]:
    """relu(x @ w + bias) on a batched x: the Add's gradient reaches both of its inputs."""
    rng = _rng()
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3,)))
    w = b.parameter("w", rng.normal(size=(3, 4)).astype(np.float32))
    bias = b.parameter("bias", rng.normal(size=(4,)).astype(np.float32))
    y = b.op("Relu", b.op("Add", b.op("MatMul", x, w), bias))
    b.output(y, "y", TensorType("float32", (4,)))
    return b, {"x": rng.normal(size=(5, 3)).astype(np.float32)}


def test_an_unbroadcast_gradient_passes_through_as_it_is() -> None:
    b, feeds = _dense_relu()
    assert check_graph_gradients(b.graph, ["w", "bias"], feeds) == []
    matmul = next(n.outputs[0] for n in b.graph.nodes if n.op_type == "MatMul")
    loss = b.op("ReduceSum", Value("y"), keepdims=0)
    grads = differentiate(b.graph, loss.name, ["w", "bias"])
    # The MatMul's output has the Add's shape: its gradient is the Add's own, with no
    # Shape and Reshape, and the Add stays its only reader (onnxruntime then fuses the
    # MatMul, the Add and the Relu into one Gemm).
    assert [n.op_type for n in grads.graph.nodes if matmul in n.inputs] == ["Add"]
    added = grads.graph.nodes[len(b.graph.nodes) :]
    assert not any(n.op_type == "Shape" and n.inputs[0] in (matmul, "bias") for n in added)
    # The bias's is summed over the batch by a row of ones times the gradient, not by a
    # ReduceSum over the leading axis (onnxruntime's slow strided case).
    ones = {n.outputs[0] for n in added if n.op_type == "ConstantOfShape"}
    assert any(n.op_type == "MatMul" and n.inputs[0] in ones for n in added)
    assert not any(n.op_type == "ReduceSum" for n in added)


def test_a_wrong_sum_over_leading_axes_fails_the_bias_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = Backward.sum_leading

    def wrong(self: Backward, g: Value, count: int, rank: int) -> Value:
        summed = right(self, g, count, rank)
        return self.op("Mul", summed, self.const(1.05)) if count else summed

    monkeypatch.setattr(Backward, "sum_leading", wrong)
    b, feeds = _dense_relu()
    assert check_graph_gradients(b.graph, ["w"], feeds) == []
    assert check_graph_gradients(b.graph, ["bias"], feeds) != []
