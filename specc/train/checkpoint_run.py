"""A training run's checkpoints: where they go, when, and resuming from one.

``RunCheckpoints`` is what ``fit`` hands its state to (``specc.train.fit.Checkpoints``). It
adds the backend's state and the callbacks' (and their files so far) and writes the lot
(``specc.train.checkpoint``) into each target that wants it at that moment: the run's own
``--out/checkpoint`` after every epoch, every ``--checkpoint-every`` optimizer steps and
when Ctrl-C ends the run mid-epoch; a BackupAndRestore ``backup_dir`` at its ``save_freq``.

``resume_from`` reads a checkpoint back for a run that is about to go on from it: checked
against the compiled model and optimizer, and against the run's fingerprint (spec, data,
batch size, seed, backend), so that a resume with anything else is refused.

Test hooks: ``SPECC_TEST_ONE_THREAD=1`` runs onnxruntime on one thread (its sums in one
order, for comparisons bit for bit between processes); ``SPECC_TEST_KILL_AT`` makes the
process SIGKILL itself at a named point, so that tests can kill a real ``specc train``
deterministically:
``step:N`` right after the N-th optimizer step (before any checkpoint of that step),
``epoch:N`` right after the checkpoint at the end of epoch N, ``write:N`` in the middle of
the N-th checkpoint write (its arrays written, the folder not yet swapped in); and
``interrupt:N`` sends it SIGINT (Ctrl-C) right after the N-th step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime

from specc.atomic import replaced_folder
from specc.callbacks import CallbackList
from specc.limits import Limits
from specc.train.backend import EngineError
from specc.train.checkpoint import (
    FILES_FOLDER,
    STATE_FILE,
    Checkpoint,
    CheckpointError,
    has_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from specc.train.checkpoint_json import JsonReader
from specc.train.fit import Checkpoints, FitState
from specc.train.graph import TrainingGraph
from specc.train.outputs import CHECKPOINT_FOLDER

KILL_HOOK = "SPECC_TEST_KILL_AT"
# Test hook: 1 runs onnxruntime on one thread (for bit-for-bit comparisons of runs).
ONE_THREAD_HOOK = "SPECC_TEST_ONE_THREAD"
PREVIOUS = "previous"


class StatefulBackend(Protocol):
    """What checkpoints need of a training backend besides ``fit``'s interface."""

    def training_state(self) -> dict[str, np.ndarray]: ...

    def training_state_types(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]: ...

    def load_training_state(self, state: dict[str, np.ndarray]) -> None: ...


@dataclass
class Target:
    """A folder that receives checkpoints: at each epoch's end (``at_epoch``), every
    ``every`` optimizer steps (0: never mid-epoch), and always on Ctrl-C; ``double`` keeps
    the one before as ``previous`` beside it."""

    folder: Path
    at_epoch: bool = True
    every: int = 0
    double: bool = False


def _kill_point(name: str, count: int) -> None:
    """The test hook (see the module's docstring)."""
    point = os.environ.get(KILL_HOOK)
    if point == f"{name}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "step" and point == f"interrupt:{count}":
        os.kill(os.getpid(), signal.SIGINT)


class RunCheckpoints(Checkpoints):
    """Writes the run's checkpoints into its targets."""

    def __init__(
        self,
        session: StatefulBackend,
        callbacks: CallbackList | None,
        files: Path | None,
        fingerprint: dict[str, Any],
        targets: list[Target],
    ) -> None:
        self.session = session
        self.callbacks = callbacks
        self.files = files
        self.fingerprint = fingerprint
        self.targets = targets
        self.writes = 0

    def due(self, steps_trained: int) -> bool:
        """Whether a target wants a checkpoint after this many steps (inside an epoch)."""
        _kill_point("step", steps_trained)
        return any(t.every and steps_trained % t.every == 0 for t in self.targets)

    def save(self, state: FitState, epoch_end: bool = False, interrupted: bool = False) -> None:
        """Write ``state`` (with the backend's and the callbacks') where it is due."""
        wanted = [
            t
            for t in self.targets
            if interrupted
            or (t.at_epoch if epoch_end else bool(t.every and state.steps_trained % t.every == 0))
        ]
        if not wanted:
            return
        state.callbacks = self.callbacks.get_state() if self.callbacks is not None else []
        checkpoint = Checkpoint(self.fingerprint, state, self.session.training_state())
        for target in wanted:
            self.writes += 1
            try:
                if target.double and has_checkpoint(target.folder / CHECKPOINT_FOLDER):
                    _keep_previous(target.folder)
                write_checkpoint(
                    target.folder / CHECKPOINT_FOLDER,
                    checkpoint,
                    self.files,
                    functools.partial(_kill_point, "write", self.writes),
                )
            except OSError as exc:
                # A full disk or a file-size limit: nothing the spec can fix.
                reason = exc.strerror or str(exc)
                raise EngineError(f"cannot write the run to {target.folder}: {reason}") from None
        if epoch_end:
            _kill_point("epoch", state.epoch)


def _keep_previous(folder: Path) -> None:
    """The current checkpoint linked (never changed in place, so a link is a copy) as
    ``previous``, replacing the one there."""
    with replaced_folder(folder / PREVIOUS) as staging:
        shutil.copytree(
            folder / CHECKPOINT_FOLDER, staging, dirs_exist_ok=True, copy_function=os.link
        )


def resume_seed(folder: Path) -> int | None:
    """The seed a checkpoint's run used (None if it has no readable one: reading it in
    full, later, reports why)."""
    try:
        document = json.loads((folder / STATE_FILE).read_bytes().decode("utf-8"))
        seed = JsonReader(str(folder), document).dict("fingerprint").int("seed")
    except (OSError, ValueError, CheckpointError, RecursionError):
        return None
    return seed


def fingerprint(
    spec_data: Any,
    data: object,
    validation: object | None,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """What a resumed run must share with the run it continues: the spec's digest, the
    data's (its sizes, and the first and last rows of each array), and ``settings``
    (batch size, shuffle, seed, backend)."""
    spec = json.dumps(spec_data, sort_keys=True, default=repr).encode()
    return {
        "spec": hashlib.sha256(spec).hexdigest(),
        "data": _data_digest(data),
        "validation": None if validation is None else _data_digest(validation),
        **settings,
    }


def _data_digest(data: object) -> str:
    digest = hashlib.sha256(f"{len(data)}".encode())  # type: ignore[arg-type]
    columns: dict[str, Any] = {}
    for part in ("inputs", "targets"):
        columns.update((f"{part}/{k}", v) for k, v in getattr(data, part, {}).items())
    for name in sorted(columns):
        column = columns[name]
        edge = [np.ascontiguousarray(column[:256]), np.ascontiguousarray(column[-256:])]
        digest.update(f"{name}{np.shape(column)}{edge[0].dtype}".encode())
        for array in edge:
            digest.update(array.tobytes())
    return digest.hexdigest()


def resume_from(
    folder: Path,
    session: StatefulBackend,
    training: TrainingGraph,
    callback_count: int,
    expected: Mapping[str, Any],
    limits: Limits,
) -> Checkpoint:
    """The checkpoint in ``folder``, checked against this run; ``CheckpointError`` when it
    cannot be used (the message names the file, or what differs)."""
    outputs = dict(training.graph.outputs)
    shapes = [[tuple(outputs[n].shape) for n in m.statistics] for m in training.metrics]
    checkpoint = read_checkpoint(
        folder, session.training_state_types(), shapes, callback_count, limits
    )
    saved = checkpoint.fingerprint
    differ = [key for key in expected if saved.get(key) != expected[key]]
    if differ:
        what = ", ".join(differ)
        raise CheckpointError(
            f"{folder / STATE_FILE}: this checkpoint was written by a run with another {what}; "
            f"resume with the spec, data and options it was started with, or remove {folder} "
            "to start afresh"
        )
    return checkpoint


def restore_files(folder: Path, into: Path) -> list[str]:
    """Copy the callbacks' files saved in a checkpoint into the run's callback folder;
    return their top-level names."""
    saved = folder / FILES_FOLDER
    if saved.is_symlink() or not saved.is_dir():
        return []
    # A link in a checkpoint could point anywhere: links are left out, never followed.
    shutil.copytree(saved, into, dirs_exist_ok=True, ignore=_links)
    return sorted(entry.name for entry in saved.iterdir())


def _links(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if os.path.islink(os.path.join(folder, name))]


def check_position(checkpoint: Checkpoint, steps: int, epochs: int, folder: Path) -> None:
    """Refuse a position outside the run: a step past the epoch's batches, an epoch past
    the ``epochs`` the resumed run asks for."""
    fit = checkpoint.fit
    if fit.epoch > epochs:
        raise CheckpointError(
            f"{folder / STATE_FILE}: the checkpoint is at the end of epoch {fit.epoch}; "
            f"--epochs {epochs} ends before it (give --epochs {fit.epoch} or more)"
        )
    if fit.step >= steps and fit.step:
        raise CheckpointError(
            f"{folder / STATE_FILE}: position.step {fit.step} is not inside an epoch of "
            f"{steps} batches"
        )
    epochs = len(next(iter(fit.history.values()), []))
    if epochs != fit.epoch:
        raise CheckpointError(
            f"{folder / STATE_FILE}: the History holds {epochs} epochs; position.epoch is "
            f"{fit.epoch}"
        )


def single_threaded(session: object) -> None:
    """The test hook ``SPECC_TEST_ONE_THREAD=1``: onnxruntime's sums in one fixed order,
    so that a resumed run can be compared bit for bit (the standard backend's sessions
    are made later, from these options)."""
    if os.environ.get(ONE_THREAD_HOOK) == "1" and hasattr(session, "session_options"):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session.session_options = options
