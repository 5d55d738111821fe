"""specc.autodiff.rules.recurrent_forward: a plain forward LSTM is rebuilt in the graph
being differentiated so that it hands its gates to the backward pass; its outputs agree
with the fused op's, its gradients with central differences, and every other LSTM keeps
the fused op."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc.autodiff import Gradients, differentiate
from specc.graph import Graph
from tests.autodiff_harness import (
    _run_any_shape,
    _with_probe_loss,
    check_graph_gradients,
    op_graph,
)
from tests.test_autodiff_recurrent import _inputs

UNITS = 5


def _graph(attributes: dict[str, Any], bias: bool = True, initial: bool = True) -> Any:
    directions = 2 if attributes.get("direction") == "bidirectional" else 1
    inputs = _inputs("LSTM", directions, bias, initial)
    return op_graph("LSTM", inputs, {"hidden_size": UNITS, **attributes}, 3)


def _ops(graph: Graph) -> list[str]:
    return [n.op_type for n in graph.nodes]


def _differentiated(graph: Graph, wrt: list[str]) -> Gradients:
    """The gradients of a loss that reads every output of ``graph``."""
    rng = np.random.default_rng(0)
    probes = [rng.normal(size=t.shape) for _, t in graph.outputs]
    with_loss, loss = _with_probe_loss(graph, probes)
    return differentiate(with_loss, loss, wrt)


@pytest.mark.parametrize(("bias", "initial"), [(True, True), (False, False), (True, False)])
def test_a_plain_lstm_is_rebuilt_and_keeps_its_values_and_gradients(
    bias: bool, initial: bool
) -> None:
    graph, wrt, feeds = _graph({}, bias, initial)
    grads = _differentiated(graph, wrt)
    assert "LSTM" not in _ops(grads.graph)
    assert "LSTM" in _ops(graph)  # the graph given is left as it was
    outputs = [name for name, _ in graph.outputs]
    given = {name: feeds[name] for name, _ in graph.inputs}
    fused = _run_any_shape(graph, given, outputs, 17)
    rebuilt = _run_any_shape(grads.graph, given, outputs, 17)
    for a, b in zip(fused, rebuilt, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert check_graph_gradients(graph, wrt, feeds) == []


@pytest.mark.parametrize(
    "attributes",
    [
        {"direction": "reverse"},
        {"direction": "bidirectional"},
        {"clip": 0.5},
        {"activations": ["HardSigmoid", "Tanh", "Tanh"]},
    ],
    ids=str,
)
def test_other_lstms_keep_the_fused_op(attributes: dict[str, Any]) -> None:
    graph, wrt, _ = _graph(attributes)
    grads = _differentiated(graph, wrt)
    assert "LSTM" in _ops(grads.graph)


def test_the_rebuilt_forward_holds_no_lstm_op_and_feeds_the_same_readers() -> None:
    """Y, Y_h and Y_c keep their names: whatever read them reads the rebuilt values."""
    graph, wrt, _ = _graph({})
    names = set(graph.nodes[0].outputs)
    grads = _differentiated(graph, wrt)
    produced = [out for node in grads.graph.nodes for out in node.outputs]
    assert all(produced.count(name) == 1 for name in names)


def test_the_rebuilt_loop_copies_no_state_per_step() -> None:
    """Every per-step output of the forward loop is a value its step computes: none goes
    out through an Identity (a copy per step), and a one-direction node's weights are read
    whole (no Gather of a direction)."""
    graph, wrt, _ = _graph({})
    grads = _differentiated(graph, wrt)
    loops = [n for n in grads.graph.nodes if n.op_type == "Scan"]
    assert loops
    for loop in loops:
        body = loop.attributes["body"]
        assert "Identity" not in [n.op_type for n in body.node]
    picked = [n for n in grads.graph.nodes if n.op_type == "Gather" and "dir" in n.inputs[1]]
    assert picked == []
