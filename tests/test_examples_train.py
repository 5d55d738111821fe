"""Every example with a compile section trains on data the repo's script makes, and its
loss falls; the digits MLP reaches Keras-like accuracy on the digits shipped with the repo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from specc.spec.loader import load_spec
from specc.train.run import TrainOptions, train_spec
from tests.spec_helpers import ROOT

pytestmark = pytest.mark.slow

DIGITS = ROOT / "models" / "data" / "digits.npz"
_spec = importlib.util.spec_from_file_location("generate", ROOT / "models/data/generate.py")
assert _spec is not None and _spec.loader is not None
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

TRAINABLE = [
    p
    for p in sorted(ROOT.joinpath("models").glob("*.yaml"))
    if "compile" in load_spec(p).data and not p.name.startswith("digits_")
]


@pytest.mark.parametrize("spec", TRAINABLE, ids=lambda p: p.name)
def test_example_loss_falls(tmp_path: Path, spec: Path) -> None:
    data = tmp_path / "data.npz"
    np.savez(data, **generate.make_dataset(spec, samples=192, seed=0))
    options = TrainOptions(epochs=3, batch_size=32, validation_split=0.0, seed=0)
    history = train_spec(spec, data, options).history
    assert history["loss"][-1] < history["loss"][0]
    assert all(np.isfinite(history["loss"]))


def test_same_seed_same_history() -> None:
    spec = ROOT / "models" / "digits_mlp.yaml"
    options = TrainOptions(epochs=2, seed=5)
    first = train_spec(spec, DIGITS, options).history
    second = train_spec(spec, DIGITS, options).history
    assert first == second
    other = train_spec(spec, DIGITS, TrainOptions(epochs=2, seed=6)).history
    assert other != first


@pytest.mark.parametrize(
    ("name", "epochs", "accuracy"), [("digits_mlp", 40, 0.97), ("digits_cnn", 12, 0.98)]
)
def test_digits_reach_keras_like_accuracy(name: str, epochs: int, accuracy: float) -> None:
    # The spec's own train section: validation_split 0.2, a fixed seed.
    history = train_spec(ROOT / "models" / f"{name}.yaml", DIGITS, TrainOptions()).history
    assert len(history["val_accuracy"]) == epochs
    assert history["val_accuracy"][-1] >= accuracy
