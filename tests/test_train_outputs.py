"""The trained folder (all or nothing, strict JSON, checked first) and how fit stops early."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import specc.train.outputs as outputs_module
from specc.atomic import OutputFolderError
from specc.diagnostics import SpecError
from specc.train.fit import EpochLog, StopRequest
from specc.train.outputs import RunRecord, check_trained_folder, history_json
from specc.train.progress import Progress
from specc.train.run import TrainOptions, train_spec, write_outputs
from tests.hostile.train_inputs import DIVERGING_SPEC, TINY_SPEC, regression_data, tiny_data


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    spec, data = tmp_path / "tiny.yaml", tmp_path / "data.npz"
    spec.write_text(TINY_SPEC, encoding="utf-8")
    data.write_bytes(tiny_data())
    return spec, data


def test_history_is_strict_json() -> None:
    text = history_json({"loss": [1.5, float("nan"), float("inf")], "mae": [-float("inf")]})
    assert json.loads(text) == {"loss": [1.5, None, None], "mae": [None]}
    assert "NaN" not in text and "Infinity" not in text


def test_per_class_history_values_are_lists() -> None:
    text = history_json({"f1_score": [[0.5, float("nan")], [1.0, 0.25]]})
    assert json.loads(text) == {"f1_score": [[0.5, None], [1.0, 0.25]]}


def test_a_per_class_metric_reports_a_list_per_epoch(tmp_path: Path) -> None:
    spec, data = tmp_path / "f1.yaml", tmp_path / "data.npz"
    spec.write_text(
        TINY_SPEC.replace("sparse_categorical_crossentropy", "categorical_crossentropy").replace(
            "metrics: [accuracy]", "metrics: [f1_score, {type: F1Score, average: macro, name: f1}]"
        ),
        encoding="utf-8",
    )
    labels = np.random.default_rng(0).integers(0, 3, size=32)
    inputs = np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32)
    np.savez(data, input_layer=inputs, out=np.eye(3, dtype=np.float32)[labels])
    result = train_spec(spec, data, TrainOptions())
    per_class, macro = result.history["f1_score"], result.history["f1"]
    assert [len(epoch) for epoch in per_class] == [3, 3]  # two epochs, three classes
    assert all(isinstance(value, float) for value in macro)
    # The macro average is the mean of the per-class scores.
    np.testing.assert_allclose(macro, [np.mean(epoch) for epoch in per_class], atol=1e-6)
    out = tmp_path / "out"
    write_outputs(result, out)
    assert json.loads((out / "history.json").read_text())["f1_score"] == per_class


def test_run_record_is_json() -> None:
    record = json.loads(RunRecord("interrupted", 200, 12, 101).to_json())
    assert record == {
        "status": "interrupted",
        "epochs": 200,
        "epochs_completed": 12,
        "steps_trained": 101,
    }


def test_check_refuses_a_folder_under_a_run_file_name(tmp_path: Path) -> None:
    (tmp_path / "out" / "history.json").mkdir(parents=True)
    with pytest.raises(OutputFolderError, match=r"history\.json is not a file specc wrote"):
        check_trained_folder(tmp_path / "out")


def test_check_accepts_links_and_an_earlier_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"earlier")
    os.symlink("/nonexistent/file", out / "weights.npz")
    check_trained_folder(out)
    check_trained_folder(tmp_path / "new")


def test_a_failure_while_writing_leaves_the_previous_run(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, data = tiny
    result = train_spec(spec, data, TrainOptions(epochs=1))
    out = tmp_path / "trained"
    write_outputs(result, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(outputs_module, "write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_outputs(result, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_stop_request_ends_training_after_the_current_batch(tiny: tuple[Path, Path]) -> None:
    spec, data = tiny
    stop = StopRequest()

    def ctrl_c_at_epoch_2_batch_3(log: EpochLog, epoch_done: bool) -> None:
        assert stop.active
        if (log.epoch, log.step, epoch_done) == (2, 3, False):
            stop.requested = True

    result = train_spec(
        spec, data, TrainOptions(epochs=5), on_progress=ctrl_c_at_epoch_2_batch_3, stop=stop
    )
    assert result.interrupted
    assert result.fitted is not None and result.fitted.where == "epoch 2/5, batch 3/4"
    assert [len(values) for values in result.history.values()] == [1, 1]
    assert result.record() == RunRecord("interrupted", 5, 1, 4 + 3)


def test_a_stop_request_in_the_last_batch_completes_the_epoch(tiny: tuple[Path, Path]) -> None:
    spec, data = tiny
    stop = StopRequest()

    def ctrl_c_at_the_end_of_epoch_1(log: EpochLog, epoch_done: bool) -> None:
        if (log.epoch, log.step) == (1, 4):
            stop.requested = True

    result = train_spec(
        spec, data, TrainOptions(epochs=3), on_progress=ctrl_c_at_the_end_of_epoch_1, stop=stop
    )
    assert result.record() == RunRecord("interrupted", 3, 1, 4)


def test_a_non_finite_loss_stops_training_as_terminate_on_nan(tmp_path: Path) -> None:
    spec, data = tmp_path / "diverging.yaml", tmp_path / "data.npz"
    spec.write_text(DIVERGING_SPEC, encoding="utf-8")
    data.write_bytes(regression_data())
    with pytest.raises(SpecError) as caught:
        train_spec(spec, data, TrainOptions())
    [problem] = caught.value.diagnostics
    assert problem.code == "SPC540-non-finite-loss"
    assert problem.file == str(spec)
    assert "at epoch 1/2, batch 2/4" in problem.message
    result = train_spec(spec, data, TrainOptions(terminate_on_nan=False))
    assert result.record().status == "completed"
    assert not np.isfinite(result.history["loss"]).all()


def test_progress_ends_an_open_bar_line() -> None:
    class Stream:
        text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return True

    stream = Stream()
    progress = Progress(stream, interactive=True)  # type: ignore[arg-type]
    progress(EpochLog(1, 2, 1, 4, 0.1, {"loss": 1.0}), False)
    progress.end_line()
    progress.end_line()  # nothing more: the line is closed
    assert stream.text.endswith("loss: 1.0000\n")


SEEDED_DROPOUT_SPEC = """
specc: 1
name: seeded
inputs:
  x: {shape: [4]}
layers:
  - {name: hidden, type: Dense, units: 8, activation: relu, inputs: x}
  - {name: drop, type: Dropout, rate: 0.5}
  - {name: y, type: Dense, units: 1}
outputs: [y]
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: mse
train: {epochs: 2, batch_size: 4, seed: 7}
"""


def test_train_seed_makes_a_run_with_unseeded_dropout_reproducible(tmp_path: Path) -> None:
    """The spec's train.seed seeds the initial weights, the shuffling and every unseeded
    random layer, as keras.utils.set_random_seed does: two runs give the same weights; a
    different seed does not."""
    spec = tmp_path / "s.yaml"
    spec.write_text(SEEDED_DROPOUT_SPEC)
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(16, 4)).astype(np.float32), y=rng.normal(size=(16, 1)))
    first, second = (train_spec(spec, data, TrainOptions()) for _ in range(2))
    for key, array in first.weights.items():
        np.testing.assert_array_equal(array, second.weights[key], err_msg=key)
    other = train_spec(spec, data, TrainOptions(seed=8))
    assert not np.array_equal(other.weights["hidden/kernel"], first.weights["hidden/kernel"])
