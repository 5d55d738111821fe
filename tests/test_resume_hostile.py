"""``specc train --resume`` on damaged or forged checkpoints: one located message, exit 1,
no traceback, and nothing written.

A valid checkpoint is made once (one epoch of a tiny spec with EarlyStopping, so that a
callback's state and arrays are in it); each case copies it and damages one part.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format
from typer.testing import CliRunner

from specc.cli.app import app
from tests.hostile.train_inputs import TINY_SPEC, tiny_data

runner = CliRunner()

SPEC = TINY_SPEC + (
    "  callbacks:\n"
    "    - {type: EarlyStopping, monitor: loss, patience: 5, restore_best_weights: true}\n"
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the spec, its data and a run of one epoch (its checkpoint in it)."""
    folder = tmp_path_factory.mktemp("saved")
    (folder / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "data.npz").write_bytes(tiny_data())
    result = runner.invoke(app, [*_command(folder), "--epochs", "1", "--out", str(folder / "out")])
    assert result.exit_code == 0, result.output
    assert (folder / "out" / "checkpoint" / "state.npz").is_file()
    return folder


def _command(folder: Path) -> list[str]:
    return ["train", str(folder / "tiny.yaml"), "--data", str(folder / "data.npz"), "-q"]


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _kernel(members: dict[str, bytes]) -> str:
    return next(n for n in members if n.startswith("session/") and n.endswith("kernel.npy"))


def _truncated(folder: Path) -> None:
    path = folder / "state.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _wrong_shape(folder: Path) -> None:
    members = _members(folder / "state.npz")
    members[_kernel(members)] = _npy(np.zeros((5, 3), np.float32))
    _rewrite(folder / "state.npz", members)


def _huge_declared_size(folder: Path) -> None:
    members = _members(folder / "state.npz")
    header = io.BytesIO()
    shape = {"descr": "<f4", "fortran_order": False, "shape": (4, 10**12)}
    npy_format.write_array_header_1_0(header, shape)
    members[_kernel(members)] = header.getvalue() + b"\0" * 64
    _rewrite(folder / "state.npz", members)


def _pickled_object_array(folder: Path) -> None:
    members = _members(folder / "state.npz")
    members[_kernel(members)] = _npy(np.array([{"a": 1}, None], dtype=object))
    _rewrite(folder / "state.npz", members)


def _non_finite(folder: Path) -> None:
    members = _members(folder / "state.npz")
    members[_kernel(members)] = _npy(np.full((4, 3), np.nan, np.float32))
    _rewrite(folder / "state.npz", members)


def _json(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        document = json.loads((folder / "checkpoint.json").read_text())
        change(document)
        (folder / "checkpoint.json").write_text(json.dumps(document))

    return damage


def _set(*path_and_value: object) -> Callable[[dict], None]:
    *path, value = path_and_value

    def change(document: dict) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]  # type: ignore[index]
        node[path[-1]] = value  # type: ignore[index]

    return change


CASES = {
    "truncated npz": (_truncated, "state.npz"),
    "wrong shape": (_wrong_shape, "must be float32 of shape (4, 3)"),
    "huge declared size": (_huge_declared_size, "state.npz"),
    "pickled object array": (_pickled_object_array, "state.npz"),
    "NaN weights": (_non_finite, "NaN"),
    "epoch as text": (_json(_set("position", "epoch", "two")), "position.epoch"),
    "history of text": (_json(_set("history", "loss", "low")), "history.loss"),
    "bad generator": (_json(_set("shuffle_state", "state", "state", -5)), "shuffle_state"),
    "other generator": (_json(_set("shuffle_state", "bit_generator", "MT19937")), "shuffle_state"),
    "step outside the epoch": (_json(_set("position", "step", 99)), "position.step"),
    "not an object": (lambda f: (f / "checkpoint.json").write_text("[1, 2]"), "top level"),
    "not JSON": (lambda f: (f / "checkpoint.json").write_text("{"), "not readable JSON"),
    "no checkpoint.json": (lambda f: (f / "checkpoint.json").unlink(), "no checkpoint"),
    "callback state of the wrong type": (
        _json(_set("callbacks", 0, "wait", "long")),
        "wait must be a non-negative integer",
    ),
    "another spec": (_json(_set("fingerprint", "spec", "0" * 64)), "another spec"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_checkpoint_is_refused_with_one_located_message(
    saved: Path, tmp_path: Path, case: str
) -> None:
    damage, expected = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(saved / "out", run)
    damage(run / "checkpoint")
    before = sorted(p.name for p in run.iterdir())
    result = runner.invoke(app, [*_command(saved), "--resume", str(run)])
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    errors = [line for line in result.output.splitlines() if "error:" in line]
    assert len(errors) == 1, result.output
    assert sorted(p.name for p in run.iterdir()) == before
    assert (run / "weights.npz").read_bytes() == (saved / "out" / "weights.npz").read_bytes()


def test_resume_with_fewer_epochs_than_trained_is_refused(saved: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert runner.invoke(app, [*_command(saved), "--epochs", "2", "--out", out]).exit_code == 0
    result = runner.invoke(app, [*_command(saved), "--epochs", "1", "--resume", out])
    assert result.exit_code == 1
    assert "--epochs 1 ends before it" in result.output and "SPC542" in result.output


def test_resume_from_a_folder_without_a_checkpoint(saved: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, [*_command(saved), "--resume", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds no checkpoint" in result.output


@pytest.mark.parametrize(
    ("callback", "expected"),
    [
        ("{type: BackupAndRestore, backup_dir: checkpoint}", "backup_dir 'checkpoint' is one"),
        ("{type: BackupAndRestore, backup_dir: model.onnx/x}", "backup_dir 'model.onnx/x' is one"),
        (
            "{type: ModelCheckpoint, filepath: checkpoint/w.npz, save_weights_only: true}",
            "'checkpoint/w.npz' is one of the files specc train writes itself",
        ),
        (
            "{type: CSVLogger, filename: backup/log.csv}\n"
            "    - {type: BackupAndRestore, backup_dir: backup}",
            "'backup/log.csv' is one of the files specc train writes itself",
        ),
    ],
)
def test_callbacks_cannot_take_the_checkpoints_folders(
    tmp_path: Path, callback: str, expected: str
) -> None:
    (tmp_path / "tiny.yaml").write_text(f"{TINY_SPEC}  callbacks:\n    - {callback}\n")
    (tmp_path / "data.npz").write_bytes(tiny_data())
    result = runner.invoke(app, [*_command(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert expected in result.output and "SPC541-callback" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "model.onnx").exists()
