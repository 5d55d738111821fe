"""Bidirectional and TimeDistributed: onnxruntime against the NumPy reference and Keras 3's
own values, Keras's sub-layer weight paths, nested-layer validation with located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from pydantic import ValidationError

from specc.diagnostics import SpecError
from specc.layers.base import LAYERS, ShapeError
from specc.pipeline import check_spec, compile_spec
from specc.schema import json_schema
from specc.summary import parameter_counts
from specc.types import TensorType
from specc.weights import save_weights
from tests.layer_harness import make_layer
from tests.spec_helpers import (
    all_outputs_spec,
    compare_compiled,
    compile_with_random_weights,
    random_inputs,
    run_compiled,
    single_layer_spec,
    write_spec,
)
from tests.test_layers_recurrent import KERAS_INPUT, keras_values
from tests.test_trainable_lowering import Case, check_gradients

SEQ = TensorType("float32", (5, 3))
VAR = TensorType("float32", (None, 3))


def compare(type_name: str, config: dict[str, Any], types: list[TensorType]) -> list[np.ndarray]:
    """Every output of the layer, with random weights, against NumPy."""
    inputs = random_inputs(types, batch=4, seed=4)
    spec = all_outputs_spec(type_name, config, types)
    return compare_compiled(spec, inputs, seed=3, rtol=1e-4, atol=1e-5)[1]


def lstm(**config: Any) -> dict[str, Any]:
    return {"type": "LSTM", "units": 3, **config}


@pytest.mark.parametrize("t", [SEQ, VAR], ids=["fixed", "variable"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize(
    "inner",
    [
        lstm(),
        lstm(return_sequences=True, return_state=True),
        {"type": "GRU", "units": 2, "return_sequences": True},
        {"type": "GRU", "units": 3, "reset_after": False, "return_state": True},
        {"type": "SimpleRNN", "units": 2, "return_sequences": True, "return_state": True},
    ],
    ids=["lstm", "lstm-seq-state", "gru-seq", "gru-before-state", "rnn-seq-state"],
)
def test_bidirectional_matches_reference(
    inner: dict[str, Any], merge_mode: str | None, t: TensorType
) -> None:
    got = compare("Bidirectional", {"layer": inner, "merge_mode": merge_mode}, [t])
    units, merged = inner["units"], 2 if merge_mode is None else 1
    states = (2 if inner["type"] == "LSTM" else 1) * inner.get("return_state", False)
    assert len(got) == merged + 2 * states
    assert got[0].shape[-1] == (2 * units if merge_mode == "concat" else units)
    assert all(s.shape == (4, units) for s in got[merged:])


def test_bidirectional_matches_keras(tmp_path: Path) -> None:
    """Keras 3.15.1: merge_mode None with return_state gives (y, y_rev, h_f, c_f, h_b, c_b)."""
    want = [
        [
            [[-0.101103, -0.078361], [-0.112277, -0.003064], [-0.05682, 0.102955]],
            [[-0.038007, 0.070583], [-0.102599, -0.033351], [-0.13243, -0.049935]],
        ],
        [
            [[0.136906, 0.027527], [0.091859, -0.048953], [0.03686, -0.065764]],
            [[0.105418, 0.015315], [0.115272, 0.080939], [0.075004, 0.045079]],
        ],
        [[-0.05682, 0.102955], [-0.13243, -0.049935]],
        [[-0.081838, 0.152191], [-0.256253, -0.087283]],
        [[0.136906, 0.027527], [0.105418, 0.015315]],
        [[0.269345, 0.060909], [0.285098, 0.043913]],
    ]
    inner = lstm(units=2, return_sequences=True, return_state=True)
    for length in (3, None):
        t = TensorType("float32", (length, 2))
        spec = all_outputs_spec("Bidirectional", {"layer": inner, "merge_mode": None}, [t])
        path = write_spec(tmp_path, spec)
        shapes = compile_spec(path, seed=0).weights
        weights = {key: keras_values(a.shape, k) for k, (key, a) in enumerate(shapes.items())}
        save_weights(tmp_path / "w.npz", weights)
        got = run_compiled(compile_spec(path, tmp_path / "w.npz"), [keras_values(KERAS_INPUT, 0.3)])
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, np.asarray(w), atol=2e-6)


def test_bidirectional_weights_follow_keras_paths(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": [None, 3]}},
        "layers": [{"type": "Bidirectional", "name": "bilstm", "layer": lstm(units=4)}],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0)
    assert list(compiled.weights) == [
        f"bilstm/{side}_lstm/{w}"
        for side in ("forward", "backward")
        for w in ("kernel", "recurrent_kernel", "bias")
    ]
    assert "bilstm.forward_lstm.kernel" in compiled.graph.parameters
    assert "bilstm.backward_lstm.bias" in compiled.graph.parameters
    # unit_forget_bias reaches both directions; the counts double LSTM's.
    np.testing.assert_array_equal(compiled.weights["bilstm/backward_lstm/bias"][4:8], 1.0)
    assert parameter_counts(compiled.typed) == (2 * 4 * (3 * 4 + 4 * 4 + 4), 0)


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"layer": lstm(name="enc")}, ["forward_enc", "backward_enc"]),
        ({"layer": lstm(name="forward_enc")}, ["forward_enc", "backward_forward_enc"]),
        (
            {
                "layer": lstm(return_sequences=True),
                "backward_layer": lstm(return_sequences=True, go_backwards=True),
            },
            ["forward_lstm", "backward_lstm"],
        ),
        (
            {
                "layer": {"type": "GRU", "units": 2},
                "backward_layer": {"type": "GRU", "units": 2, "go_backwards": True, "name": "rev"},
            },
            ["forward_gru", "rev"],
        ),
    ],
)
def test_sublayer_names(config: dict[str, Any], names: list[str]) -> None:
    layer = make_layer("Bidirectional", **config)
    prefixes = {w.name.split("/")[0] for w in layer.weights([SEQ])}
    assert prefixes == set(names)


def test_backward_layer_may_differ() -> None:
    config = {
        "layer": lstm(units=2, return_sequences=True),
        "backward_layer": {
            "type": "GRU",
            "units": 3,
            "return_sequences": True,
            "go_backwards": True,
            "reset_after": False,
        },
    }
    (y,) = compare("Bidirectional", config, [SEQ])
    assert y.shape == (4, 5, 5)
    with pytest.raises(ShapeError, match="merge_mode=sum needs forward and backward") as info:
        make_layer("Bidirectional", **config, merge_mode="sum").output_types([SEQ])
    assert info.value.field == "merge_mode"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"layer": {"type": "Dense", "units": 2}}, "wraps a recurrent layer .* got Dense"),
        ({"layer": lstm(go_backwards=True)}, "so layer needs go_backwards=false"),
        (
            {"layer": lstm(), "backward_layer": lstm()},
            "layer and backward_layer need different go_backwards; got false and false",
        ),
        (
            {"layer": lstm(), "backward_layer": lstm(go_backwards=True, return_sequences=True)},
            "the same return_sequences",
        ),
        (
            {"layer": lstm(name="a"), "backward_layer": lstm(go_backwards=True, name="forward_a")},
            "different names",
        ),
        ({"layer": lstm(inputs="x")}, "a wrapped layer takes no 'inputs'"),
        ({"layer": lstm(input_shape=[3, 2])}, "a wrapped layer takes no 'input_shape'"),
        ({"layer": lstm(activity_regularizer="l2")}, "activity_regularizer on a layer inside"),
        ({"layer": "LSTM"}, "expected a mapping with 'type'"),
        ({"layer": lstm(), "merge_mode": "max"}, "merge_mode"),
        ({}, "layer"),
    ],
)
def test_bidirectional_rejects(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer("Bidirectional", **config)


def test_inner_shape_errors_point_at_the_wrapped_layer() -> None:
    layer = make_layer("Bidirectional", layer=lstm(activation="relu"))
    with pytest.raises(ShapeError, match="wrapped LSTM layer 'lstm': LSTM with activation") as e:
        layer.output_types([VAR])
    assert e.value.field == "layer.activation"  # the inner layer's own field
    assert layer.output_types([SEQ])


NESTED_SPEC = """\
specc: 1
inputs:
  x: {shape: [null, 3]}
layers:
  - type: Bidirectional
    name: bilstm
    layer:
      type: LSTM
      units: 4
      retrun_sequences: true
  - type: TimeDistributed
    inputs: x
    layer: {type: Dense, units: 0}
  - type: TimeDistributed
    inputs: x
    layer: {type: Dnese, units: 2}
"""


def test_nested_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "nested.yaml"
    path.write_text(NESTED_SPEC)
    with pytest.raises(SpecError) as info:
        check_spec(path)
    found = {
        (d.position.line, d.position.column): d.message
        for d in info.value.diagnostics
        if d.position is not None
    }
    assert found[(10, 7)] == "unknown key 'retrun_sequences'; did you mean 'return_sequences'?"
    assert found[(13, 33)].startswith("units must be greater than 0")
    assert found[(16, 19)] == "unknown layer type 'Dnese'; did you mean 'Dense'?"


def test_shape_errors_inside_wrappers_are_located(tmp_path: Path) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(
        "specc: 1\ninputs:\n  x: {shape: [null, 3]}\nlayers:\n"
        "  - type: Bidirectional\n    layer:\n      type: GRU\n      units: 2\n"
        "      recurrent_dropout: 0.5\n"
    )
    with pytest.raises(SpecError) as info:
        check_spec(path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    # At the inner layer's field that the error is about: recurrent_dropout.
    assert diagnostic.position is not None and diagnostic.position.line == 9
    assert diagnostic.path == ("layers", 0, "layer", "recurrent_dropout")
    assert "wrapped GRU layer 'gru'" in diagnostic.message


def test_schema_covers_nested_layers() -> None:
    schema = json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    good = {
        "specc": 1,
        "inputs": {"x": {"shape": [None, 4, 3]}},
        "layers": [
            {"type": "TimeDistributed", "layer": {"type": "Bidirectional", "layer": lstm()}},
            {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}},
        ],
    }
    assert list(validator.iter_errors(good)) == []
    for bad_inner in ({"type": "LSTM", "unitz": 3}, "LSTM", {"type": "Lstm", "units": 3}):
        bad = {**good, "layers": [{"type": "TimeDistributed", "layer": bad_inner}]}
        assert not validator.is_valid(json.loads(json.dumps(bad)))


def test_shared_wrapper_keeps_one_copy_of_the_weights(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"a": {"shape": [4, 3]}, "b": {"shape": [4, 3]}},
        "layers": [
            {"type": "Bidirectional", "name": "enc", "inputs": "a", "layer": lstm()},
            {"name": "enc_b", "shares": "enc", "inputs": "b"},
            {"type": "Add", "inputs": ["enc", "enc_b"]},
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0)
    assert len(compiled.weights) == 6
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    (y,) = run_compiled(compiled, [x, x])
    layer = compiled.typed.resolved.node("enc").layer
    weights = {k.split("/", 1)[1]: v for k, v in compiled.weights.items()}
    np.testing.assert_allclose(y, 2 * layer.reference([x], weights)[0], rtol=1e-4, atol=1e-5)


def test_frozen_inner_layer_freezes_its_weights(tmp_path: Path) -> None:
    spec = single_layer_spec("Bidirectional", {"layer": lstm(trainable=False)}, [SEQ])
    typed = check_spec(write_spec(tmp_path, spec))
    assert parameter_counts(typed) == (0, 2 * 4 * (3 * 3 + 3 * 3 + 3))


@pytest.mark.ort_training
@pytest.mark.parametrize(
    "config",
    [
        {"layer": lstm(return_sequences=True, return_state=True), "merge_mode": None},
        {"layer": {"type": "GRU", "units": 2, "return_state": True}, "merge_mode": "mul"},
        {"layer": {"type": "SimpleRNN", "units": 2, "return_sequences": True}},
    ],
)
@pytest.mark.parametrize("t", [SEQ, VAR], ids=["fixed", "variable"])
def test_bidirectional_gradients_of_every_output(
    tmp_path: Path, config: dict[str, Any], t: TensorType
) -> None:
    check_gradients(Case(all_outputs_spec("Bidirectional", config, [t]), [t]), tmp_path)


# -- TimeDistributed ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "t"),
    [
        ({"type": "Dense", "units": 3}, TensorType("float32", (4, 5))),
        ({"type": "Dense", "units": 2, "activation": "relu"}, TensorType("float32", (None, 5))),
        ({"type": "Dense", "units": 2}, TensorType("float16", (None, 3, 4))),
        ({"type": "Dense", "units": 2}, TensorType("float32", (3, None, 4))),
        ({"type": "LSTM", "units": 2, "return_sequences": True}, TensorType("float32", (2, 4, 3))),
        ({"type": "GRU", "units": 2}, TensorType("float32", (None, None, 3))),
        ({"type": "Bidirectional", "layer": lstm(units=2)}, TensorType("float32", (3, 4, 2))),
        ({"type": "Dropout", "rate": 0.5}, TensorType("float32", (3, 2))),
        ({"type": "Flatten"}, TensorType("float32", (3, 2, 2))),
    ],
)
def test_time_distributed_matches_reference(inner: dict[str, Any], t: TensorType) -> None:
    if inner["type"] not in LAYERS:
        pytest.skip(f"{inner['type']} is not registered")
    compare("TimeDistributed", {"layer": inner}, [t])


def test_time_distributed_embedding_keeps_integer_ids() -> None:
    t = TensorType("int64", (3, 4))
    compiled, weights = compile_with_random_weights(
        single_layer_spec(
            "TimeDistributed",
            {"layer": {"type": "Embedding", "input_dim": 7, "output_dim": 2}},
            [t],
        ),
    )
    ids = np.random.default_rng(0).integers(0, 7, size=(2, 3, 4))
    (y,) = run_compiled(compiled, [ids])
    np.testing.assert_allclose(y, weights["layer/embedding/embeddings"][ids], rtol=1e-6)


def test_time_distributed_conv_layout() -> None:
    """An inner layer that works channels-first gets its layout converted and back."""
    if "Conv1D" not in LAYERS:
        pytest.skip("Conv1D is not registered")
    inner = {"type": "Conv1D", "filters": 2, "kernel_size": 2}
    compare("TimeDistributed", {"layer": inner}, [TensorType("float32", (3, 5, 4))])


def test_time_distributed_weights_follow_keras_paths(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": [None, 5]}},
        "layers": [
            {"type": "TimeDistributed", "name": "td", "layer": {"type": "Dense", "units": 3}},
            {"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2, "name": "proj"}},
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0)
    assert list(compiled.weights) == [
        "td/dense/kernel",
        "td/dense/bias",
        "time_distributed/proj/kernel",
        "time_distributed/proj/bias",
    ]
    assert "td.dense.kernel" in compiled.graph.parameters
    assert parameter_counts(compiled.typed) == (5 * 3 + 3 + 3 * 2 + 2, 0)


@pytest.mark.parametrize(
    ("inner", "t", "message"),
    [
        ({"type": "Dense", "units": 2}, TensorType("float32", (5,)), "rank >= 3"),
        (
            {"type": "LSTM", "units": 2, "return_state": True},
            TensorType("float32", (3, 4, 2)),
            "one output",
        ),
        ({"type": "LSTM", "units": 2}, TensorType("float32", (3, 4)), "wrapped LSTM layer 'lstm'"),
    ],
)
def test_time_distributed_errors(inner: dict[str, Any], t: TensorType, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        make_layer("TimeDistributed", layer=inner).output_types([t])


@pytest.mark.ort_training
def test_time_distributed_gradients(tmp_path: Path) -> None:
    t = TensorType("float32", (None, 4))
    spec = single_layer_spec("TimeDistributed", {"layer": {"type": "Dense", "units": 3}}, [t])
    check_gradients(Case(spec, [t]), tmp_path)
