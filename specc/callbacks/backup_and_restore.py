"""BackupAndRestore: resumable training, as Keras 3.15.1's callback.

The run's checkpoints (``specc.train.checkpoint``: parameters, optimizer state, the random
generators, the epoch and step, the partial averages, the History and every callback's
state) are written into ``backup_dir`` inside the run's output folder, at each epoch's end
(``save_freq: epoch``) or every ``save_freq`` batches; a rerun of the same ``specc train``
command finds them there and goes on from the last one. ``double_checkpoint`` keeps the one
before it too (``backup_dir/previous``), used when the last cannot be read;
``delete_checkpoint`` removes the folder once the run completes. The runtime does nothing
itself: the run's checkpoint machinery reads this config (``specc.train.checkpoint_run``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from specc.callbacks.base import CALLBACKS, Callback, CallbackConfig
from specc.callbacks.paths import parse_pattern


@CALLBACKS.register
class BackupAndRestore(CallbackConfig):
    """Back up the whole training state into ``backup_dir`` (inside the run's folder) so
    that a rerun resumes where an interrupted or killed run stopped."""

    type: Literal["BackupAndRestore"] = "BackupAndRestore"
    backup_dir: Annotated[str, Field(min_length=1)]
    save_freq: Literal["epoch"] | Annotated[int, Field(gt=0)] = "epoch"
    double_checkpoint: bool = False
    delete_checkpoint: bool = True

    @field_validator("backup_dir")
    @classmethod
    def _inside_the_run(cls, value: str) -> str:
        parse_pattern("backup_dir", value, fields=False)
        return value

    def start(self) -> Callback:
        """A runtime with no hooks: the checkpoints are the run's own."""
        return Callback()
