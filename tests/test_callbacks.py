"""Callbacks on their own: Keras 3.15.1's rules driven by fixed sequences of logs, their
files, and the spec checks (``train.callbacks``)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.callbacks import CALLBACKS, Callback, CallbackError, CallbackList
from specc.callbacks.base import Logs
from specc.callbacks.csv_logger import CSVLogger
from specc.callbacks.early_stopping import EarlyStopping
from specc.callbacks.model_checkpoint import ModelCheckpoint
from specc.callbacks.paths import check_relative, format_pattern, parse_pattern
from specc.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from specc.diagnostics import SpecError
from specc.pipeline import compile_spec
from specc.spec.loader import load_text
from specc.spec.model import validate_spec
from tests.test_train_callbacks import files


class FakeRun:
    """A ``TrainingControl`` whose weights are one number (the epoch that set them) and
    whose learning rate is a float32 variable."""

    def __init__(self, folder: Path, directions: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.directions = dict(directions or {})
        self.stop_training = False
        self.weights = {"w": np.array(-1.0, np.float32)}
        self.rate = np.float32(0.1)
        self.saved: list[tuple[str, str]] = []
        self.previous_folder: Path | None = None

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.weights.items()}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = {k: np.array(v) for k, v in weights.items()}

    def get_learning_rate(self) -> float:
        return float(self.rate)

    def set_learning_rate(self, value: float) -> None:
        self.rate = np.float32(value)

    def file(self, relative: str) -> Path:
        assert check_relative(relative) is None
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def previous(self, relative: str) -> Path | None:
        if self.previous_folder is None or not (self.previous_folder / relative).is_file():
            return None
        return self.previous_folder / relative

    def save_weights(self, path: Path) -> None:
        self.saved.append(("weights", path.relative_to(self.folder).as_posix()))

    def save_model(self, path: Path) -> None:
        self.saved.append(("model", path.relative_to(self.folder).as_posix()))


def drive(
    callback: Callback, run: FakeRun, logs: list[Logs], batches: int = 0
) -> tuple[int, list[Logs]]:
    """Run ``callback`` over epochs with these logs as ``fit`` does; return how many epochs
    ran and the logs as the History would record them."""
    callbacks = CallbackList([callback], run)
    callbacks.on_train_begin()
    recorded = []
    for epoch, values in enumerate(logs):
        callbacks.on_epoch_begin(epoch)
        run.weights = {"w": np.array(float(epoch), np.float32)}  # this epoch's training
        for batch in range(batches):
            callbacks.on_train_batch_end(batch, {"loss": 1.0})
        entry = dict(values)
        callbacks.on_epoch_end(epoch, entry)
        recorded.append(entry)
        if callbacks.stop_training:
            break
    callbacks.on_train_end(recorded[-1])
    callbacks.close()
    return len(recorded), recorded


def losses(*values: float, key: str = "val_loss") -> list[Logs]:
    return [{key: v} for v in values]


# -- EarlyStopping --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "values", "epochs"),
    [
        # Patience counts epochs without improvement; the stop comes after the epoch that
        # exhausts it.
        ({"patience": 2}, (1.0, 0.9, 0.95, 0.96, 0.97, 0.5), 4),
        ({"patience": 0}, (1.0, 0.9, 0.95, 0.5), 3),
        # min_delta: 0.95 is not below 1.0 - 0.1, so epoch 2 is no improvement.
        ({"patience": 1, "min_delta": 0.1}, (1.0, 0.95, 0.92, 0.5), 2),
        ({"patience": 1, "min_delta": -0.1}, (1.0, 0.95, 0.92, 0.5), 2),
        ({"patience": 1}, (1.0, 0.95, 0.92, 0.5), 4),
        # A baseline never beaten: each improvement keeps the wait, and a worse epoch after
        # patience stops; without it the same values train on.
        ({"patience": 2, "baseline": 0.4}, (0.5, 0.6, 0.7, 0.8), 2),
        ({"patience": 2}, (0.5, 0.6, 0.7, 0.8), 3),
        ({"patience": 2, "baseline": 0.4}, (0.5, 0.45, 0.44, 0.43), 4),
        # start_from_epoch: the first epochs are not watched.
        ({"patience": 0, "start_from_epoch": 2}, (1.0, 2.0, 3.0, 4.0), 4),
        ({"patience": 0}, (1.0, 2.0, 3.0, 4.0), 2),
    ],
)
def test_early_stopping_follows_keras(
    tmp_path: Path, arguments: dict[str, Any], values: tuple[float, ...], epochs: int
) -> None:
    callback = EarlyStopping(type="EarlyStopping", **arguments).start()
    ran, _ = drive(callback, FakeRun(tmp_path), losses(*values))
    assert ran == epochs


def test_early_stopping_auto_mode_maximizes_accuracy_and_minimizes_loss(tmp_path: Path) -> None:
    values = (0.5, 0.6, 0.55, 0.7)
    run = FakeRun(tmp_path, {"accuracy": "up"})
    accuracy = EarlyStopping(type="EarlyStopping", monitor="val_accuracy").start()
    # Rising accuracy improves; the fall at epoch 3 stops (patience 0).
    assert drive(accuracy, run, losses(*values, key="val_accuracy"))[0] == 3
    loss = EarlyStopping(type="EarlyStopping", monitor="val_loss").start()
    # The same numbers as a loss: the rise at epoch 2 stops.
    assert drive(loss, FakeRun(tmp_path), losses(*values))[0] == 2
    explicit = EarlyStopping(type="EarlyStopping", monitor="val_accuracy", mode="min").start()
    run = FakeRun(tmp_path, {"accuracy": "up"})
    assert drive(explicit, run, losses(*values, key="val_accuracy"))[0] == 2


def test_early_stopping_without_a_direction_is_refused(tmp_path: Path) -> None:
    callback = EarlyStopping(type="EarlyStopping", monitor="out_loss").start()
    with pytest.raises(CallbackError, match="set mode to 'max' or 'min'") as caught:
        drive(callback, FakeRun(tmp_path), losses(1.0, key="out_loss"))
    assert caught.value.index == 0


@pytest.mark.parametrize(
    ("arguments", "values", "best"),
    [
        ({"patience": 2}, (1.0, 0.7, 0.8, 0.9, 0.1), 1),
        ({"patience": 1, "start_from_epoch": 1}, (0.1, 0.7, 0.8, 0.9), 1),
        # No epoch beats the baseline: the best of those that ran is restored.
        ({"patience": 2, "baseline": 0.1}, (1.0, 0.9, 0.95, 0.96), 1),
    ],
)
def test_restore_best_weights_puts_the_best_epoch_back(
    tmp_path: Path, arguments: dict[str, Any], values: tuple[float, ...], best: int
) -> None:
    run = FakeRun(tmp_path)
    callback = EarlyStopping(type="EarlyStopping", restore_best_weights=True, **arguments)
    drive(callback.start(), run, losses(*values))
    assert float(run.weights["w"]) == best


def test_weights_stay_the_last_epoch_without_restore_best_weights(tmp_path: Path) -> None:
    run = FakeRun(tmp_path)
    ran, _ = drive(EarlyStopping(type="EarlyStopping", patience=1).start(), run, losses(1, 2, 3))
    assert float(run.weights["w"]) == ran - 1


# -- ReduceLROnPlateau ----------------------------------------------------------------


def keras_plateau_rates(
    values: list[float],
    rate: float,
    factor: float,
    patience: int,
    min_delta: float,
    cooldown: int,
    min_lr: float,
) -> list[float]:
    """Keras 3.15.1's ReduceLROnPlateau for a minimized value, written out on its own:
    the learning rate each epoch trained with (what its logs record)."""
    variable = np.float32(rate)
    best = None
    wait = 0
    rest = 0
    recorded = []
    for current in values:
        recorded.append(float(variable))
        if rest > 0:
            rest -= 1
            wait = 0
        if best is None or current + abs(min_delta) < best:
            best, wait = current, 0
            continue
        if rest > 0:
            continue
        wait += 1
        if wait < patience:
            continue
        if float(variable) > np.float32(min_lr):
            variable = np.float32(max(float(variable) * factor, min_lr))
            rest, wait = cooldown, 0
    return recorded


PLATEAU = [1.0, 0.9, 0.9, 0.95, 0.9, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91, 0.8, 0.8, 0.8]


@pytest.mark.parametrize(
    "arguments",
    [
        {"factor": 0.5, "patience": 1},
        {"factor": 0.5, "patience": 2, "cooldown": 2},
        {"factor": 0.1, "patience": 1, "min_lr": 0.0005},
        {"factor": 0.3, "patience": 1, "min_delta": 0.06, "cooldown": 1, "min_lr": 0.001},
        {"factor": 0.7, "patience": 3, "min_delta": 0.0},
    ],
)
def test_reduce_lr_on_plateau_follows_keras(tmp_path: Path, arguments: dict[str, Any]) -> None:
    config = ReduceLROnPlateau(type="ReduceLROnPlateau", **arguments)
    run = FakeRun(tmp_path)
    _, logs = drive(config.start(), run, losses(*PLATEAU))
    expected = keras_plateau_rates(
        PLATEAU,
        0.1,
        config.factor,
        config.patience,
        config.min_delta,
        config.cooldown,
        config.min_lr,
    )
    assert [entry["learning_rate"] for entry in logs] == expected
    # The reductions happened (the test would pass vacuously on a constant rate).
    assert len(set(expected)) > 1


# -- CSVLogger ------------------------------------------------------------------------


def test_csv_logger_writes_keras_columns(tmp_path: Path) -> None:
    logs = [
        {"loss": 0.5, "accuracy": 0.25, "f1": [0.1, 0.2]},
        {"loss": 0.25, "accuracy": 0.5, "f1": [0.3, 0.4]},
    ]
    drive(CSVLogger(type="CSVLogger", filename="logs/run.csv").start(), FakeRun(tmp_path), logs)
    text = (tmp_path / "logs" / "run.csv").read_bytes().decode()
    assert text == (
        "epoch,accuracy,f1,loss,val_accuracy,val_f1,val_loss\r\n"
        '0,0.25,"""[0.1, 0.2]""",0.5,NA,NA,NA\r\n'
        '1,0.5,"""[0.3, 0.4]""",0.25,NA,NA,NA\r\n'
    )


def test_csv_logger_separator_and_append(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "log.csv").write_bytes(b"epoch;loss;val_loss\r\n0;1.0;2.0\r\n")
    run = FakeRun(tmp_path / "now")
    run.previous_folder = earlier
    config = CSVLogger(type="CSVLogger", filename="log.csv", separator=";", append=True)
    drive(config.start(), run, [{"loss": 0.5, "val_loss": 0.75}])
    text = (tmp_path / "now" / "log.csv").read_bytes().decode()
    assert text == "epoch;loss;val_loss\r\n0;1.0;2.0\r\n0;0.5;0.75\r\n"


# -- ModelCheckpoint ------------------------------------------------------------------


def checkpoint(**arguments: Any) -> ModelCheckpoint:
    return ModelCheckpoint(type="ModelCheckpoint", **arguments)


def test_checkpoint_names_follow_the_pattern(tmp_path: Path) -> None:
    run = FakeRun(tmp_path)
    config = checkpoint(filepath="ckpt/e{epoch:02d}-{val_loss:.2f}.onnx")
    drive(config.start(), run, losses(0.5, 0.25))
    assert run.saved == [("model", "ckpt/e01-0.50.onnx"), ("model", "ckpt/e02-0.25.onnx")]


def test_checkpoint_best_only_saves_improvements(tmp_path: Path) -> None:
    run = FakeRun(tmp_path)
    config = checkpoint(
        filepath="w{epoch}.npz", save_best_only=True, save_weights_only=True, monitor="val_loss"
    )
    drive(config.start(), run, losses(0.5, 0.6, 0.4, 0.45, 0.3))
    assert run.saved == [("weights", f"w{e}.npz") for e in (1, 3, 5)]
    # initial_value_threshold is the first best to beat.
    run = FakeRun(tmp_path)
    config = checkpoint(filepath="best.onnx", save_best_only=True, initial_value_threshold=0.42)
    drive(config.start(), run, losses(0.5, 0.6, 0.4, 0.45, 0.3))
    assert len(run.saved) == 2


def test_checkpoint_every_n_batches_counts_across_epochs(tmp_path: Path) -> None:
    run = FakeRun(tmp_path)
    config = checkpoint(filepath="b/{epoch}-{batch}.onnx", save_freq=3)
    drive(config.start(), run, losses(1.0, 1.0), batches=4)
    # Batches 3 (epoch 1), then 2 (3 more: 4 of epoch 1, 1 and 2 of epoch 2).
    assert [name for _, name in run.saved] == ["b/1-3.onnx", "b/2-2.onnx"]


def test_checkpoint_field_missing_from_the_logs_is_a_located_problem(tmp_path: Path) -> None:
    config = checkpoint(filepath="{val_loss:.2f}.onnx")
    with pytest.raises(CallbackError, match="val_loss") as caught:
        drive(config.start(), FakeRun(tmp_path), losses(0.5, key="loss"))
    assert caught.value.field == ("filepath",)


@pytest.mark.parametrize(
    "pattern",
    [
        "../x.onnx",
        "/etc/x.onnx",
        "a/../../x.onnx",
        "./x.onnx",
        "a//x.onnx",
        "C:x.onnx",
        "\\\\host\\x.onnx",
        "a\\..\\x.onnx",
        "{epoch.__class__}.onnx",
        "{epoch[0]}.onnx",
        "{epoch!r}.onnx",
        "{epoch:{loss}}.onnx",
        "{epoch:999999999d}.onnx",
        "{}.onnx",
        "x\x00.onnx",
        "x y.onnx",
        "{epoch.onnx",
    ],
)
def test_hostile_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="filepath"):
        checkpoint(filepath=pattern)


def test_formatted_values_cannot_leave_the_folder() -> None:
    pieces = parse_pattern("filepath", "c/{name}.onnx", fields=True)
    assert format_pattern(pieces, {"name": "../../etc/passwd"}) == "c/.._.._etc_passwd.onnx"
    assert check_relative("c/.._.._etc_passwd.onnx") is None
    assert check_relative("../x") is not None
    assert check_relative("/x") is not None


def test_checkpoint_extension_follows_save_weights_only() -> None:
    with pytest.raises(ValueError, match=r"end in \.npz"):
        checkpoint(filepath="w.onnx", save_weights_only=True)
    with pytest.raises(ValueError, match=r"end in \.onnx"):
        checkpoint(filepath="m.keras")


# -- the spec -------------------------------------------------------------------------


def problems(callbacks: str, optimizer: str = "adam") -> list[str]:
    try:
        with tempfile.TemporaryDirectory() as folder:
            spec, _ = files(Path(folder), callbacks, optimizer=optimizer)
            compile_spec(spec, None, 0)
    except SpecError as error:
        return [f"{d.code} {d.dotted_path} {d.position}: {d.message}" for d in error.diagnostics]
    return []


def test_registry_holds_the_keras_callbacks() -> None:
    assert sorted(CALLBACKS.names()) == [
        "BackupAndRestore",
        "CSVLogger",
        "EarlyStopping",
        "ModelCheckpoint",
        "ReduceLROnPlateau",
        "TensorBoard",
        "TerminateOnNaN",
    ]


def test_a_valid_callbacks_list_has_no_problems() -> None:
    assert (
        problems(
            "    - {type: EarlyStopping, monitor: val_accuracy, patience: 2}\n"
            "    - {type: ReduceLROnPlateau, monitor: loss}\n"
            "    - {type: ModelCheckpoint, filepath: 'c/{epoch:02d}-{val_loss:.2f}.onnx'}\n"
            "    - TerminateOnNaN\n"
        )
        == []
    )


@pytest.mark.parametrize(
    ("callbacks", "where", "words"),
    [
        (
            "    - {type: EarlyStoping}\n",
            "SPC102-unknown-name train.callbacks[0].type",
            "did you mean 'EarlyStopping'?",
        ),
        (
            "    - {type: EarlyStopping, patiense: 2}\n",
            "SPC103-unknown-key train.callbacks[0].patiense",
            "did you mean 'patience'?",
        ),
        (
            "    - {type: EarlyStopping, monitor: val_acuracy}\n",
            "SPC220-callback-monitor train.callbacks[0].monitor",
            "did you mean 'val_accuracy'?",
        ),
        (
            "    - {type: ReduceLROnPlateau, factor: 1.0}\n",
            "SPC101-schema train.callbacks[0].factor",
            "less than 1",
        ),
        (
            "    - {type: EarlyStopping, mode: maximum}\n",
            "SPC101-schema train.callbacks[0].mode",
            "mode must be",
        ),
        (
            "    - {type: BackupAndRestore, backup_dir: ../backup}\n",
            "SPC101-schema train.callbacks[0].backup_dir",
            "inside the run's output folder",
        ),
        (
            "    - {type: BackupAndRestore}\n",
            "SPC104-missing-key train.callbacks[0]",
            "backup_dir",
        ),
        (
            "    - {type: ModelCheckpoint, filepath: '../x.onnx'}\n",
            "SPC101-schema train.callbacks[0].filepath",
            "inside the run's output folder",
        ),
        (
            "    - {type: CSVLogger, filename: /etc/passwd}\n",
            "SPC101-schema train.callbacks[0].filename",
            "inside the run's output folder",
        ),
        (
            "    - {type: TensorBoard, log_dir: ../logs}\n",
            "SPC101-schema train.callbacks[0].log_dir",
            "inside the run's output folder",
        ),
        (
            "    - {type: ModelCheckpoint, filepath: '{val_los}.onnx'}\n",
            "SPC220-callback-monitor train.callbacks[0].filepath",
            "did you mean 'val_loss'?",
        ),
        (
            "    - ReduceLROnPlateau\n    - {type: EarlyStopping, monitor: learning_rate}\n",
            "SPC220-callback-monitor train.callbacks[1].monitor",
            "set mode to 'max' or 'min'",
        ),
        (
            "    - {type: TensorBoard, histogram_freq: 1}\n",
            "SPC103-unknown-key train.callbacks[0].histogram_freq",
            "unknown key",
        ),
    ],
)
def test_callback_problems_are_located(callbacks: str, where: str, words: str) -> None:
    [problem] = problems(callbacks)
    assert problem.startswith(where)
    assert words in problem
    assert " None:" not in problem  # located in the file


def test_reduce_lr_on_plateau_refuses_a_schedule() -> None:
    schedule = (
        "{type: adam, learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.1, "
        "decay_steps: 10, decay_rate: 0.9}}"
    )
    [problem] = problems("    - ReduceLROnPlateau\n", optimizer=schedule)
    assert problem.startswith("SPC221-callback-optimizer train.callbacks[0]")
    assert "schedule" in problem


def test_callbacks_validate_without_compiling(tmp_path: Path) -> None:
    spec, _ = files(tmp_path, "    - {type: EarlyStopping, patience: -1}\n")
    with pytest.raises(SpecError) as caught:
        validate_spec(load_text(spec.read_text(), "spec.yaml", False))
    [problem] = caught.value.diagnostics
    assert problem.dotted_path == "train.callbacks[0].patience"


def test_a_per_class_monitor_is_refused(tmp_path: Path) -> None:
    callback = EarlyStopping(type="EarlyStopping", monitor="f1").start()
    with pytest.raises(CallbackError, match="one value per class"):
        drive(callback, FakeRun(tmp_path, {"f1": "up"}), [{"f1": [0.1, 0.2]}])
