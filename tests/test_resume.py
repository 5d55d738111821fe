"""``specc train --resume``: a run SIGKILLed at any moment, then resumed, ends with the
same weights.npz and history.json as an uninterrupted run, byte for byte.

Each run is a real ``python -m specc.cli train`` process. The kill points are made
deterministic by the test hook ``SPECC_TEST_KILL_AT`` (``specc.train.checkpoint_run``):
the process SIGKILLs itself right after a given optimizer step, right after an epoch's
checkpoint, or half-way through writing a checkpoint. ``SPECC_TEST_ONE_THREAD=1`` runs
onnxruntime on one thread, so that its sums keep one order across processes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# Dropout and Adam: the dropout generator's counter and the optimizer's moments must
# come back, and the shuffled order of a half-trained epoch.
DROPOUT_SPEC = """\
specc: 1
name: dropout_adam
inputs:
  x: {shape: [16]}
layers:
  - {type: Dense, units: 32, activation: relu, inputs: x}
  - {type: Dropout, rate: 0.3}
  - {name: y, type: Dense, units: 4, activation: softmax}
outputs: [y]
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: categorical_crossentropy
  metrics: [accuracy, {type: AUC, name: auc, num_thresholds: 20}]
train:
  epochs: 3
  batch_size: 16
  seed: 3
"""

# BatchNormalization (moving statistics), a learning rate ReduceLROnPlateau lowers each
# epoch (its min_delta makes every epoch "no improvement"), EarlyStopping that stops the
# run after epoch 3 and restores the best weights, a CSV log that must be appended to, and
# weights saved every 5 batches (a count that runs across epochs and checkpoints).
CALLBACKS_SPEC = """\
specc: 1
name: callbacks
inputs:
  x: {shape: [16]}
layers:
  - {type: Dense, units: 16, inputs: x}
  - {type: BatchNormalization}
  - {type: Activation, activation: relu}
  - {name: y, type: Dense, units: 4, activation: softmax}
outputs: [y]
compile:
  optimizer: {type: Adam, learning_rate: 0.02}
  loss: categorical_crossentropy
  metrics: [accuracy]
train:
  epochs: 6
  batch_size: 16
  seed: 5
  validation_split: 0.25
  callbacks:
    - {type: ReduceLROnPlateau, monitor: loss, min_delta: 10, patience: 0, factor: 0.5}
    - {type: EarlyStopping, monitor: val_loss, min_delta: 10, patience: 2,
       restore_best_weights: true}
    - {type: CSVLogger, filename: log.csv}
    - {type: ModelCheckpoint, filepath: "saved/{epoch:02d}-{batch}.npz", save_weights_only: true,
       save_freq: 5}
"""

BACKUP_SPEC = (
    DROPOUT_SPEC
    + """\
  callbacks:
    - {type: BackupAndRestore, backup_dir: backup/run, save_freq: 4, delete_checkpoint: DELETE}
"""
)


def _data() -> bytes:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 16)).astype(np.float32)
    y = (x[:, :4].argmax(axis=1) + (rng.random(160) < 0.2)) % 4
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=np.eye(4, dtype=np.float32)[y])
    return buffer.getvalue()


def _lay_out(folder: Path) -> Path:
    (folder / "dropout.yaml").write_text(DROPOUT_SPEC, encoding="utf-8")
    (folder / "callbacks.yaml").write_text(CALLBACKS_SPEC, encoding="utf-8")
    for delete in ("true", "false"):
        spec = BACKUP_SPEC.replace("DELETE", delete)
        (folder / f"backup_{delete}.yaml").write_text(spec, encoding="utf-8")
    double = BACKUP_SPEC.replace("DELETE", "true").replace(
        "save_freq: 4", "double_checkpoint: true"
    )
    (folder / "backup_double.yaml").write_text(double, encoding="utf-8")
    (folder / "data.npz").write_bytes(_data())
    return folder


def _train(
    folder: Path,
    spec: str,
    *options: str,
    kill_at: str | None = None,
    out: str = "out",
    numpy_updates: bool = False,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPECC_TEST_ONE_THREAD": "1"}
    env.pop("SPECC_TEST_KILL_AT", None)
    env.pop("SPECC_NUMPY_UPDATES", None)
    if numpy_updates:
        env["SPECC_NUMPY_UPDATES"] = "1"
    if kill_at is not None:
        env["SPECC_TEST_KILL_AT"] = kill_at
    command = [sys.executable, "-m", "specc.cli", "train", spec, "--data", "data.npz", "-q"]
    if "--resume" not in options:
        command += ["--out", out]
    return subprocess.run(
        [*command, *options], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def _same_run(a: Path, b: Path) -> None:
    for name in ("weights.npz", "history.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder with the specs, the data and the uninterrupted runs of each spec."""
    folder = _lay_out(tmp_path_factory.mktemp("resume"))
    for spec in ("dropout", "callbacks"):
        done = _train(folder, f"{spec}.yaml", "--checkpoint-every", "3", out=f"full_{spec}")
        assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def work(tmp_path: Path, uninterrupted: Path) -> Path:
    """A fresh folder with the specs and data, and the uninterrupted runs beside."""
    return _lay_out(tmp_path)


@pytest.mark.parametrize(
    ("spec", "kill_at"),
    [
        ("dropout", "step:14"),  # epoch 2, batch 4: two batches after a checkpoint
        ("dropout", "epoch:1"),  # right after the first epoch's checkpoint
        ("dropout", "write:5"),  # half-way through the fifth checkpoint's write
        ("callbacks", "step:21"),  # epoch 3, batch 5 (ReduceLROnPlateau has acted)
        ("callbacks", "epoch:3"),  # EarlyStopping stopped here: nothing is left to train
    ],
)
def test_killed_and_resumed_run_equals_the_uninterrupted_one(
    work: Path, uninterrupted: Path, spec: str, kill_at: str
) -> None:
    killed = _train(work, f"{spec}.yaml", "--checkpoint-every", "3", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (work / "out" / "weights.npz").exists()
    assert (work / "out" / "checkpoint" / "checkpoint.json").is_file()
    resumed = _train(work, f"{spec}.yaml", "--checkpoint-every", "3", "--resume", "out")
    assert resumed.returncode == 0, resumed.stderr
    full = uninterrupted / f"full_{spec}"
    _same_run(work / "out", full)
    if spec == "callbacks":
        # Appended to, not rewritten: one header, one row per epoch.
        assert (work / "out" / "log.csv").read_bytes() == (full / "log.csv").read_bytes()
        saved = sorted(p.name for p in (full / "saved").iterdir())
        assert saved == sorted(p.name for p in (work / "out" / "saved").iterdir())
        for name in saved:
            assert (work / "out" / "saved" / name).read_bytes() == (
                full / "saved" / name
            ).read_bytes()
        assert len(json.loads((full / "history.json").read_text())["loss"]) == 3
    assert not [p for p in (work / "out").iterdir() if p.name.startswith(".")]


def test_a_killed_write_leaves_the_previous_checkpoint(work: Path) -> None:
    killed = _train(work, "dropout.yaml", kill_at="write:2")
    assert killed.returncode == -signal.SIGKILL
    saved = json.loads((work / "out" / "checkpoint" / "checkpoint.json").read_text())
    assert saved["position"] == {"epoch": 1, "step": 0, "steps_trained": 10, "finished": False}


def test_ctrl_c_leaves_a_checkpoint_to_resume_from(work: Path, uninterrupted: Path) -> None:
    stopped = _train(work, "dropout.yaml", "--checkpoint-every", "3", kill_at="interrupt:17")
    assert stopped.returncode == 130, stopped.stderr
    run = json.loads((work / "out" / "run.json").read_text())
    assert run["status"] == "interrupted" and run["steps_trained"] == 17
    saved = json.loads((work / "out" / "checkpoint" / "checkpoint.json").read_text())
    assert saved["position"]["epoch"] == 1 and saved["position"]["step"] == 7
    resumed = _train(work, "dropout.yaml", "--checkpoint-every", "3", "--resume", "out")
    assert resumed.returncode == 0, resumed.stderr
    _same_run(work / "out", uninterrupted / "full_dropout")
    assert json.loads((work / "out" / "run.json").read_text())["status"] == "completed"


def test_resume_into_another_folder(work: Path, uninterrupted: Path) -> None:
    assert _train(work, "dropout.yaml", kill_at="epoch:2").returncode == -signal.SIGKILL
    resumed = _train(work, "dropout.yaml", "--resume", "out", "--out", "elsewhere")
    assert resumed.returncode == 0, resumed.stderr
    _same_run(work / "elsewhere", uninterrupted / "full_dropout")


def test_a_resume_with_another_batch_size_is_refused(work: Path) -> None:
    assert _train(work, "dropout.yaml", kill_at="epoch:1").returncode == -signal.SIGKILL
    refused = _train(work, "dropout.yaml", "--resume", "out", "--batch-size", "8")
    assert refused.returncode == 1
    assert "another batch_size" in refused.stderr and "SPC542-checkpoint" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("delete", ["true", "false"])
def test_backup_and_restore_picks_the_backup_up(
    work: Path, uninterrupted: Path, delete: str
) -> None:
    spec = f"backup_{delete}.yaml"
    killed = _train(work, spec, kill_at="step:22")
    assert killed.returncode == -signal.SIGKILL
    assert (work / "out" / "backup" / "run" / "checkpoint" / "checkpoint.json").is_file()
    rerun = _train(work, spec)  # the same command: it finds the backup itself
    assert rerun.returncode == 0, rerun.stderr
    _same_run(work / "out", uninterrupted / "full_dropout")
    assert (work / "out" / "backup").exists() == (delete == "false")


def test_backup_dir_outside_the_run_is_refused(work: Path) -> None:
    spec = BACKUP_SPEC.replace("backup/run", "../escape").replace("DELETE", "true")
    (work / "escape.yaml").write_text(spec, encoding="utf-8")
    refused = _train(work, "escape.yaml")
    assert refused.returncode == 1
    assert "backup_dir" in refused.stderr and "Traceback" not in refused.stderr
    assert not (work / "escape").exists()


def test_a_completed_run_keeps_its_checkpoint(uninterrupted: Path) -> None:
    saved = json.loads(
        (uninterrupted / "full_dropout" / "checkpoint" / "checkpoint.json").read_text()
    )
    assert saved["position"]["epoch"] == 3 and saved["position"]["step"] == 0
    assert set(saved["history"]) == {"loss", "accuracy", "auc"}


def test_double_checkpoint_falls_back_on_the_previous_backup(
    work: Path, uninterrupted: Path
) -> None:
    killed = _train(work, "backup_double.yaml", kill_at="step:25")
    assert killed.returncode == -signal.SIGKILL
    backup = work / "out" / "backup" / "run"
    previous = json.loads((backup / "previous" / "checkpoint.json").read_text())
    latest = json.loads((backup / "checkpoint" / "checkpoint.json").read_text())
    assert (previous["position"]["epoch"], latest["position"]["epoch"]) == (1, 2)
    (backup / "checkpoint" / "state.npz").write_bytes(b"damaged")
    rerun = _train(work, "backup_double.yaml")
    assert rerun.returncode == 0, rerun.stderr
    _same_run(work / "out", uninterrupted / "full_dropout")
