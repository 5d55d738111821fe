"""Callbacks in ``specc train``, on both backends: what they do to the run and what they
leave in its folder."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.train.run import TrainOptions, train_spec, write_outputs
from specc.weights import load_weights
from tests.hostile.train_inputs import DIVERGING_SPEC, regression_data, tiny_data, tiny_weights

runner = CliRunner()
BACKENDS = ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]

SPEC = """\
specc: 1
name: tiny
layers:
  - {type: Dense, name: out, input_shape: [4], units: 3, activation: softmax}
compile:
  optimizer: OPTIMIZER
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train:
  epochs: EPOCHS
  batch_size: 8
  validation_split: 0.25
  callbacks:
CALLBACKS"""


def files(
    folder: Path,
    callbacks: str,
    epochs: int = 4,
    optimizer: str = "{type: adam, learning_rate: 0.05}",
    validation: bool = True,
) -> tuple[Path, Path]:
    """The tiny spec with ``callbacks`` (YAML list items) and its data."""
    text = SPEC.replace("CALLBACKS", callbacks).replace("EPOCHS", str(epochs))
    text = text.replace("OPTIMIZER", optimizer)
    if not validation:
        text = text.replace("  validation_split: 0.25\n", "")
    spec, data = folder / "tiny.yaml", folder / "data.npz"
    spec.write_text(text, encoding="utf-8")
    data.write_bytes(tiny_data())
    return spec, data


def train(spec: Path, data: Path, out: Path, backend: str = "standard", *more: str) -> str:
    """``specc train`` on the tiny spec; the output (exit code checked by the caller)."""
    args = ["train", str(spec), "--data", str(data), "--out", str(out), "--seed", "1", "-q"]
    result = runner.invoke(app, [*args, "--backend", backend, *more])
    return f"{result.exit_code}\n{result.output}"


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    model = onnx.load(str(path))
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


@pytest.mark.parametrize("backend", BACKENDS)
def test_restore_best_weights_writes_the_best_epoch(tmp_path: Path, backend: str) -> None:
    # From epoch 2 (start_from_epoch 1) on, nothing improves by 10: epoch 2 is the best,
    # and epoch 3 exhausts the patience.
    spec, data = files(
        tmp_path,
        "    - {type: EarlyStopping, monitor: val_loss, min_delta: 10, patience: 1,\n"
        "       start_from_epoch: 1, restore_best_weights: true}\n"
        "    - {type: ModelCheckpoint, filepath: 'w{epoch:02d}.npz', save_weights_only: true}\n",
        epochs=6,
    )
    out = tmp_path / "out"
    assert train(spec, data, out, backend).startswith("0\n")
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_loss"]) == 3
    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["epochs_completed"]) == ("completed", 3)
    written = load_weights(out / "weights.npz")
    best = load_weights(out / "w02.npz")
    last = load_weights(out / "w03.npz")
    assert sorted(written) == ["out/bias", "out/kernel"]
    for key in written:
        np.testing.assert_array_equal(written[key], best[key])
    assert not np.array_equal(written["out/kernel"], last["out/kernel"])
    model = onnx_weights(out / "model.onnx")
    np.testing.assert_array_equal(model["out.kernel"], best["out/kernel"])
    np.testing.assert_array_equal(model["out.bias"], best["out/bias"])


def sgd_run(
    tmp_path: Path,
    name: str,
    backend: str,
    epochs: int,
    rate: float,
    callbacks: str = "",
    weights: Path | None = None,
) -> Path:
    """Train the tiny spec with SGD, one batch per epoch, from fixed weights (or
    ``weights``); return its output folder."""
    folder = tmp_path / name
    folder.mkdir()
    spec, data = files(
        folder,
        callbacks or "    []\n",
        epochs=epochs,
        optimizer=f"{{type: SGD, learning_rate: {rate}}}",
        validation=False,
    )
    spec.write_text(spec.read_text().replace("batch_size: 8", "batch_size: 32"))
    if weights is None:
        weights = folder / "initial.npz"
        weights.write_bytes(tiny_weights(0.3))
    result = train(spec, data, folder / "out", backend, "--weights", str(weights), "--no-shuffle")
    assert result.startswith("0\n"), result
    return folder / "out"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reduced_learning_rate_trains_the_next_epochs(tmp_path: Path, backend: str) -> None:
    # Nothing improves by 10: after epoch 2 (patience 1) the rate halves, and epoch 3
    # trains with it.
    plateau = (
        "    - {type: ReduceLROnPlateau, monitor: loss, min_delta: 10, patience: 1, factor: 0.5}\n"
    )
    reduced = sgd_run(tmp_path, "reduced", backend, 3, 0.1, callbacks=plateau)
    history = json.loads((reduced / "history.json").read_text())
    f32 = np.float32
    assert history["learning_rate"] == [float(f32(0.1)), float(f32(0.1)), float(f32(0.05))]
    # The same updates, run by hand: two epochs at 0.1, then one at 0.05 from there.
    first = sgd_run(tmp_path, "first", backend, 2, 0.1)
    then = sgd_run(tmp_path, "then", backend, 1, 0.05, weights=first / "weights.npz")
    unreduced = sgd_run(tmp_path, "unreduced", backend, 3, 0.1)
    got, expected = load_weights(reduced / "weights.npz"), load_weights(then / "weights.npz")
    for key in got:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-7)
    other = load_weights(unreduced / "weights.npz")
    assert not np.allclose(got["out/kernel"], other["out/kernel"], rtol=1e-6, atol=1e-7)


def test_tensorboard_events_read_back(tmp_path: Path) -> None:
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    ).EventAccumulator
    spec, data = files(tmp_path, "    - {type: TensorBoard, log_dir: logs/tb}\n", epochs=3)
    out = tmp_path / "out"
    assert train(spec, data, out).startswith("0\n")
    history = json.loads((out / "history.json").read_text())
    runs = {}
    for run in ("train", "validation"):
        events = accumulator(str(out / "logs" / "tb" / run))
        events.Reload()
        runs[run] = events
    assert sorted(runs["train"].Tags()["scalars"]) == [
        "epoch_accuracy",
        "epoch_learning_rate",
        "epoch_loss",
    ]
    assert sorted(runs["validation"].Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]
    for run, prefix in (("train", ""), ("validation", "val_")):
        for tag in ("loss", "accuracy"):
            scalars = runs[run].Scalars(f"epoch_{tag}")
            assert [s.step for s in scalars] == [0, 1, 2]
            np.testing.assert_allclose([s.value for s in scalars], history[prefix + tag], rtol=1e-6)
    rates = [s.value for s in runs["train"].Scalars("epoch_learning_rate")]
    np.testing.assert_allclose(rates, [0.05] * 3, rtol=1e-6)


def test_tensorboard_without_its_package_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    spec, data = files(tmp_path, "    - TensorBoard\n")
    with pytest.raises(SpecError) as caught:
        train_spec(spec, data, TrainOptions(seed=1))
    [problem] = caught.value.diagnostics
    assert problem.code == "SPC541-callback"
    assert 'pip install "specc[tensorboard]"' in problem.message
    assert problem.dotted_path == "train.callbacks[0]"
    assert problem.position is not None


def test_checkpoints_follow_their_patterns(tmp_path: Path) -> None:
    spec, data = files(
        tmp_path,
        "    - {type: ModelCheckpoint, filepath: 'ckpt/{epoch:02d}-{val_loss:.3f}.onnx'}\n"
        "    - {type: ModelCheckpoint, filepath: 'best/e{epoch}.npz', monitor: val_accuracy,\n"
        "       save_best_only: true, save_weights_only: true}\n"
        "    - {type: CSVLogger, filename: log.csv}\n",
        epochs=5,
    )
    out = tmp_path / "out"
    assert train(spec, data, out).startswith("0\n")
    history = json.loads((out / "history.json").read_text())
    expected = [f"{e + 1:02d}-{v:.3f}.onnx" for e, v in enumerate(history["val_loss"])]
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == expected
    # Each checkpoint is a runnable model.
    session = onnxruntime.InferenceSession(str(out / "ckpt" / expected[0]))
    [probabilities] = session.run(None, {"input_layer": np.ones((2, 4), np.float32)})
    assert probabilities.shape == (2, 3)
    best, improved = None, []
    for epoch, value in enumerate(history["val_accuracy"]):
        if best is None or value > best:
            best, improved = value, [*improved, f"e{epoch + 1}.npz"]
    assert sorted(p.name for p in (out / "best").iterdir()) == sorted(improved)
    with open(out / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(5))
    assert [float(r["val_loss"]) for r in rows] == history["val_loss"]
    assert set(rows[0]) == {"epoch", "accuracy", "loss", "val_accuracy", "val_loss"}
    run = json.loads((out / "run.json").read_text())
    assert run["callback_files"] == ["best", "ckpt", "log.csv"]


def test_a_rerun_replaces_the_earlier_runs_files(tmp_path: Path) -> None:
    callbacks = "    - {type: ModelCheckpoint, filepath: 'ckpt/{epoch}.onnx'}\n"
    spec, data = files(tmp_path, callbacks, epochs=3)
    out = tmp_path / "out"
    assert train(spec, data, out).startswith("0\n")
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == ["1.onnx", "2.onnx", "3.onnx"]
    assert train(spec, data, out, "standard", "--epochs", "2").startswith("0\n")
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == ["1.onnx", "2.onnx"]
    # A name the earlier run did not list is still someone else's file.
    (out / "notes.txt").write_text("mine")
    assert train(spec, data, out).startswith("2\n")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("pattern", ["../x.onnx", "/tmp/x.onnx", "a/../../x.onnx"])
def test_patterns_leaving_the_folder_are_refused(tmp_path: Path, pattern: str) -> None:
    spec, data = files(tmp_path, f"    - {{type: ModelCheckpoint, filepath: '{pattern}'}}\n")
    out = tmp_path / "sub" / "out"
    result = train(spec, data, out)
    assert result.startswith("1\n")
    assert "tiny.yaml:14:" in result and "train.callbacks[0].filepath" in result
    assert not out.exists() and not (tmp_path / "x.onnx").exists()


def test_a_checkpoint_named_like_the_runs_own_files_is_refused(tmp_path: Path) -> None:
    spec, data = files(tmp_path, "    - {type: ModelCheckpoint, filepath: model.onnx}\n")
    result = train(spec, data, tmp_path / "out")
    assert result.startswith("1\n")
    assert "one of the files specc train writes itself" in result


def test_monitoring_a_validation_value_needs_validation_data(tmp_path: Path) -> None:
    spec, data = files(tmp_path, "    - {type: EarlyStopping}\n", validation=False)
    result = train(spec, data, tmp_path / "out")
    assert result.startswith("1\n")
    assert "monitor reads 'val_loss', a validation value" in result
    assert "train.callbacks[0].monitor" in result


def test_checkpoints_without_validation_data(tmp_path: Path) -> None:
    # A checkpoint that does not read val_ values needs no validation data ...
    spec, data = files(
        tmp_path, "    - {type: ModelCheckpoint, filepath: 'c{epoch}.onnx'}\n", validation=False
    )
    assert train(spec, data, tmp_path / "out").startswith("0\n")
    assert (tmp_path / "out" / "c1.onnx").is_file()
    # ... one naming its files after them is refused before training.
    spec, data = files(
        tmp_path, "    - {type: ModelCheckpoint, filepath: 'c{val_loss}.onnx'}\n", validation=False
    )
    result = train(spec, data, tmp_path / "other")
    assert result.startswith("1\n") and "train.callbacks[0].filepath" in result


def test_terminate_on_nan_in_the_spec_overrides_the_flag(tmp_path: Path) -> None:
    spec, data = tmp_path / "diverging.yaml", tmp_path / "data.npz"
    spec.write_text(DIVERGING_SPEC + "  callbacks: [TerminateOnNaN]\n", encoding="utf-8")
    data.write_bytes(regression_data())
    result = train(spec, data, tmp_path / "out", "standard", "--no-terminate-on-nan")
    assert result.startswith("1\n") and "SPC540-non-finite-loss" in result
    assert not (tmp_path / "out").exists()


def test_the_api_leaves_no_scratch_folder(tmp_path: Path) -> None:
    spec, data = files(tmp_path, "    - {type: CSVLogger, filename: log.csv}\n", epochs=2)
    result = train_spec(spec, data, TrainOptions(seed=1))
    assert result.callback_folder is not None and result.callback_folder.is_dir()
    write_outputs(result, tmp_path / "out")
    assert not result.callback_folder.exists()
    assert (tmp_path / "out" / "log.csv").is_file()
