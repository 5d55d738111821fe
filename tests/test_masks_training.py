"""A sequence model whose padding is masked (Embedding mask_zero) trains on both backends:
its loss falls, and the two backends compute the same losses, at a fixed and at a variable
number of steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from specc.diagnostics import SpecError
from specc.train.run import TrainOptions, train_spec

BACKENDS = ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]


TAGGER = [
    {"name": "lstm", "type": "LSTM", "units": 8, "return_sequences": True},
    {"name": "tag", "type": "Dense", "units": 1},
]


def _spec(
    folder: Path,
    steps: int | None,
    layers: list[dict] = TAGGER,
    metrics: tuple[str, ...] = ("mae",),
) -> Path:
    """ids -> Embedding(mask_zero) -> ``layers``, the last one the output, with an mse loss."""
    spec = {
        "specc": 1,
        "name": "masked_model",
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
            *layers,
        ],
        "outputs": [layers[-1]["name"]],
        "compile": {
            "optimizer": {"type": "adam", "learning_rate": 0.02},
            "loss": "mse",
            "metrics": list(metrics),
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


# A regression on the LSTM's final states (h and the cell state c) after the padding is
# masked: the states must be those after each row's last kept step.
STATE_READER = [
    {"name": "lstm", "type": "LSTM", "units": 8, "return_state": True},
    {"name": "states", "type": "Concatenate", "inputs": ["lstm[1]", "lstm[2]"]},
    {"name": "count", "type": "Dense", "units": 1, "inputs": "states"},
]


def _state_history(folder: Path, steps: int | None, backend: str) -> list[float]:
    folder.mkdir(exist_ok=True)
    data = np.load(_data(folder))
    ids = data["ids"]
    # The number of odd ids, which the padding (id 0, even) leaves unchanged.
    count = (ids % 2).sum(axis=1, keepdims=True).astype(np.float32) / 4
    np.savez(folder / "state.npz", ids=ids, count=count)
    options = TrainOptions(epochs=4, batch_size=16, validation_split=0.0, seed=0, backend=backend)
    spec = _spec(folder, steps, STATE_READER, ())
    return train_spec(spec, folder / "state.npz", options).history["loss"]


@pytest.mark.parametrize("steps", [8, None], ids=["fixed", "variable"])
def test_masked_state_model_loss_falls(tmp_path: Path, steps: int | None) -> None:
    loss = _state_history(tmp_path, steps, "standard")
    assert loss[-1] < 0.5 * loss[0]


@pytest.mark.ort_training
def test_masked_state_backends_agree(tmp_path: Path) -> None:
    """At a fixed length the engine unrolls (no sequence_lens); the standard backend runs
    the fused LSTM with it, and both compute the same losses."""
    standard = _state_history(tmp_path / "standard", 8, "standard")
    engine = _state_history(tmp_path / "engine", 8, "ort-training")
    np.testing.assert_allclose(standard, engine, rtol=1e-3)
    # The same losses at a variable length, where the standard backend keeps sequence_lens.
    variable = _state_history(tmp_path / "variable", None, "standard")
    np.testing.assert_allclose(standard, variable, rtol=1e-3)


@pytest.mark.ort_training
def test_masked_state_at_a_variable_length_is_refused_by_the_engine(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        _state_history(tmp_path, None, "ort-training")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    assert diagnostic.path == ("layers", 1, "return_state")
    assert "--backend standard" in diagnostic.message
