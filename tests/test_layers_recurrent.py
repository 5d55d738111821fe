"""SimpleRNN, LSTM and GRU: onnxruntime against the NumPy reference and against values from
Keras 3 itself, weight layouts and counts, dropout in both modes, lowering choices, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from pydantic import ValidationError

from specc.graph import GraphBuilder
from specc.layers.base import TRAINING_FLAG, LowerContext, ShapeError
from specc.layers.recurrent_unrolled import MAX_UNROLLED_STEPS
from specc.onnx_model import to_model_proto
from specc.pipeline import CompiledModel, check_spec, compile_data, compile_spec
from specc.random_ops import RANDOM_STEP, uniform_np
from specc.summary import parameter_counts
from specc.types import TensorType
from specc.weights import save_weights
from tests.layer_harness import make_layer, random_weights
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import (
    all_outputs_spec,
    compare_compiled,
    compile_with_random_weights,
    random_inputs,
    run_compiled,
    single_layer_spec,
    write_spec,
)
from tests.test_trainable_lowering import Case, check_gradients

if HAVE_ORT_TRAINING:  # else the tests marked ort_training are skipped
    from specc.train.engine import CheckpointState, Module, artifacts, quiet_stderr


def compare(
    type_name: str, config: dict[str, Any], types: list[TensorType], steps: int = 5
) -> tuple[CompiledModel, list[np.ndarray]]:
    """Compile with random weights; every output against the reference."""
    inputs = random_inputs(types, batch=4, seed=4)
    if steps != 5:
        inputs = [np.random.default_rng(5).normal(size=(4, steps, types[0].shape[1]))]
        inputs = [a.astype(types[0].dtype) for a in inputs]
    spec = all_outputs_spec(type_name, config, types)
    compiled, got = compare_compiled(spec, inputs, seed=3, rtol=1e-4, atol=1e-5)
    assert all(g.dtype == np.float32 for g in got)
    return compiled, got


SEQ = TensorType("float32", (6, 3))
VAR = TensorType("float32", (None, 3))
ONE_STEP = TensorType("float32", (1, 3))


@pytest.mark.parametrize("t", [SEQ, VAR], ids=["fixed", "variable"])
@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("LSTM", {"units": 5}),
        ("LSTM", {"units": 3, "return_sequences": True, "return_state": True}),
        ("LSTM", {"units": 1, "go_backwards": True, "return_sequences": True}),
        ("LSTM", {"units": 4, "use_bias": False, "return_state": True, "go_backwards": True}),
        ("GRU", {"units": 5, "return_state": True}),
        ("GRU", {"units": 3, "reset_after": False, "return_sequences": True}),
        ("GRU", {"units": 2, "go_backwards": True, "return_sequences": True, "return_state": True}),
        ("GRU", {"units": 3, "reset_after": False, "use_bias": False, "go_backwards": True}),
        ("SimpleRNN", {"units": 5, "return_state": True}),
        ("SimpleRNN", {"units": 3, "go_backwards": True, "return_sequences": True}),
        ("SimpleRNN", {"units": 2, "use_bias": False, "return_sequences": True}),
    ],
)
def test_matches_reference(type_name: str, config: dict[str, Any], t: TensorType) -> None:
    compare(type_name, config, [t])


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("LSTM", {"units": 3, "activation": "relu", "return_sequences": True}),
        ("LSTM", {"units": 2, "recurrent_activation": "hard_sigmoid", "return_state": True}),
        ("LSTM", {"units": 2, "activation": None, "recurrent_activation": None}),
        ("GRU", {"units": 3, "activation": "softsign", "go_backwards": True}),
        ("GRU", {"units": 2, "recurrent_activation": "hard_sigmoid", "reset_after": False}),
        ("SimpleRNN", {"units": 3, "activation": "relu", "return_sequences": True}),
        ("SimpleRNN", {"units": 2, "activation": None, "go_backwards": True}),
    ],
)
def test_other_activations_unroll(type_name: str, config: dict[str, Any]) -> None:
    compiled, _ = compare(type_name, config, [SEQ])
    ops = {n.op_type for n in compiled.graph.nodes}
    assert not ops & {"LSTM", "GRU", "RNN", "Loop", "Scan"}


@pytest.mark.parametrize("type_name", ["LSTM", "GRU", "SimpleRNN"])
def test_variable_length_takes_any_length(type_name: str) -> None:
    for steps in (1, 9):
        compare(type_name, {"units": 3, "return_sequences": True}, [VAR], steps=steps)


def test_lowering_choice() -> None:
    """Training graphs unroll LSTM/GRU at a known length up to the cap, inference models
    keep ONNX LSTM/GRU wherever they compute Keras's maths; SimpleRNN unrolls known lengths
    up to its cap in both (else a GRU). Configs no ONNX op computes unroll in both."""
    long = TensorType("float32", (MAX_UNROLLED_STEPS + 1, 3))
    at_cap = TensorType("float32", (MAX_UNROLLED_STEPS, 3))
    rnn_long = TensorType("float32", (4 * MAX_UNROLLED_STEPS + 1, 3))
    # (type, config, input, op when lowered for training, op when lowered for inference)
    cases = [
        ("LSTM", {"units": 2}, SEQ, None, "LSTM"),
        ("LSTM", {"units": 2}, at_cap, None, "LSTM"),
        ("LSTM", {"units": 2}, VAR, "LSTM", "LSTM"),
        ("LSTM", {"units": 2}, long, "LSTM", "LSTM"),
        ("LSTM", {"units": 2, "dropout": 0.2}, SEQ, None, "LSTM"),
        ("LSTM", {"units": 2, "activation": "relu"}, SEQ, None, None),
        ("LSTM", {"units": 2, "activation": "relu"}, long, None, None),
        ("GRU", {"units": 2}, SEQ, None, "GRU"),
        ("GRU", {"units": 2, "reset_after": False}, at_cap, None, "GRU"),
        ("GRU", {"units": 2}, VAR, "GRU", "GRU"),
        ("GRU", {"units": 2}, long, "GRU", "GRU"),
        ("GRU", {"units": 2, "recurrent_dropout": 0.5}, SEQ, None, None),
        ("SimpleRNN", {"units": 2}, SEQ, None, None),
        ("SimpleRNN", {"units": 2}, VAR, "GRU", "GRU"),
        ("SimpleRNN", {"units": 2}, long, None, None),
        ("SimpleRNN", {"units": 2}, rnn_long, "GRU", "GRU"),
    ]
    for type_name, config, t, training_op, inference_op in cases:
        for for_training, op in ((True, training_op), (False, inference_op)):
            layer = make_layer(type_name, **config)
            b = GraphBuilder("choice")
            x = b.input("x", t)
            params = {w.name: b.parameter(w.name, np.zeros(w.shape)) for w in layer.weights([t])}
            flag = b.constant(False, np.bool_)
            layer.lower(LowerContext(b, flag, for_training=for_training), [x], [t], params)
            ops = [n.op_type for n in b.graph.nodes]
            case = (type_name, config, t, for_training)
            assert not set(ops) & {"RNN", "Loop", "Scan"}, case
            assert (op in ops) if op else not set(ops) & {"LSTM", "GRU"}, case
            # The unrolled form slices nothing per step (test_unrolled_split_outputs_all_used).
            assert "Slice" not in ops, case


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("LSTM", {"units": 4, "return_sequences": True, "return_state": True}),
        ("LSTM", {"units": 3, "go_backwards": True, "use_bias": False, "return_state": True}),
        ("GRU", {"units": 4, "return_sequences": True, "return_state": True}),
        ("GRU", {"units": 3, "reset_after": False, "go_backwards": True, "return_state": True}),
    ],
)
def test_training_and_inference_lowerings_agree(type_name: str, config: dict[str, Any]) -> None:
    """At a fixed length, the unrolled training lowering and the fused inference one hold
    the same parameters and compute the same outputs."""
    spec = all_outputs_spec(type_name, config, [SEQ])
    inference, _ = compile_with_random_weights(spec, seed=3)
    training = compile_data(spec, weights=inference.weights, for_training=True)
    fused = {n.op_type for n in inference.graph.nodes}
    assert type_name in fused
    assert not {n.op_type for n in training.graph.nodes} & {"LSTM", "GRU"}
    assert training.graph.parameters == inference.graph.parameters
    for name in inference.graph.parameters:
        np.testing.assert_array_equal(
            training.graph.initializers[name], inference.graph.initializers[name]
        )
    x = random_inputs([SEQ], batch=4, seed=4)
    got = run_compiled(inference, x)
    want = run_compiled(training, x)
    assert len(got) == len(want) == len(spec["outputs"])
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_unrolled_split_outputs_all_used() -> None:
    """Every Split output of the unrolled forms feeds a node: an unused one would get a
    silently wrong gradient in onnxruntime-training (docs/engine-notes.md#split-unused-output)."""
    configs = [
        ("LSTM", {"units": 3, "recurrent_dropout": 0.3, "dropout": 0.2}),
        ("LSTM", {"units": 3, "return_sequences": True}),
        ("GRU", {"units": 3}),
        ("GRU", {"units": 3, "reset_after": False, "recurrent_dropout": 0.3, "dropout": 0.1}),
        ("GRU", {"units": 3, "use_bias": False, "recurrent_dropout": 0.3}),
        ("SimpleRNN", {"units": 3, "recurrent_dropout": 0.3}),
    ]
    for type_name, config in configs:
        layer = make_layer(type_name, **config)
        b = GraphBuilder("split")
        x = b.input("x", SEQ)
        params = {w.name: b.parameter(w.name, np.zeros(w.shape)) for w in layer.weights([SEQ])}
        ctx = LowerContext(b, b.constant(True, np.bool_), for_training=True)
        outs = layer.lower(ctx, [x], [SEQ], params)
        used = {name for n in b.graph.nodes for name in n.inputs} | {o.name for o in outs}
        splits = [n for n in b.graph.nodes if n.op_type == "Split"]
        assert splits
        for node in splits:
            assert set(node.outputs) <= used, (type_name, config, node.name)


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("LSTM", {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.3, "return_state": True}),
        ("GRU", {"units": 3, "dropout": 0.2, "return_sequences": True}),
        ("GRU", {"units": 3, "reset_after": False, "recurrent_dropout": 0.3}),
        ("SimpleRNN", {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.3}),
    ],
)
def test_unrolled_shapes_are_inferred(type_name: str, config: dict) -> None:
    """Every tensor of the unrolled form has a known shape (batch as the input's symbol).

    An unknown one (e.g. a state Expanded to a computed shape) spreads to every later step,
    and onnxruntime's session creation then grows quadratically with the steps.
    """
    spec = all_outputs_spec(type_name, config, [SEQ])
    compiled, _ = compile_with_random_weights(spec, for_training=True)
    model = onnx.shape_inference.infer_shapes(to_model_proto(compiled.graph, 17), strict_mode=True)
    # Shape inference names a dimension it cannot follow "unk__<n>".
    unknown = [
        v.name
        for v in model.graph.value_info
        if not v.type.tensor_type.HasField("shape")
        or any(not d.dim_value and d.dim_param != "batch" for d in v.type.tensor_type.shape.dim)
    ]
    assert len(model.graph.value_info) > 50
    assert not unknown


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("LSTM", {"units": 3, "return_sequences": True, "return_state": True}),
        ("GRU", {"units": 3, "reset_after": False, "return_state": True, "go_backwards": True}),
        ("SimpleRNN", {"units": 3, "return_sequences": True, "return_state": True}),
    ],
)
def test_fused_and_unrolled_agree(type_name: str, config: dict[str, Any]) -> None:
    """Recurrent dropout forces unrolling but is the identity at inference."""
    compiled, fused = compare(type_name, config, [VAR], steps=6)
    unrolled_config = {**config, "recurrent_dropout": 0.3}
    spec = all_outputs_spec(type_name, unrolled_config, [SEQ])
    unrolled = compile_data(spec, weights=compiled.weights)
    assert "LSTM" not in {n.op_type for n in unrolled.graph.nodes}
    x = np.random.default_rng(5).normal(size=(4, 6, 3)).astype(np.float32)
    for a, b in zip(fused, run_compiled(unrolled, [x]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# Outputs of Keras 3.15.1 (numpy backend) for these layers, with weights
# 0.5 * sin(1 + 0.7 * arange(size) + k) for the k-th weight and input the same with k=0.3.
KERAS_INPUT = (2, 3, 2)
KERAS = {
    "lstm": (
        {"type": "LSTM", "units": 2, "return_sequences": True},
        {"return_state": True, "go_backwards": True},
        [
            [
                [[-0.035652, 0.099528], [-0.109034, 0.035933], [-0.132292, -0.057934]],
                [[-0.104234, -0.051977], [-0.11306, -0.055727], [-0.064009, 0.056964]],
            ],
            [[-0.132292, -0.057934], [-0.064009, 0.056964]],
            [[-0.277875, -0.106842], [-0.099569, 0.089982]],
        ],
    ),
    "gru_after": (
        {"type": "GRU", "units": 2},
        {"return_state": True},
        [
            [[-0.299869, -0.063171], [-0.223594, -0.100288]],
            [[-0.299869, -0.063171], [-0.223594, -0.100288]],
        ],
    ),
    "gru_before": (
        {"type": "GRU", "units": 2, "reset_after": False},
        {"return_sequences": True, "go_backwards": True},
        [
            [
                [[-0.159708, 0.083834], [-0.229908, 0.027806], [-0.163994, 0.043783]],
                [[-0.119984, -0.023179], [-0.087826, 0.071149], [-0.106076, 0.189844]],
            ]
        ],
    ),
    "simple_rnn": (
        {"type": "SimpleRNN", "units": 2},
        {"return_sequences": True},
        [
            [
                [[0.402653, -0.016583], [0.293598, -0.068684], [-0.12685, -0.369028]],
                [[-0.091636, -0.414222], [0.351327, 0.038422], [0.450049, 0.022381]],
            ]
        ],
    ),
}


def keras_values(shape: tuple[int, ...], k: float) -> np.ndarray:
    """The deterministic values the Keras outputs above were computed with."""
    n = int(np.prod(shape))
    return (0.5 * np.sin(1.0 + 0.7 * np.arange(n) + k)).reshape(shape).astype(np.float32)


def run_with_keras_values(
    tmp_path: Path, type_name: str, config: dict, outputs: int, t: TensorType
) -> list[np.ndarray]:
    """The layer on KERAS_INPUT with Keras-ordered deterministic weights; every output."""
    spec = single_layer_spec(type_name, config, [t])
    spec["outputs"] = ["layer", *(f"layer[{i}]" for i in range(1, outputs))]
    path = write_spec(tmp_path, spec)
    shapes = compile_spec(path, seed=0).weights
    weights = {key: keras_values(a.shape, k) for k, (key, a) in enumerate(shapes.items())}
    save_weights(tmp_path / "w.npz", weights)
    return run_compiled(compile_spec(path, tmp_path / "w.npz"), [keras_values(KERAS_INPUT, 0.3)])


@pytest.mark.parametrize("case", sorted(KERAS))
@pytest.mark.parametrize("length", [3, None])
def test_matches_keras(tmp_path: Path, case: str, length: int | None) -> None:
    base, extra, want = KERAS[case]
    config = {k: v for k, v in {**base, **extra}.items() if k != "type"}
    t = TensorType("float32", (length, 2))  # None: the variable-length lowering
    got = run_with_keras_values(tmp_path, base["type"], config, len(want), t)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, np.asarray(w), atol=2e-6)


@pytest.mark.parametrize(
    ("type_name", "config", "count"),
    [
        ("LSTM", {"units": 5}, 4 * (3 * 5 + 5 * 5 + 5)),
        ("LSTM", {"units": 5, "use_bias": False}, 4 * (3 * 5 + 5 * 5)),
        ("GRU", {"units": 5}, 3 * (3 * 5 + 5 * 5 + 2 * 5)),
        ("GRU", {"units": 5, "reset_after": False}, 3 * (3 * 5 + 5 * 5 + 5)),
        ("SimpleRNN", {"units": 5}, 3 * 5 + 5 * 5 + 5),
        ("SimpleRNN", {"units": 5, "use_bias": False}, 3 * 5 + 5 * 5),
    ],
)
def test_parameter_counts_and_layouts(
    tmp_path: Path, type_name: str, config: dict[str, Any], count: int
) -> None:
    typed = check_spec(write_spec(tmp_path, single_layer_spec(type_name, config, [SEQ])))
    assert parameter_counts(typed) == (count, 0)
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[type_name]
    shapes = {w.name: w.shape for w in typed.parameters_of("layer")}
    assert shapes["kernel"] == (3, gates * 5)
    assert shapes["recurrent_kernel"] == (5, gates * 5)
    if config.get("use_bias", True):
        reset_after = type_name == "GRU" and config.get("reset_after", True)
        assert shapes["bias"] == ((2, 15) if reset_after else (gates * 5,))


@pytest.mark.parametrize(
    ("config", "want"),
    [
        ({}, [0, 0, 1, 1, 0, 0, 0, 0]),
        ({"unit_forget_bias": False}, [0] * 8),
        ({"bias_initializer": "ones"}, [1] * 8),
        (
            {"unit_forget_bias": False, "bias_initializer": {"type": "Constant", "value": 2}},
            [2] * 8,
        ),
    ],
)
def test_lstm_unit_forget_bias(tmp_path: Path, config: dict[str, Any], want: list[float]) -> None:
    spec = single_layer_spec("LSTM", {"units": 2, **config}, [SEQ])
    weights = compile_spec(write_spec(tmp_path, spec), seed=0).weights
    np.testing.assert_array_equal(weights["layer/bias"], np.asarray(want, np.float32))


def test_lstm_unit_forget_bias_keeps_a_random_initializer_elsewhere(tmp_path: Path) -> None:
    config = {"units": 3, "bias_initializer": {"type": "RandomNormal", "seed": 1}}
    spec = single_layer_spec("LSTM", config, [SEQ])
    bias = compile_spec(write_spec(tmp_path, spec), seed=0).weights["layer/bias"]
    np.testing.assert_array_equal(bias[3:6], 1.0)
    assert np.all(bias[:3] != 1.0) and np.all(bias[6:] != 1.0)


def test_default_initializers_are_keras(tmp_path: Path) -> None:
    spec = single_layer_spec("GRU", {"units": 4}, [SEQ])
    weights = compile_spec(write_spec(tmp_path, spec), seed=0).weights
    recurrent = weights["layer/recurrent_kernel"].astype(np.float64)
    # Orthogonal (4, 12): orthonormal rows.
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)
    limit = np.sqrt(6 / (3 + 12))  # glorot_uniform
    assert np.abs(weights["layer/kernel"]).max() <= limit
    np.testing.assert_array_equal(weights["layer/bias"], 0)


# -- dropout --------------------------------------------------------------------------


def run_training(
    type_name: str, config: dict[str, Any], t: TensorType, x: np.ndarray, weights: dict
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The layer's outputs with the training flag True at random step 3, and the dropout
    masks Keras's rule gives on specc's generator, in order: the input masks (one per gate
    when the layer also drops recurrently, else one), drawing from streams seed, seed + 1,
    ...; then the recurrent ones, from seed + gates on. The outputs match a reference only
    if the lowering draws exactly these."""
    layer = make_layer(type_name, **config)
    b = GraphBuilder("rnn_train")
    value = b.input("x", t)
    params = {name: b.parameter(f"layer.{name}", a) for name, a in weights.items()}
    training = b.constant(True, dtype=np.bool_, hint="training")
    with b.scope("layer"):
        outs = layer.lower(LowerContext(b, training, for_training=True), [value], [t], params)
    for i, (out, ot) in enumerate(zip(outs, layer.output_types([t]), strict=True)):
        b.output(out, f"y{i}", ot)
    session = ort.InferenceSession(to_model_proto(b.graph).SerializeToString())
    feeds = {"x": x, RANDOM_STEP: np.array(3)}
    names = {i.name for i in session.get_inputs()}  # no step where nothing is drawn
    results = session.run(None, {k: v for k, v in feeds.items() if k in names})
    seed, gates, batch = config.get("seed", 0), layer.gates, x.shape[0]

    def masks(rate: float, size: int, count: int, first: int) -> list[np.ndarray]:
        keep = np.float32(1 - rate) or np.float32(1)  # (a rate of 1 draws nothing)
        draws = (uniform_np((batch, size), 3, seed + first + k) for k in range(count))
        return [(u < keep).astype(np.float32) / keep for u in draws]

    if RANDOM_STEP not in names:  # nothing drawn
        return results, []
    recurrent = layer.drops(layer.recurrent_dropout)
    drawn = masks(layer.dropout, x.shape[2], gates if recurrent else 1, 0)
    if recurrent:
        drawn += masks(layer.recurrent_dropout, layer.units, gates, gates)
    return results, drawn


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def lstm_with_masks(x: np.ndarray, w: dict, in_masks: list, rec_masks: list) -> np.ndarray:
    """Keras's LSTMCell "implementation 1": one input and one recurrent mask per gate."""
    k, r, bias = (w[n].astype(np.float64) for n in ("kernel", "recurrent_kernel", "bias"))
    u = r.shape[0]
    h = c = np.zeros((x.shape[0], u))
    outputs = []
    for step in range(x.shape[1]):
        z = [
            (x[:, step] * in_masks[g]) @ k[:, g * u : (g + 1) * u]
            + (h * rec_masks[g]) @ r[:, g * u : (g + 1) * u]
            + bias[g * u : (g + 1) * u]
            for g in range(4)
        ]
        c = sigmoid(z[1]) * c + sigmoid(z[0]) * np.tanh(z[2])
        h = sigmoid(z[3]) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def test_lstm_dropout_masks_in_training() -> None:
    config = {
        "units": 3,
        "dropout": 0.5,
        "recurrent_dropout": 0.5,
        "return_sequences": True,
        "seed": 7,
    }
    t = TensorType("float32", (5, 4))
    layer = make_layer("LSTM", **config)
    weights = random_weights(layer, [t], seed=1)
    x = np.random.default_rng(2).normal(size=(16, 5, 4)).astype(np.float32)
    (y,), masks = run_training("LSTM", config, t, x, weights)
    # Keras draws 4 input masks (batch, features) and 4 recurrent ones (batch, units),
    # each shared by every time step.
    assert [m.shape for m in masks] == [(16, 4)] * 4 + [(16, 3)] * 4
    for m in masks:
        assert set(np.unique(m)) <= {0.0, 2.0}
        assert 0.2 < (m == 0).mean() < 0.8
    assert not np.array_equal(masks[0], masks[1])
    want = lstm_with_masks(x.astype(np.float64), weights, masks[:4], masks[4:])
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    (inference,) = layer.reference([x], weights)
    assert not np.allclose(y, inference, atol=1e-3)


def test_gru_input_dropout_in_training_keeps_the_fused_op() -> None:
    config = {"units": 3, "dropout": 0.4, "return_sequences": True, "seed": 4}
    t = TensorType("float32", (None, 4))
    layer = make_layer("GRU", **config)
    weights = random_weights(layer, [t], seed=1)
    x = np.random.default_rng(2).normal(size=(16, 5, 4)).astype(np.float32)
    (y,), (mask,) = run_training("GRU", config, t, x, weights)
    assert mask.shape == (16, 4)
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / 0.6], rtol=1e-6)
    (want,) = layer.reference([x * mask[:, None, :]], weights)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_simple_rnn_masks_in_training() -> None:
    config = {
        "units": 3,
        "dropout": 0.5,
        "recurrent_dropout": 0.5,
        "return_sequences": True,
        "seed": 9,
    }
    t = TensorType("float32", (4, 2))
    layer = make_layer("SimpleRNN", **config)
    w = {k: v.astype(np.float64) for k, v in random_weights(layer, [t], seed=1).items()}
    x = np.random.default_rng(2).normal(size=(16, 4, 2)).astype(np.float32)
    (y,), (mask, rec_mask) = run_training("SimpleRNN", config, t, x, random_weights(layer, [t], 1))
    h, want = np.zeros((16, 3)), []
    for step in range(4):
        xk = (x[:, step] * mask) @ w["kernel"]
        h = np.tanh(xk + (h * rec_mask) @ w["recurrent_kernel"] + w["bias"])
        want.append(h)
    np.testing.assert_allclose(y, np.stack(want, axis=1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("type_name", "config", "t"),
    [
        ("LSTM", {"units": 3, "dropout": 0.3, "recurrent_dropout": 0.2}, SEQ),
        ("GRU", {"units": 3, "dropout": 0.3}, VAR),
        ("SimpleRNN", {"units": 3, "dropout": 1.0, "recurrent_dropout": 0.5}, SEQ),
    ],
)
def test_dropout_is_identity_at_inference(
    type_name: str, config: dict[str, Any], t: TensorType
) -> None:
    compiled, got = compare(type_name, config, [t])
    plain = {k: v for k, v in config.items() if "dropout" not in k}
    layer = make_layer(type_name, **plain)
    x = random_inputs([t], batch=4, seed=4)
    named = {k.split("/", 1)[1]: v for k, v in compiled.weights.items()}
    np.testing.assert_allclose(got[0], layer.reference(x, named)[0], rtol=1e-4, atol=1e-5)


def test_lstm_and_gru_ignore_rate_one_as_keras_does() -> None:
    """Keras applies LSTM/GRU dropout only for 0 < rate < 1 (SimpleRNN for rate > 0)."""
    t = TensorType("float32", (3, 2))
    for type_name in ("LSTM", "GRU"):
        layer = make_layer(type_name, units=2, dropout=1.0)
        weights = random_weights(layer, [t])
        x = np.ones((2, 3, 2), np.float32)
        (y,), masks = run_training(type_name, {"units": 2, "dropout": 1.0}, t, x, weights)
        assert masks == []
        np.testing.assert_allclose(y, layer.reference([x], weights)[0], rtol=1e-5, atol=1e-6)
    layer = make_layer("SimpleRNN", units=2, dropout=1.0, use_bias=False)
    (y,), _ = run_training(
        "SimpleRNN",
        {"units": 2, "dropout": 1.0, "use_bias": False},
        t,
        x,
        random_weights(layer, [t]),
    )
    np.testing.assert_array_equal(y, 0)


@pytest.mark.ort_training
def test_dropout_trains_with_the_flag_as_an_input(tmp_path: Path) -> None:
    """In onnxruntime-training, with the flag fed True, masks change every step."""
    config = {"units": 3, "dropout": 0.5, "recurrent_dropout": 0.5}
    spec = single_layer_spec("LSTM", config, [SEQ])
    compiled, _ = compile_with_random_weights(spec, seed=1, for_training=True)
    model = to_model_proto(compiled.graph, 17, compiled.metadata)
    # A training lowering reads the flag from a graph input.
    assert TRAINING_FLAG in [value.name for value in model.graph.input]
    directory = tmp_path / "artifacts"
    directory.mkdir()
    with quiet_stderr():
        artifacts.generate_artifacts(
            model,
            requires_grad=list(compiled.graph.parameters),
            loss=artifacts.LossType.MSELoss,
            optimizer=None,
            artifact_directory=str(directory),
        )
    state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
    module = Module(
        str(directory / "training_model.onnx"), state, str(directory / "eval_model.onnx")
    )
    x = np.random.default_rng(0).normal(size=(32, 6, 3)).astype(np.float32)
    target = np.zeros((32, 3), np.float32)

    def feeds(training: bool, step: int = 0) -> list[np.ndarray]:
        values = {
            "x0": x,
            TRAINING_FLAG: np.array(training),
            RANDOM_STEP: np.array(step),
            "target": target,
        }
        return [values[name] for name in module.input_names()]

    module.train()
    losses, grads = [], []
    for step in range(2):
        module.lazy_reset_grad()
        losses.append(float(module(*feeds(True, step))))
        grads.append(np.asarray(state.parameters["layer.recurrent_kernel"].grad).copy())
    assert all(np.isfinite(g).all() and np.abs(g).sum() > 0 for g in grads)
    assert losses[0] != losses[1] and not np.array_equal(grads[0], grads[1])
    module.eval()
    (y,) = run_compiled(compiled, [x])
    np.testing.assert_allclose(module(*feeds(False)), np.mean(y**2), rtol=1e-5)


# -- gradients of every output --------------------------------------------------------


@pytest.mark.ort_training
@pytest.mark.parametrize(
    ("type_name", "config", "t"),
    [
        ("LSTM", {"units": 3, "return_state": True, "return_sequences": True}, VAR),
        ("LSTM", {"units": 2, "return_state": True, "activation": "relu"}, SEQ),
        ("GRU", {"units": 3, "return_state": True, "go_backwards": True}, VAR),
        ("GRU", {"units": 2, "reset_after": False, "return_state": True}, SEQ),
        ("SimpleRNN", {"units": 3, "return_state": True, "return_sequences": True}, VAR),
        ("SimpleRNN", {"units": 2, "return_state": True, "go_backwards": True}, SEQ),
        ("LSTM", {"units": 3, "return_state": True, "return_sequences": True}, SEQ),
        ("LSTM", {"units": 2, "return_state": True, "go_backwards": True}, ONE_STEP),
        ("GRU", {"units": 3, "return_state": True, "return_sequences": True}, SEQ),
        ("GRU", {"units": 2, "reset_after": False, "go_backwards": True}, ONE_STEP),
        ("SimpleRNN", {"units": 2, "return_sequences": True}, ONE_STEP),
    ],
)
def test_gradients_of_every_output(
    tmp_path: Path, type_name: str, config: dict[str, Any], t: TensorType
) -> None:
    check_gradients(Case(all_outputs_spec(type_name, config, [t]), [t]), tmp_path)


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "config", "field"),
    [
        ("LSTM", {"units": 2, "activation": "relu"}, "activation"),
        ("LSTM", {"units": 2, "recurrent_activation": "hard_sigmoid"}, "recurrent_activation"),
        ("GRU", {"units": 2, "recurrent_dropout": 0.5}, "recurrent_dropout"),
        ("SimpleRNN", {"units": 2, "activation": "relu"}, "activation"),
    ],
)
def test_unrolled_configs_need_a_fixed_length(
    type_name: str, config: dict[str, Any], field: str
) -> None:
    layer = make_layer(type_name, **config)
    with pytest.raises(ShapeError, match="needs a fixed number of timesteps") as info:
        layer.output_types([VAR])
    assert info.value.field == field
    assert layer.output_types([SEQ])  # the same config unrolls at a known length


@pytest.mark.parametrize(
    ("t", "message"),
    [
        (TensorType("float32", (3,)), r"3D input \(batch, timesteps, features\)"),
        (TensorType("float32", (2, 3, 4)), "3D input"),
        (TensorType("float32", (4, None)), "known feature size"),
        (TensorType("int32", (4, 3)), "floating-point input"),
    ],
)
def test_bad_inputs(t: TensorType, message: str) -> None:
    for type_name in ("SimpleRNN", "LSTM", "GRU"):
        with pytest.raises(ShapeError, match=message):
            make_layer(type_name, units=2).output_types([t])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"units": 2, "stateful": True}, "stateful=true is not supported"),
        ({"units": 0}, "greater than 0"),
        ({"units": 2, "dropout": 1.5}, "less than or equal to 1"),
        ({"units": 2, "recurrent_dropout": -0.1}, "greater than or equal to 0"),
        ({"units": 2, "use_cudnn": "sometimes"}, "use_cudnn"),
        ({"units": 2, "activation": "nope"}, "unknown activation"),
    ],
)
def test_bad_configs(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer("LSTM", **config)


def test_stateful_error_points_at_the_key(tmp_path: Path) -> None:
    from specc.diagnostics import SpecError

    path = tmp_path / "s.yaml"
    path.write_text(
        "specc: 1\ninputs:\n  x: {shape: [4, 3]}\nlayers:\n"
        "  - type: GRU\n    units: 2\n    stateful: true\n"
    )
    with pytest.raises(SpecError) as info:
        check_spec(path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.position is not None
    assert (diagnostic.position.line, diagnostic.position.column) == (7, 15)
    assert "stateful=true is not supported" in diagnostic.message


def test_keras_only_flags_are_accepted_and_change_nothing() -> None:
    config = {"units": 2, "unroll": True, "zero_output_for_mask": True, "use_cudnn": False}
    compare("LSTM", config, [VAR])


def test_onnx_model_is_valid_at_every_opset() -> None:
    spec = all_outputs_spec("GRU", {"units": 2, "return_state": True, "go_backwards": True}, [VAR])
    compiled, _ = compile_with_random_weights(spec)
    for opset in (17, 21):
        onnx.checker.check_model(to_model_proto(compiled.graph, opset), full_check=True)
