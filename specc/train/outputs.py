"""The folder ``specc train`` writes: its files, checked before training, written whole.

``model.onnx``    the inference model with the trained weights
``weights.npz``   the same weights, in the weights-file format
``history.json``  Keras's History: a list per key, one value per epoch that ran to its end
``history.png``   its learning curves (``specc.plot_history``), when matplotlib is installed
``spec.json``     the spec the run trained (its data as JSON, a spec itself), so that
                  ``specc evaluate DIR`` knows the loss and metrics; left out for a spec
                  JSON cannot hold (a non-finite number)
``checkpoint/``   the run's last checkpoint, to resume from (``specc.train.checkpoint``)
``run.json``      how the run ended: ``status`` (``completed`` or ``interrupted``), the
                  epochs asked for and completed, the batches trained in all, and the
                  files and folders its callbacks wrote beside these (``callback_files``)

The files are written into a staging folder beside ``--out`` and swapped in whole
(``specc.atomic.staged_folder``): ``--out`` holds the previous complete run or the new one,
never a mix, never a partial file, whatever happens (a full disk, Ctrl-C, ``kill -9``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specc.atomic import (
    OutputFolderError,
    check_output_folder,
    staged_folder,
    sweep_leftovers,
    write_text,
)
from specc.history_file import HistoryError, parse_history
from specc.onnx_model import write_model
from specc.plot_history import write_history_picture
from specc.plotting import matplotlib_installed
from specc.weights import save_weights

if TYPE_CHECKING:
    import onnx

MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "weights.npz"
HISTORY_FILE = "history.json"
RUN_FILE = "run.json"
HISTORY_PICTURE = "history.png"
SPEC_FILE = "spec.json"
# What a run writes, so what a rerun may find in --out and replace.
TRAINED_FILES = (MODEL_FILE, WEIGHTS_FILE, HISTORY_FILE, RUN_FILE, HISTORY_PICTURE, SPEC_FILE)
# The run's checkpoint folder, written while it trains.
CHECKPOINT_FOLDER = "checkpoint"
# A file marking a folder that holds BackupAndRestore's checkpoints (its top-level name in
# --out), so that a rerun knows the folder as its own.
BACKUP_MARKER = ".specc-backup"


@dataclass(frozen=True)
class RunRecord:
    """``run.json``: how a training run ended."""

    status: str  # "completed" or "interrupted"
    epochs: int  # asked for
    epochs_completed: int  # those in history.json
    steps_trained: int  # batches trained in all, an interrupted epoch's included
    # Top-level names callbacks wrote in the folder (checkpoints, logs).
    callback_files: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The file's text."""
        fields: dict[str, Any] = {
            "status": self.status,
            "epochs": self.epochs,
            "epochs_completed": self.epochs_completed,
            "steps_trained": self.steps_trained,
        }
        if self.callback_files:
            fields["callback_files"] = list(self.callback_files)
        return json.dumps(fields, indent=2) + "\n"


def check_trained_folder(out: Path) -> None:
    """Refuse an ``--out`` that a run could not be swapped into, before any work is done.

    Besides ``check_output_folder`` (a file, a folder holding others' files, a parent that
    cannot be written), a folder or other non-file under one of the run's own names is
    refused: the swap would delete it, and specc never wrote one there.
    """
    if out.is_dir() and not out.is_symlink():
        # A checkpoint write a kill interrupted leaves its staging folder in --out.
        sweep_leftovers(out, CHECKPOINT_FOLDER)
    owned = owned_names(out)
    check_output_folder(out, owned)
    if out.is_symlink() or not out.is_dir():
        return
    for name in TRAINED_FILES:
        entry = out / name
        if entry.is_symlink() or not entry.exists():
            continue  # a link is replaced, never followed
        if not entry.is_file():
            raise OutputFolderError(
                f"{entry} is not a file specc wrote; give a new or empty folder, "
                "or one an earlier run wrote"
            )


def owned_names(out: Path) -> tuple[str, ...]:
    """The names a run may find in ``out`` and replace: its own files, and those the last
    run's callbacks wrote (listed in its ``run.json``)."""
    own = (*TRAINED_FILES, CHECKPOINT_FOLDER, *_backup_folders(out))
    record = out / RUN_FILE
    if record.is_symlink() or not record.is_file():
        return own
    try:
        listed = json.loads(record.read_text(encoding="utf-8")).get("callback_files", [])
    except (OSError, ValueError, AttributeError):
        return own
    if not isinstance(listed, list):
        return own
    names = [
        n for n in listed if isinstance(n, str) and n and "/" not in n and n not in ("..", ".")
    ]
    return (*own, *names)


def _backup_folders(out: Path) -> list[str]:
    """The folders in ``out`` marked as BackupAndRestore's."""
    try:
        entries = list(out.iterdir()) if out.is_dir() and not out.is_symlink() else []
    except OSError:
        return []
    return [e.name for e in entries if not e.is_symlink() and (e / BACKUP_MARKER).is_file()]


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _finite(value: Any) -> Any:
    # A per-class metric's epoch value is a list: each of its numbers the same way.
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value if math.isfinite(value) else None


def history_json(history: Mapping[str, list[Any]]) -> str:
    """History as strict JSON: NaN and infinities (not JSON numbers) become ``null``."""
    strict = {key: [_finite(value) for value in values] for key, values in history.items()}
    return json.dumps(strict, indent=2, allow_nan=False) + "\n"


def _spec_json(spec: Any) -> str | None:
    """A spec's data as JSON text, or None where JSON cannot hold it (``.inf``)."""
    if spec is None:
        return None
    try:
        return json.dumps(spec, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError):
        return None


def write_trained_folder(
    out: Path,
    model: onnx.ModelProto,
    weights: Mapping[str, np.ndarray],
    history: Mapping[str, list[Any]],
    run: RunRecord,
    callback_folder: Path | None = None,
    spec: Any = None,
    kept: Mapping[str, Path] | None = None,
) -> list[Path]:
    """Write a run's files into a staging folder and swap it in as ``out``; return their
    paths in ``out``. ``history.png`` is drawn only where matplotlib is installed. The
    files callbacks wrote (in ``callback_folder``, the names ``run.callback_files``) go in
    with them, and ``kept`` (name -> folder: the run's checkpoints) are linked in."""
    check_trained_folder(out)
    text = history_json(history)
    with staged_folder(out, owned_names(out)) as staging:
        for name in run.callback_files:
            assert callback_folder is not None  # names come from the folder
            source = callback_folder / name
            if source.is_dir():
                shutil.copytree(source, staging / name, symlinks=True)
            elif source.exists():
                shutil.copy2(source, staging / name)
        for name, folder in (kept or {}).items():
            # Checkpoint files are never changed in place: a hard link is a safe copy.
            shutil.copytree(folder, staging / name, symlinks=True, copy_function=_link)
        write_model(model, staging / MODEL_FILE)
        save_weights(staging / WEIGHTS_FILE, weights)
        write_text(staging / HISTORY_FILE, text)
        write_text(staging / RUN_FILE, run.to_json())
        spec_text = _spec_json(spec)
        if spec_text is not None:
            write_text(staging / SPEC_FILE, spec_text)
        # The picture is drawn from the file's own text, as `specc plot` reads it back; a
        # history too big to draw (thousands of keys) leaves it out, never the run.
        if matplotlib_installed():
            with contextlib.suppress(HistoryError):
                write_history_picture(parse_history(text), staging / HISTORY_PICTURE)
        written = sorted(entry.name for entry in staging.iterdir())
    files = [out / name for name in TRAINED_FILES if name in written]
    return files + [out / name for name in (*run.callback_files, *(kept or {}))]
