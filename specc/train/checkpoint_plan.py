"""Which checkpoints a ``specc train`` run writes, and which one it goes on from.

- ``--out/checkpoint``: after every epoch, every ``--checkpoint-every`` steps, on Ctrl-C;
- each BackupAndRestore callback's ``--out/<backup_dir>/checkpoint`` at its ``save_freq``
  (and ``previous`` beside it with ``double_checkpoint``);
- the run goes on from ``--resume DIR``'s ``DIR/checkpoint``, else from a BackupAndRestore
  checkpoint found in ``--out`` (a rerun of the same command picks it up), else starts
  afresh (and removes a stale ``--out/checkpoint`` of an earlier run).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc.atomic import write_text
from specc.callbacks import CallbackConfig, CallbackError, CallbackList
from specc.callbacks.backup_and_restore import BackupAndRestore
from specc.limits import Limits
from specc.train.checkpoint import (
    STATE_FILE,
    CheckpointError,
    has_checkpoint,
)
from specc.train.checkpoint_run import (
    PREVIOUS,
    RunCheckpoints,
    StatefulBackend,
    Target,
    check_position,
    restore_files,
    resume_from,
)
from specc.train.fit import FitState
from specc.train.graph import TrainingGraph
from specc.train.outputs import BACKUP_MARKER, CHECKPOINT_FOLDER, TRAINED_FILES


@dataclass
class CheckpointPlan:
    """The run's checkpoint targets, and where it resumes from (None: afresh)."""

    targets: list[Target] = field(default_factory=list)
    # The checkpoint folder to go on from, and the one to fall back to when it is unusable.
    source: Path | None = None
    fallback: Path | None = None
    # Top-level names of --out holding backups, and whether each is removed once the run
    # completes (delete_checkpoint).
    backups: dict[str, bool] = field(default_factory=dict)
    # --checkpoint-every.
    every: int = 0


def plan_checkpoints(
    out: Path | None, resume: Path | None, every: int | None, configs: list[CallbackConfig]
) -> CheckpointPlan:
    """The plan for a run writing to ``out`` (None: no checkpoints at all);
    ``CallbackError`` (with its index) for a ``backup_dir`` that takes one of the run's
    own names."""
    plan = CheckpointPlan(every=every or 0)
    if resume is not None:
        plan.source = resume / CHECKPOINT_FOLDER
        if not has_checkpoint(plan.source):
            raise CheckpointError(
                f"{plan.source / STATE_FILE}: --resume {resume} holds no checkpoint "
                "(a run writes one into its --out folder after its first epoch)"
            )
    if out is None:
        return plan
    plan.targets.append(Target(out, at_epoch=True, every=every or 0))
    for index, config in enumerate(configs):
        if not isinstance(config, BackupAndRestore):
            continue
        top = config.backup_dir.split("/")[0]
        if top in (*TRAINED_FILES, CHECKPOINT_FOLDER):
            error = CallbackError(
                f"backup_dir '{config.backup_dir}' is one of the names specc train writes "
                "itself; choose another folder",
                ("backup_dir",),
            )
            error.index = index
            raise error
        folder = out.joinpath(*config.backup_dir.split("/"))
        every_steps = config.save_freq if isinstance(config.save_freq, int) else 0
        target = Target(folder, config.save_freq == "epoch", every_steps, config.double_checkpoint)
        plan.targets.append(target)
        plan.backups[top] = config.delete_checkpoint
        if plan.source is None and has_checkpoint(folder / CHECKPOINT_FOLDER):
            plan.source = folder / CHECKPOINT_FOLDER
            if config.double_checkpoint and has_checkpoint(folder / PREVIOUS):
                plan.fallback = folder / PREVIOUS
    return plan


def prepare_folders(out: Path, plan: CheckpointPlan) -> None:
    """Make the backup folders (marked as the run's own, so that a rerun may replace
    them) and remove an earlier run's ``--out/checkpoint`` that this run does not go on
    from."""
    own = out / CHECKPOINT_FOLDER
    elsewhere = plan.source is None or plan.source.absolute() != own.absolute()
    if elsewhere and own.is_dir() and not own.is_symlink():
        shutil.rmtree(own)
    for top in plan.backups:
        (out / top).mkdir(parents=True, exist_ok=True)
        if not (out / top / BACKUP_MARKER).is_file():
            write_text(out / top / BACKUP_MARKER, "BackupAndRestore's checkpoints\n")


def kept_folders(out: Path, plan: CheckpointPlan, completed: bool) -> dict[str, Path]:
    """The checkpoint folders the trained folder keeps: ``checkpoint``, and the backups
    unless the run completed and BackupAndRestore's ``delete_checkpoint`` is on."""
    kept = {}
    if (out / CHECKPOINT_FOLDER).is_dir():
        kept[CHECKPOINT_FOLDER] = out / CHECKPOINT_FOLDER
    for top, delete in plan.backups.items():
        if (out / top).is_dir() and not (delete and completed):
            kept[top] = out / top
    return kept


def open_checkpoints(
    plan: CheckpointPlan,
    session: StatefulBackend,
    training: TrainingGraph,
    callbacks: CallbackList | None,
    files: Path | None,
    expected: dict[str, Any],
    steps: int,
    epochs: int,
    limits: Limits,
) -> tuple[RunCheckpoints | None, FitState | None, list[str]]:
    """Set the run up for ``plan``: its checkpoint writer (None without targets), the
    state it goes on from (None: afresh, the backend's state already put back), and the
    top-level names of the callbacks' files put back into ``files``. ``CheckpointError``
    for a checkpoint that cannot be used."""
    stateful = session
    out = plan.targets[0].folder if plan.targets else None
    if out is not None:
        prepare_folders(out, plan)
    resumed: FitState | None = None
    restored: list[str] = []
    if plan.source is not None:
        count = len(callbacks.callbacks) if callbacks is not None else 0
        try:
            checkpoint = resume_from(plan.source, stateful, training, count, expected, limits)
        except CheckpointError:
            if plan.fallback is None:
                raise
            checkpoint = resume_from(plan.fallback, stateful, training, count, expected, limits)
            plan.source = plan.fallback
        check_position(checkpoint, steps, epochs, plan.source)
        stateful.load_training_state(checkpoint.session)
        resumed = checkpoint.fit
        if files is not None:
            restored = restore_files(plan.source, files)
    writer = None
    if plan.targets:
        writer = RunCheckpoints(stateful, callbacks, files, expected, plan.targets)
    return writer, resumed, restored
