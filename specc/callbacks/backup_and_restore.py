"""BackupAndRestore: Keras's resumable training, not available in this version.

Resuming exactly needs checkpoints of the optimizer's state, the random number generators,
the epoch and step and the history; until specc writes those, the callback is validated
(so that its arguments are checked) and then refused, rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from specc.callbacks.base import CALLBACKS, Callback, CallbackConfig


@CALLBACKS.register
class BackupAndRestore(CallbackConfig):
    """Keras's ``BackupAndRestore`` arguments; refused at validation."""

    type: Literal["BackupAndRestore"] = "BackupAndRestore"
    backup_dir: Annotated[str, Field(min_length=1)]
    save_freq: Literal["epoch"] | Annotated[int, Field(gt=0)] = "epoch"
    double_checkpoint: bool = False
    delete_checkpoint: bool = True

    @model_validator(mode="after")
    def _not_available(self) -> BackupAndRestore:
        raise PydanticCustomError(
            "value_error",
            "{error}",
            {
                "error": "BackupAndRestore is not available in this version of specc: "
                "resuming exactly needs checkpoints of the optimizer state, the random "
                "generators and the history, which specc train does not write yet; remove "
                "it (ModelCheckpoint saves the model or weights each epoch)"
            },
        )

    def start(self) -> Callback:
        """Never reached: validation refuses the callback."""
        raise NotImplementedError("BackupAndRestore is not available")
