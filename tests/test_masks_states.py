"""Final states (return_state) of masked recurrent layers: those after each row's last kept
step, as Keras 3.15.1 computes them (tests/keras_reference/masks_states_keras.py), at a
fixed and a variable number of steps, in inference models and in the standard backend's
training graph; their gradients against central differences; and the refusal where
onnxruntime-training would have to differentiate the fused LSTM's sequence_lens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.layers import LAYERS
from specc.passes.shapes import TypedGraph
from specc.pipeline import CompiledModel, check_text, compile_data, compile_spec
from tests.spec_helpers import run_compiled
from tests.test_masks import (
    MASK_VALUE,
    _ids_spec,
    _masked_sequence,
    _random_weights,
    assert_matches_keras,
    parameter_gradient_failures,
)

LAYERS.load_all()  # as tests/test_masks.py: the schema's union order

REFERENCE = Path(__file__).parent / "keras_reference"
KERAS = json.loads((REFERENCE / "masks_states.json").read_text())
KERAS_DATA = dict(np.load(REFERENCE / "masks_states.npz"))

# Which graph: an inference model, or the training graph of the standard backend (which
# keeps the fused ops and differentiates them itself).
GRAPHS = ["inference", "standard"]


def _keras_weights(name: str, typed: TypedGraph) -> dict[str, np.ndarray]:
    """The case's Keras weights by specc's keys (layers and weights in the same order)."""
    prefix = f"{name}/weights/"
    by_layer: dict[str, list[np.ndarray]] = {}
    for key, value in KERAS_DATA.items():
        if key.startswith(prefix):
            by_layer.setdefault(key[len(prefix) :].rsplit("/", 1)[0], []).append(value)
    owners: dict[str, list[str]] = {}
    for p in typed.parameters:
        owners.setdefault(p.owner, []).append(p.key)
    assert len(owners) == len(by_layer)
    return {
        key: value
        for keys, values in zip(owners.values(), by_layer.values(), strict=True)
        for key, value in zip(keys, values, strict=True)
    }


def _compile(folder: Path, spec: dict, weights: dict[str, np.ndarray], graph: str) -> CompiledModel:
    path, weights_path = folder / "spec.json", folder / "weights.npz"
    path.write_text(json.dumps(spec, indent=2))
    np.savez(weights_path, **weights)
    training = graph != "inference"
    return compile_spec(path, weights_path, for_training=training, fused_recurrence=training)


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("variable", [False, True], ids=["fixed", "variable"])
@pytest.mark.parametrize("name", sorted(KERAS["cases"]))
def test_states_match_keras(tmp_path: Path, name: str, variable: bool, graph: str) -> None:
    case = KERAS["cases"][name]
    ids = KERAS_DATA[f"{name}/ids"]
    spec = _ids_spec(case["layers"], None if variable else ids.shape[1], case["outputs"])
    weights = _keras_weights(name, check_text(json.dumps(spec), is_json=True))
    got = run_compiled(_compile(tmp_path, spec, weights, graph), [ids])
    assert_matches_keras(got, KERAS_DATA, name, case["outputs"])


def test_the_cell_state_is_not_the_last_steps() -> None:
    """The reference cases can tell the states after the last kept step from those the
    fused op reaches after running on over the padding: the all-masked row's are zeros."""
    ids = KERAS_DATA["lstm_state/ids"]
    h, c = KERAS_DATA["lstm_state/output/1"], KERAS_DATA["lstm_state/output/2"]
    assert (ids[-1] == 0).all()
    assert np.all(h[-1] == 0) and np.all(c[-1] == 0)
    assert np.abs(c[:-1]).min() > 0


def _spec(entry: dict[str, Any], steps: int | None, outputs: int) -> dict:
    """x -> Masking -> ``entry``, every output of it a model output."""
    return {
        "specc": 1,
        "name": "states",
        "inputs": {"x": {"shape": [steps, 2]}},
        "layers": [
            {"name": "masking", "type": "Masking", "mask_value": MASK_VALUE, "inputs": "x"},
            {"name": "layer", **entry},
        ],
        "outputs": [f"layer[{k}]" for k in range(outputs)],
    }


STATE_ENTRIES = [
    pytest.param({"type": "LSTM", "units": 3, "return_state": True}, 3, id="LSTM"),
    pytest.param(
        {"type": "LSTM", "units": 3, "return_state": True, "go_backwards": True},
        3,
        id="LSTM-backwards",
    ),
    pytest.param(
        {"type": "LSTM", "units": 2, "return_state": True, "return_sequences": True},
        3,
        id="LSTM-sequences",
    ),
    pytest.param({"type": "GRU", "units": 3, "return_state": True}, 2, id="GRU"),
    pytest.param(
        {"type": "GRU", "units": 2, "return_state": True, "go_backwards": True},
        2,
        id="GRU-backwards",
    ),
    pytest.param({"type": "SimpleRNN", "units": 3, "return_state": True}, 2, id="SimpleRNN"),
    pytest.param(
        {
            "type": "Bidirectional",
            "layer": {"type": "LSTM", "units": 2, "return_state": True},
        },
        5,
        id="Bidirectional-LSTM",
    ),
]


@pytest.mark.parametrize(("entry", "outputs"), STATE_ENTRIES)
@pytest.mark.parametrize("steps", [4, None], ids=["fixed", "variable"])
def test_state_gradients_match_finite_differences(
    tmp_path: Path, entry: dict[str, Any], outputs: int, steps: int | None
) -> None:
    """Rows masked at the end, the start and the middle, one with a single kept step and
    one with none, through the standard backend's training graph."""
    x, _ = _masked_sequence(np.random.default_rng(9), 5, 4, 2)
    x[3, 1:] = MASK_VALUE  # one kept step
    spec = _spec(entry, steps, outputs)
    weights = _random_weights(check_text(json.dumps(spec), is_json=True))
    compiled = _compile(tmp_path, spec, weights, "standard")
    assert parameter_gradient_failures(compiled, x) == []


def test_states_match_the_numpy_reference() -> None:
    """Against ``Recurrent.reference`` with the mask, at a variable length, a row with one
    kept step and one with none included."""
    x, _ = _masked_sequence(np.random.default_rng(3), 5, 6, 2)
    x[3, :5] = MASK_VALUE  # only the last step kept
    entry = {"type": "LSTM", "units": 3, "return_state": True, "go_backwards": True}
    compiled = compile_data(_spec(entry, None, 3), weights=_random_weights)
    got = run_compiled(compiled, [x])
    layer = compiled.typed.resolved.nodes_by_name["layer"].layer
    weights = {p.name: compiled.weights[p.key] for p in compiled.typed.parameters}
    kept = np.any(x != MASK_VALUE, axis=-1)
    want = layer.reference([x], weights, kept.astype(np.float32))
    for value, expected in zip(got, want, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps", [None, 600], ids=["variable", "long"])
def test_engine_training_graph_is_refused(steps: int | None) -> None:
    """onnxruntime-training's LSTMGrad refuses sequence_lens: a training graph without
    fused_recurrence (the ort-training backend, mobile training artifacts) is refused at
    the layer's return_state, where the fused form would be used."""
    entry = {"type": "LSTM", "units": 2, "return_state": True}
    spec = _spec(entry, steps, 3)
    with pytest.raises(SpecError) as caught:
        compile_data(spec, for_training=True)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    assert diagnostic.path == ("layers", 1, "return_state")
    assert "onnxruntime-training" in diagnostic.message
    assert "--backend standard" in diagnostic.message
    # A known length it unrolls; without return_state it needs no sequence_lens.
    compile_data(_spec(entry, 8, 3), for_training=True)
    compile_data(_spec({"type": "LSTM", "units": 2}, steps, 1), for_training=True)


def test_engine_refusal_inside_bidirectional_points_at_the_inner_return_state() -> None:
    entry = {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2, "return_state": True}}
    with pytest.raises(SpecError) as caught:
        compile_data(_spec(entry, None, 5), for_training=True)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    assert diagnostic.path == ("layers", 1, "layer", "return_state")
    assert diagnostic.message.startswith("Bidirectional layer 'layer': wrapped LSTM layer 'lstm': ")
