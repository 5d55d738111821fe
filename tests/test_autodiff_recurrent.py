"""Gradients of the fused recurrent ops (LSTM, GRU, RNN) against central differences: one op
over each attribute set, and specc's recurrent layers as they lower when the number of
steps is unknown (or too long to unroll), where the training graph keeps the fused op."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from specc.autodiff import differentiate
from specc.autodiff.core import Backward
from specc.autodiff.rules import recurrent_parts
from specc.graph import Graph, Node, Value
from specc.onnx_model import ValueType
from tests.autodiff_harness import check_graph_gradients, check_op, op_graph

STEPS, BATCH, FEATURES, UNITS = 4, 3, 2, 5
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
OUTPUTS = {"RNN": 2, "GRU": 2, "LSTM": 3}


def _inputs(
    op: str,
    directions: int = 1,
    bias: bool = True,
    initial: bool = True,
    seed: int = 0,
) -> list[np.ndarray | None]:
    """X, W, R, B, sequence_lens (none), initial_h (, initial_c) for ``op``."""
    rng = np.random.default_rng(seed)

    def draw(*shape: int) -> np.ndarray:
        return (0.5 * rng.normal(size=shape)).astype(np.float32)

    rows = GATES[op] * UNITS
    inputs: list[np.ndarray | None] = [
        draw(STEPS, BATCH, FEATURES),
        draw(directions, rows, FEATURES),
        draw(directions, rows, UNITS),
        draw(directions, 2 * rows) if bias else None,
        None,
        draw(directions, BATCH, UNITS) if initial else None,
    ]
    if op == "LSTM":
        inputs.append(draw(directions, BATCH, UNITS) if initial else None)
    return inputs


# (attributes, directions, bias, initial states); every op gets each.
COMMON = [
    ({}, 1, True, True),
    ({"direction": "reverse"}, 1, True, True),
    ({"direction": "bidirectional"}, 2, True, True),
    ({}, 1, False, False),
    ({"direction": "bidirectional"}, 2, False, True),
    ({"activations": ["Relu"] * 3}, 1, True, True),
]
# Activations with parameters: alpha and beta are consumed in list order.
PARAMETRIZED = {
    "RNN": ["ScaledTanh"],
    "GRU": ["HardSigmoid", "Softsign"],
    "LSTM": ["HardSigmoid", "Elu", "Softplus"],
}
MORE = {
    "RNN": ["Affine", "LeakyRelu", "ThresholdedRelu", "Softsign", "Sigmoid", "Elu"],
    "GRU": ["LeakyRelu", "Affine", "Sigmoid", "Tanh"],
    "LSTM": ["HardSigmoid", "ScaledTanh", "ThresholdedRelu"],
}


def _cases() -> Iterator[Any]:
    for op in GATES:
        count = len(PARAMETRIZED[op])
        specific = [
            ({"activations": PARAMETRIZED[op], "activation_alpha": [0.3, 0.7]}, 1, True, True),
            (
                {
                    "direction": "bidirectional",
                    "activations": PARAMETRIZED[op] + MORE[op][:count],
                    "activation_alpha": [0.3, 0.7, 0.1],
                    "activation_beta": [0.4, 0.2],
                },
                2,
                True,
                True,
            ),
        ]
        if op == "RNN":
            # onnxruntime's RNN takes alpha and beta per direction, 0 by default.
            specific += [({"activations": [f]}, 1, True, True) for f in MORE[op]]
            specific += [
                (
                    {"activations": [f], "activation_alpha": [0.6], "activation_beta": [0.3]},
                    1,
                    True,
                    True,
                )
                for f in MORE[op]
            ]
        else:
            # Every parameter at its default.
            specific += [({"activations": MORE[op][: len(PARAMETRIZED[op])]}, 1, True, True)]
        if op == "GRU":
            specific += [
                ({"linear_before_reset": 1}, 1, True, True),
                ({"linear_before_reset": 1, "direction": "reverse"}, 1, True, True),
                ({"linear_before_reset": 1, "direction": "bidirectional"}, 2, True, True),
                ({"linear_before_reset": 1}, 1, False, False),
                ({"linear_before_reset": 1, "clip": 0.6}, 1, True, True),
            ]
        for k, (attributes, directions, bias, initial) in enumerate(COMMON + specific):
            attributes = dict(attributes)
            if "activations" in attributes and attributes["activations"] == ["Relu"] * 3:
                attributes["activations"] = ["Relu"] * {"RNN": 1, "GRU": 2, "LSTM": 3}[op]
            yield pytest.param(op, attributes, directions, bias, initial, id=f"{op}-{k}")
        yield pytest.param(op, {"clip": 0.6}, 1, True, True, id=f"{op}-clip")


@pytest.mark.parametrize(("op", "attributes", "directions", "bias", "initial"), list(_cases()))
def test_fused_op_gradients(
    op: str, attributes: dict[str, Any], directions: int, bias: bool, initial: bool
) -> None:
    inputs = _inputs(op, directions, bias, initial)
    attributes = {"hidden_size": UNITS, **attributes}
    # Clip's kinks: a smaller step keeps the central difference from crossing one.
    eps = 3e-4 if "clip" in attributes else 1e-3
    assert check_op(op, inputs, attributes, outputs=OUTPUTS[op], eps=eps) == []


@pytest.mark.parametrize("op", list(GATES))
@pytest.mark.parametrize("kept", [[0], [1], [2], [0, 2]], ids=str)
def test_gradient_from_some_outputs_only(op: str, kept: list[int]) -> None:
    if max(kept) >= OUTPUTS[op]:
        pytest.skip(f"{op} has no output {max(kept)}")
    for attributes in ({}, {"direction": "bidirectional"}):
        inputs = _inputs(op, 2 if attributes else 1)
        attributes = {"hidden_size": UNITS, **attributes}
        graph, wrt, feeds = op_graph(op, inputs, attributes, OUTPUTS[op])
        # Every output stays named (as specc's lowerings leave Y), but only these are read.
        graph.outputs = [graph.outputs[k] for k in kept]
        assert check_graph_gradients(graph, wrt, feeds) == []


def test_gradients_valid_at_opset_21() -> None:
    graph, wrt, feeds = op_graph(
        "LSTM", _inputs("LSTM", 2), {"hidden_size": UNITS, "direction": "bidirectional"}, 3
    )
    assert check_graph_gradients(graph, wrt, feeds, opset=21) == []


@pytest.mark.parametrize(
    ("op", "inputs", "attributes", "message"),
    [
        ("GRU", {4: np.full(BATCH, STEPS, np.int32)}, {}, "sequence_lens"),
        ("LSTM", {7: np.ones((1, 3 * UNITS), np.float32)}, {}, "peephole"),
        ("LSTM", {}, {"input_forget": 1}, "input_forget"),
        ("RNN", {}, {"layout": 1}, "layout"),
        ("RNN", {}, {"direction": "sideways"}, "direction"),
        ("GRU", {}, {"activations": ["Gelu", "Tanh"]}, "activation gelu"),
        ("LSTM", {}, {"activations": ["Tanh"]}, "activations"),
    ],
)
def test_unsupported_attributes_are_named(
    op: str, inputs: dict[int, np.ndarray], attributes: dict[str, Any], message: str
) -> None:
    arrays = _inputs(op)
    for index, array in inputs.items():
        arrays += [None] * (index + 1 - len(arrays))
        arrays[index] = array
    names = ["" if a is None else f"x{k}" for k, a in enumerate(arrays)]
    graph = Graph("g", initializers={n: a for n, a in zip(names, arrays, strict=True) if n})
    attributes = {"hidden_size": UNITS, **attributes}
    graph.nodes.append(Node(op, names, ["y", "y_h"], attributes, "cell"))
    graph.nodes.append(Node("ReduceSum", ["y_h"], ["loss"], {"keepdims": 0}, "loss"))
    shapes = {"y": (STEPS, 1, BATCH, UNITS), "y_h": (1, BATCH, UNITS), "loss": ()}
    shapes |= {n: a.shape for n, a in zip(names, arrays, strict=True) if n}
    types = {name: ValueType("float32", tuple(shape)) for name, shape in shapes.items()}
    with pytest.raises(ValueError, match=f"{op} 'cell'.*{message}"):
        differentiate(graph, "loss", ["x1"], types=types)


def test_a_wrong_shift_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check has the power to see a state taken from the wrong neighbouring step."""
    right = recurrent_parts.previous

    def wrong(d: Backward, sequence: Value, first: Value, reverse: bool) -> Value:
        return right(d, sequence, first, not reverse)

    monkeypatch.setattr("specc.autodiff.rules.recurrent.previous", wrong)
    assert check_op("GRU", _inputs("GRU"), {"hidden_size": UNITS}, outputs=2) != []
