"""A small model with MultiHeadAttention and GroupedQueryAttention trains on both
backends (its loss falls), and its web bundle predicts in Chromium as onnxruntime does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from specc.train.run import TrainOptions, train_spec
from tests.test_export_web import (
    NODE_MODULES,
    StaticServer,
    assert_close,
    chromium,  # noqa: F401 - the fixture
    export,
    predict_page,
    run_onnx,
    run_pages,
)

SPEC = {
    "specc": 1,
    "name": "attention_classifier",
    "inputs": {"steps": {"shape": [6, 8]}},
    "layers": [
        {
            "name": "mha",
            "type": "MultiHeadAttention",
            "inputs": ["steps", "steps"],
            "num_heads": 2,
            "key_dim": 4,
            "dropout": 0.1,
            "use_causal_mask": True,
        },
        {
            "name": "gqa",
            "type": "GroupedQueryAttention",
            "inputs": ["mha", "steps"],
            "head_dim": 4,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "sliding_window": 3,
            "use_gate": True,
            "activity_regularizer": "l2",
        },
        {"name": "pool", "type": "GlobalAveragePooling1D", "inputs": "gqa"},
        {"name": "label", "type": "Dense", "units": 1, "activation": "sigmoid"},
    ],
    "outputs": ["label"],
    "compile": {
        "optimizer": {"type": "adam", "learning_rate": 0.01},
        "loss": "binary_crossentropy",
    },
}


def _data(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    steps = rng.normal(size=(128, 6, 8)).astype(np.float32)
    label = (steps[:, :, 0].mean(axis=1) > 0).astype(np.float32)[:, None]
    path = folder / "data.npz"
    np.savez(path, steps=steps, label=label)
    return path


def _spec(folder: Path) -> Path:
    path = folder / "attention.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.mark.parametrize(
    "backend", ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]
)
def test_attention_model_loss_falls(tmp_path: Path, backend: str) -> None:
    options = TrainOptions(epochs=5, batch_size=16, validation_split=0.0, seed=0, backend=backend)
    history = train_spec(_spec(tmp_path), _data(tmp_path), options).history
    assert all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < 0.9 * history["loss"][0]


@pytest.mark.slow
def test_attention_bundle_predicts_in_chromium(
    chromium: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    assert export(_spec(tmp_path), "--target", "web", "--out", site / "attention").exit_code == 0
    steps = np.random.default_rng(3).normal(size=(2, 6, 8)).astype(np.float32)
    with StaticServer(site, NODE_MODULES) as server:
        job = {
            "kind": "predict",
            "url": server.url + f"attention/{predict_page(site / 'attention')}",
            "inputs": {"steps": steps.tolist()},
        }
        [result] = run_pages(chromium, [job], tmp_path)
    expected = run_onnx(site / "attention" / "model.onnx", {"steps": steps})
    assert_close(result["result"]["outputs"], expected, "attention (2, 6, 8)")
