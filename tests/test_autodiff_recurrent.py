"""Gradients of the fused recurrent ops (LSTM, GRU, RNN) against central differences: one op
over each attribute set, and specc's recurrent layers as they lower when the number of
steps is unknown (or too long to unroll), where the training graph keeps the fused op."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from specc.autodiff import differentiate
from specc.autodiff.core import RULES, Backward
from specc.autodiff.rules import recurrent_lanes
from specc.autodiff.rules.recurrent_parts import PARAMETERS
from specc.graph import Graph, Node, Value
from specc.onnx_model import ValueType
from specc.types import TensorType
from tests.autodiff_harness import check_graph_gradients, check_op, op_graph
from tests.spec_helpers import compile_with_random_weights
from tests.test_autodiff_matrix import check_case
from tests.test_trainable_lowering import _layer_case, _layer_cases

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
            (
                {
                    "activations": PARAMETRIZED[op],
                    "activation_alpha": [0.3, 0.7],
                    # RNN's are read per direction, so all are given (see below).
                    **({"activation_beta": [0.4]} if op == "RNN" else {}),
                },
                1,
                True,
                True,
            ),
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
            # onnxruntime's RNN takes alpha and beta per direction (left out, they are
            # refused: their defaults differ across releases).
            specific += [
                ({"activations": [f]}, 1, True, True)
                for f in MORE[op]
                if f.lower() not in PARAMETERS
            ]
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


def test_rnn_activation_without_its_parameters_is_refused() -> None:
    inputs = _inputs("RNN", 1, True, True)
    attributes = {"hidden_size": UNITS, "activations": ["LeakyRelu"]}
    with pytest.raises(ValueError, match="activation_alpha"):
        check_op("RNN", inputs, attributes, outputs=OUTPUTS["RNN"])


@pytest.mark.parametrize(("op", "attributes", "directions", "bias", "initial"), list(_cases()))
def test_fused_op_gradients(
    op: str, attributes: dict[str, Any], directions: int, bias: bool, initial: bool
) -> None:
    inputs = _inputs(op, directions, bias, initial)
    attributes = {"hidden_size": UNITS, **attributes}
    # Clip's kinks: a smaller step keeps the central difference from crossing one.
    eps = 3e-4 if "clip" in attributes else 1e-3
    assert check_op(op, inputs, attributes, outputs=OUTPUTS[op], eps=eps) == []


@pytest.mark.parametrize(
    ("op", "kept"),
    [(op, kept) for op in GATES for kept in ([0], [1], [2], [0, 2]) if max(kept) < OUTPUTS[op]],
    ids=str,
)
def test_gradient_from_some_outputs_only(op: str, kept: list[int]) -> None:
    for attributes in ({}, {"direction": "bidirectional"}):
        inputs = _inputs(op, 2 if attributes else 1)
        attributes = {"hidden_size": UNITS, **attributes}
        graph, wrt, feeds = op_graph(op, inputs, attributes, OUTPUTS[op])
        # Every output stays named (as specc's lowerings leave Y), but only these are read.
        graph.outputs = [graph.outputs[k] for k in kept]
        assert check_graph_gradients(graph, wrt, feeds) == []


# Rows of every length: the full one, none, a single step, and between.
LENGTHS = [[STEPS, 0, 1], [2, 3, 1], [1, 1, 1], [0, 0, 0], [STEPS] * BATCH]


@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("initial", [True, False], ids=["initial", "zeros"])
def test_lstm_sequence_lens_gradients(lengths: list[int], initial: bool) -> None:
    """Past its length a row's states stay and its Y is zeros; a row of length 0 gives
    zeros for Y_h and Y_c (onnxruntime's choice, not the initial states)."""
    inputs = _inputs("LSTM", initial=initial, seed=1)
    inputs[4] = np.asarray(lengths, np.int32)
    attributes = {"hidden_size": UNITS}
    assert check_op("LSTM", inputs, attributes, outputs=3) == []
    for kept in ([0], [1], [2]):
        graph, wrt, feeds = op_graph("LSTM", inputs, attributes, 3)
        graph.outputs = [graph.outputs[k] for k in kept]
        assert check_graph_gradients(graph, wrt, feeds) == []


def test_ignoring_sequence_lens_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check has the power to see a rule that lets every row run every step."""
    right = recurrent_lanes._valid_steps

    def every_step(d: Backward, x: Value, lengths: Value) -> Value:
        return d.op("Add", d.op("Mul", right(d, x, lengths), d.const(0.0)), d.const(1.0))

    monkeypatch.setattr("specc.autodiff.rules.recurrent_lanes._valid_steps", every_step)
    inputs = _inputs("LSTM", seed=1)
    inputs[4] = np.asarray([2, 3, 1], np.int32)
    assert check_op("LSTM", inputs, {"hidden_size": UNITS}, outputs=3) != []


def test_gradients_valid_at_opset_21() -> None:
    graph, wrt, feeds = op_graph(
        "LSTM", _inputs("LSTM", 2), {"hidden_size": UNITS, "direction": "bidirectional"}, 3
    )
    assert check_graph_gradients(graph, wrt, feeds, opset=21) == []


@pytest.mark.parametrize(
    ("op", "inputs", "attributes", "message"),
    [
        ("GRU", {4: np.full(BATCH, STEPS, np.int32)}, {}, "sequence_lens"),
        ("LSTM", {4: np.full(BATCH, STEPS, np.int32)}, {"direction": "reverse"}, "sequence_lens"),
        ("LSTM", {7: np.ones((1, 3 * UNITS), np.float32)}, {}, "peephole"),
        ("LSTM", {}, {"input_forget": 1}, "input_forget"),
        ("RNN", {}, {"layout": 1}, "layout"),
        ("RNN", {}, {"direction": "sideways"}, "direction"),
        ("RNN", {0: np.zeros((STEPS, BATCH, FEATURES), np.float16)}, {}, "float16"),
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
    types = {name: ValueType("float32", shape) for name, shape in shapes.items()}
    types |= {n: ValueType(str(a.dtype), a.shape) for n, a in zip(names, arrays, strict=True) if n}
    with pytest.raises(ValueError, match=f"{op} 'cell'.*{message}"):
        differentiate(graph, "loss", ["x1"], types=types)


def test_a_wrong_shift_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check has the power to see a state taken from the wrong neighbouring step."""
    right = recurrent_lanes.previous

    def wrong(d: Backward, sequence: Value, first: Value, reverse: bool) -> Value:
        return right(d, sequence, first, not reverse)

    monkeypatch.setattr("specc.autodiff.rules.recurrent_lanes.previous", wrong)
    assert check_op("GRU", _inputs("GRU"), {"hidden_size": UNITS}, outputs=2) != []


# -- specc's recurrent layers, as their training graphs keep the fused ops --------------
#
# Stand-ins for the rules of the ops around the fused ones (Transpose, Gather, Pad, ...),
# whose own rules live in other families: used only for ops that have no rule yet, and
# only inside these tests.


def _shape_back(d: Backward, g: list[Value | None]) -> list[Value | None]:
    assert g[0] is not None
    return [d.op("Reshape", g[0], d.shape_of(d.x(0)))] + [None] * (len(d.node.inputs) - 1)


def _transpose_back(d: Backward, g: list[Value | None]) -> list[Value | None]:
    perm = list(d.attr("perm", range(d.rank(d.x(0)) - 1, -1, -1)))
    return [d.op("Transpose", g[0], perm=list(np.argsort(perm)))]


def _gather_back(d: Backward, g: list[Value | None]) -> list[Value | None]:
    x, rank = d.x(0), d.rank(d.x(0))
    axis = d.attr("axis", 0) % rank
    perm = [axis, *[k for k in range(rank) if k != axis]]
    if d.rank(d.x(1)) != 1:
        raise NotImplementedError("stand-in Gather rule: 1-D indices only")
    moved = d.zeros_like(d.op("Transpose", x, perm=perm))
    indices = d.op("Unsqueeze", d.x(1), d.ints([-1], "axes"))
    update = d.op("Transpose", g[0], perm=perm)
    summed = d.op("ScatterND", moved, indices, update, reduction="add")
    return [d.op("Transpose", summed, perm=list(np.argsort(perm))), None]


def _pad_back(d: Backward, g: list[Value | None]) -> list[Value | None]:
    pads = np.asarray(d.b.graph.initializers[d.node.inputs[1]]).reshape(-1)
    starts = d.ints(pads[: len(pads) // 2], "starts")
    ends = d.op("Add", starts, d.shape_of(d.x(0)))
    return [d.op("Slice", g[0], starts, ends), None, None]


def _concat_back(d: Backward, g: list[Value | None]) -> list[Value | None]:
    axis = d.attr("axis")
    sizes = [d.shape(x)[axis] for x in d.inputs]
    if any(s is None for s in sizes):
        raise NotImplementedError("stand-in Concat rule: static sizes only")
    return list(d.op("Split", g[0], d.ints(sizes, "split"), axis=axis, outputs=len(sizes)))


STAND_INS = {
    "Reshape": _shape_back,
    "Squeeze": _shape_back,
    "Unsqueeze": _shape_back,
    "Transpose": _transpose_back,
    "Gather": _gather_back,
    "Pad": _pad_back,
    "Concat": _concat_back,
}


@pytest.fixture
def stand_in_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from specc.autodiff import rules  # noqa: F401  (the real rules first)

    for op, rule in STAND_INS.items():
        if op not in RULES:
            monkeypatch.setitem(RULES, op, rule)


VARIABLE, LONG = (None, 3), (520, 2)
GRU = {"type": "GRU", "units": 2, "return_sequences": True}
LAYERS = [
    ("LSTM", {"units": 3}, VARIABLE),
    ("LSTM", {"units": 3, "return_sequences": True}, VARIABLE),
    ("LSTM", {"units": 2, "return_state": True, "go_backwards": True}, VARIABLE),
    (
        "LSTM",
        {"units": 2, "return_sequences": True, "go_backwards": True, "use_bias": False},
        VARIABLE,
    ),
    ("LSTM", {"units": 2, "return_sequences": True, "return_state": True}, LONG),
    ("GRU", {"units": 3}, VARIABLE),
    ("GRU", {"units": 3, "reset_after": False, "return_sequences": True}, VARIABLE),
    (
        "GRU",
        {"units": 2, "reset_after": False, "go_backwards": True, "return_state": True},
        VARIABLE,
    ),
    (
        "GRU",
        {"units": 2, "go_backwards": True, "return_sequences": True, "use_bias": False},
        VARIABLE,
    ),
    ("GRU", {"units": 2, "return_state": True}, LONG),
    ("SimpleRNN", {"units": 3, "return_sequences": True}, VARIABLE),
    (
        "SimpleRNN",
        {"units": 2, "return_state": True, "go_backwards": True, "use_bias": False},
        VARIABLE,
    ),
    ("Bidirectional", {"layer": {"type": "LSTM", "units": 2}}, VARIABLE),
    ("Bidirectional", {"merge_mode": "sum", "layer": GRU}, VARIABLE),
    ("Bidirectional", {"merge_mode": "mul", "layer": {**GRU, "reset_after": False}}, VARIABLE),
    (
        "Bidirectional",
        {"merge_mode": "ave", "layer": {"type": "LSTM", "units": 2, "return_state": True}},
        VARIABLE,
    ),
    ("Bidirectional", {"merge_mode": None, "layer": {**GRU, "type": "SimpleRNN"}}, VARIABLE),
    (
        "Bidirectional",
        {
            "layer": {"type": "LSTM", "units": 2, "return_sequences": True},
            "backward_layer": {**GRU, "units": 3, "go_backwards": True},
        },
        VARIABLE,
    ),
]


@pytest.mark.parametrize(
    ("layer", "config", "shape"), LAYERS, ids=lambda v: v if isinstance(v, str) else None
)
@pytest.mark.usefixtures("stand_in_rules")
def test_layers_through_the_fused_ops(
    layer: str, config: dict[str, Any], shape: tuple[int | None, int]
) -> None:
    case = _layer_case(layer, config, [TensorType("float32", shape)])
    assert case is not None
    compiled, _ = compile_with_random_weights(case.spec, seed=1, for_training=True)
    fused = {n.op_type for n in compiled.graph.nodes} & {"LSTM", "GRU", "RNN"}
    assert fused, "the training graph was expected to keep the fused op"
    assert check_case(case) == []


def _matrix_cases_with_fused_ops() -> list[Any]:
    """The layer matrix's recurrent examples whose training graph keeps a fused op."""
    recurrent = {"LSTM", "GRU", "SimpleRNN", "Bidirectional"}
    cases = []
    for param in _layer_cases():
        (case,) = param.values
        if case.spec["layers"][-1]["type"] not in recurrent:
            continue
        compiled, _ = compile_with_random_weights(case.spec, seed=1, for_training=True)
        if {n.op_type for n in compiled.graph.nodes} & {"LSTM", "GRU", "RNN"}:
            cases.append(param)
    return cases


@pytest.mark.parametrize("case", _matrix_cases_with_fused_ops())
@pytest.mark.usefixtures("stand_in_rules")
def test_matrix_cases_with_fused_ops(case: Any) -> None:
    assert check_case(case) == []
