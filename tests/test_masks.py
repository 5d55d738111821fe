"""Keras masks: Embedding(mask_zero) and Masking make them, the layers Keras lets them
through pass them on, recurrent layers and GlobalAveragePooling1D read them, the losses and
metrics weigh an output's steps by them. Compared with Keras 3.15.1's own outputs
(tests/keras_reference/masks_keras.py) and with NumPy references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.passes.shapes import TypedGraph
from specc.pipeline import compile_data
from tests.spec_helpers import run_compiled

REFERENCE = Path(__file__).parent / "keras_reference"
KERAS = json.loads((REFERENCE / "masks_cases.json").read_text())
KERAS_DATA = dict(np.load(REFERENCE / "masks_cases.npz"))
RECURRENT_CASES = sorted(n for n in KERAS["cases"] if n != "masked_loss")


def _keras_weights(name: str) -> list[list[np.ndarray]]:
    """The case's weights, one list per Keras layer with weights, in model order."""
    prefix = f"{name}/weights/"
    layers: dict[str, list[np.ndarray]] = {}
    for key, value in KERAS_DATA.items():
        if key.startswith(prefix):
            layers.setdefault(key[len(prefix) :].rsplit("/", 1)[0], []).append(value)
    return list(layers.values())


def _weights_for(name: str):
    def assign(typed: TypedGraph) -> dict[str, np.ndarray]:
        owners: dict[str, list[str]] = {}
        for p in typed.parameters:
            owners.setdefault(p.owner, []).append(p.key)
        by_layer = _keras_weights(name)
        assert len(owners) == len(by_layer)
        return {
            key: value
            for keys, values in zip(owners.values(), by_layer, strict=True)
            for key, value in zip(keys, values, strict=True)
        }

    return assign


def _ids_spec(layers: list[dict[str, Any]], steps: int | None, outputs: int) -> dict:
    embedding = {"name": "embedding", "type": "Embedding", "input_dim": 10, "output_dim": 4}
    named = [{"name": f"layer{k}", **entry} for k, entry in enumerate(layers)]
    last = named[-1]["name"]
    return {
        "specc": 1,
        "name": "masked",
        "inputs": {"ids": {"shape": [steps], "dtype": "int64"}},
        "layers": [{**embedding, "inputs": "ids", "mask_zero": True}, *named],
        "outputs": [last] if outputs == 1 else [f"{last}[{k}]" for k in range(outputs)],
    }


@pytest.mark.parametrize("for_training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("name", [n for n in RECURRENT_CASES if n != "masking_lstm"])
def test_matches_keras(name: str, for_training: bool) -> None:
    case = KERAS["cases"][name]
    ids = KERAS_DATA[f"{name}/ids"]
    spec = _ids_spec(case["layers"], ids.shape[1], case["outputs"])
    compiled = compile_data(spec, weights=_weights_for(name), for_training=for_training)
    got = run_compiled(compiled, [ids])
    assert len(got) == case["outputs"]
    for k, value in enumerate(got):
        want = KERAS_DATA[f"{name}/output/{k}"]
        assert value.shape == want.shape
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)


def test_masking_then_lstm_matches_keras() -> None:
    spec = {
        "specc": 1,
        "name": "masking",
        "inputs": {"x": {"shape": [4, 2]}},
        "layers": [
            {"name": "masking", "type": "Masking", "mask_value": 0.5, "inputs": "x"},
            {"name": "lstm", "type": "LSTM", "units": 2, "return_sequences": True},
        ],
        "outputs": ["lstm"],
    }
    compiled = compile_data(spec, weights=_weights_for("masking_lstm"))
    (got,) = run_compiled(compiled, [KERAS_DATA["masking_lstm/x"]])
    np.testing.assert_allclose(got, KERAS_DATA["masking_lstm/output/0"], rtol=1e-5, atol=1e-6)
