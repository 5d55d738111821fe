"""A sequence model whose padding is masked (Embedding mask_zero) trains on both backends:
its loss falls, and the two backends compute the same losses, at a fixed and at a variable
number of steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from specc.train.run import TrainOptions, train_spec

BACKENDS = ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]


def _spec(folder: Path, steps: int | None) -> Path:
    spec = {
        "specc": 1,
        "name": "masked_tagger",
        "inputs": {"ids": {"shape": [steps], "dtype": "int64"}},
        "layers": [
            {
                "name": "embed",
                "type": "Embedding",
                "inputs": "ids",
                "input_dim": 12,
                "output_dim": 6,
                "mask_zero": True,
            },
            {"name": "lstm", "type": "LSTM", "units": 8, "return_sequences": True},
            {"name": "tag", "type": "Dense", "units": 1},
        ],
        "outputs": ["tag"],
        "compile": {
            "optimizer": {"type": "adam", "learning_rate": 0.02},
            "loss": "mse",
            "metrics": ["mae"],
        },
    }
    path = folder / "masked.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _data(folder: Path) -> Path:
    """Right- and left-padded id sequences; the target at each step is the running count
    of odd ids, and a large value at the padded steps, which the mask must hide."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 12, size=(96, 8))
    for row, length in enumerate(rng.integers(2, 9, size=96)):
        if row % 2:
            ids[row, length:] = 0
        else:
            ids[row, : 8 - length] = 0
    target = np.cumsum(ids % 2, axis=1).astype(np.float32) / 4
    target[ids == 0] = 100.0
    path = folder / "data.npz"
    np.savez(path, ids=ids.astype(np.int64), tag=target[:, :, None])
    return path


def _history(folder: Path, steps: int | None, backend: str) -> dict[str, list[float]]:
    folder.mkdir(exist_ok=True)
    options = TrainOptions(epochs=4, batch_size=16, validation_split=0.0, seed=0, backend=backend)
    return train_spec(_spec(folder, steps), _data(folder), options).history


@pytest.mark.parametrize("steps", [8, None], ids=["fixed", "variable"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_model_loss_falls(tmp_path: Path, backend: str, steps: int | None) -> None:
    history = _history(tmp_path, steps, backend)
    # Unmasked, the padded steps' targets of 100 would put the loss in the thousands.
    assert history["loss"][0] < 10
    assert history["loss"][-1] < 0.5 * history["loss"][0]


@pytest.mark.ort_training
@pytest.mark.parametrize("steps", [8, None], ids=["fixed", "variable"])
def test_backends_agree(tmp_path: Path, steps: int | None) -> None:
    standard = _history(tmp_path / "standard", steps, "standard")
    engine = _history(tmp_path / "engine", steps, "ort-training")
    np.testing.assert_allclose(standard["loss"], engine["loss"], rtol=1e-3)
    np.testing.assert_allclose(standard["mae"], engine["mae"], rtol=1e-3)
