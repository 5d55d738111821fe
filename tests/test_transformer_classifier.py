"""PositionEmbedding (keras_hub's layer) carries the token embedding's padding mask on, and
the Transformer text classifier example trains on padded sequences and exports for the web.

Its parameter count against Keras's is checked with the other examples (tests/test_models.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.layers.base import ShapeError
from specc.pipeline import compile_data
from specc.spec.loader import load_spec
from specc.train.run import TrainOptions, train_spec
from specc.types import TensorType
from tests.layer_harness import make_layer
from tests.spec_helpers import ROOT, compile_with_random_weights, run_compiled
from tests.test_export_web import export, files_in

EXAMPLE = ROOT / "models" / "transformer_classifier.yaml"
MARKER = 7  # the token whose presence is the label
# Keras 3.15.1's predictions of the example at a small size (keras_reference/transformer_keras.py).
KERAS_CASE = ROOT / "tests" / "keras_reference" / "transformer_case.npz"


def _small_example(mask_zero: bool) -> dict[str, Any]:
    """The example at the Keras case's vocabulary (50) and length (12)."""
    spec = copy.deepcopy(load_spec(EXAMPLE).data)
    spec["inputs"]["tokens"]["shape"] = [12]
    layers = {entry.get("name"): entry for entry in spec["layers"]}
    layers["token_embedding"].update(input_dim=50, mask_zero=mask_zero)
    layers["position_embedding"]["sequence_length"] = 12
    return spec


@pytest.mark.parametrize("mask_zero", [True, False])
def test_example_predicts_as_keras_with_the_padding_mask(mask_zero: bool) -> None:
    case = dict(np.load(KERAS_CASE))
    ids, probs = case.pop("ids"), case.pop("probs")
    compiled = compile_data(_small_example(mask_zero), weights=lambda typed: case)
    (got,) = run_compiled(compiled, [ids])
    if mask_zero:
        np.testing.assert_allclose(got, probs, rtol=1e-5, atol=1e-6)
    else:  # the padding changes the prediction: the mask is what makes them agree
        assert np.abs(got - probs).max() > 1e-3


def test_position_embedding_refuses_more_steps_than_positions() -> None:
    layer = make_layer("PositionEmbedding", sequence_length=3)
    with pytest.raises(ShapeError, match="3 positions"):
        layer.output_types([TensorType("float32", (4, 2))])
    with pytest.raises(ShapeError, match="steps, features"):
        layer.output_types([TensorType("float32", (4,))])


def test_token_and_position_embedding_mean_skips_padding() -> None:
    # Embedding(mask_zero) + PositionEmbedding + Add: the mask reaches the pooling, which
    # averages token + position embeddings over the unpadded steps only.
    spec = {
        "specc": 1,
        "name": "token_and_position",
        "inputs": {"ids": {"shape": [5], "dtype": "int64"}},
        "layers": [
            {"name": "tokens", "type": "Embedding", "input_dim": 10, "output_dim": 3,
             "mask_zero": True, "inputs": "ids"},
            {"name": "positions", "type": "PositionEmbedding", "sequence_length": 8},
            {"name": "sum", "type": "Add", "inputs": ["tokens", "positions"]},
            {"name": "mean", "type": "GlobalAveragePooling1D"},
        ],
    }  # fmt: skip
    compiled, weights = compile_with_random_weights(spec, seed=1)
    ids = np.array([[4, 2, 9, 0, 0], [3, 0, 0, 0, 0], [1, 2, 3, 4, 5]], np.int64)
    (got,) = run_compiled(compiled, [ids])
    table, positions = weights["tokens/embeddings"], weights["positions/embeddings"]
    summed = table[ids] + positions[:5]
    kept = (ids != 0)[..., None]
    expected = (summed * kept).sum(axis=1) / kept.sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _marker_data(folder: Path, samples: int = 256) -> Path:
    """Random token ids of random lengths, padded with 0 to 200 steps; the label says
    whether the marker token occurs."""
    rng = np.random.default_rng(0)
    tokens = np.zeros((samples, 200), np.int32)
    label = rng.integers(0, 2, size=samples)
    for row in range(samples):
        length = int(rng.integers(10, 60))
        ids = rng.integers(MARKER + 1, 20000, size=length)
        if label[row]:
            ids[rng.integers(0, length)] = MARKER
        tokens[row, :length] = ids
    path = folder / "marker.npz"
    np.savez(path, tokens=tokens, sentiment=label.astype(np.int32))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]
)
def test_example_learns_whether_a_marker_token_occurs(tmp_path: Path, backend: str) -> None:
    options = TrainOptions(epochs=4, batch_size=32, validation_split=0.0, seed=0, backend=backend)
    history = train_spec(EXAMPLE, _marker_data(tmp_path), options).history
    assert all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    assert history["accuracy"][-1] > 0.8


def test_example_exports_for_the_web(tmp_path: Path) -> None:
    out = tmp_path / "site" / "transformer"
    assert export(EXAMPLE, "--target", "web", "--out", out, "-q").exit_code == 0
    assert "model.onnx" in files_in(out)
