"""TensorBoard: each epoch's losses and metrics as scalars, as Keras 3.15.1 writes them.

Under ``log_dir`` (inside the run's folder), a ``train`` run folder gets the epoch's
training values and the learning rate, a ``validation`` run folder its ``val_`` values
without the prefix; tags are ``epoch_<key>`` (``epoch_loss``, ``epoch_accuracy``,
``epoch_learning_rate``), at step ``epoch`` (0-based). Per-class values are left out (a
scalar summary holds one number). The event files are written by TensorBoard's own
writer, which needs no TensorFlow: the optional extra ``specc[tensorboard]``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from specc.callbacks.base import (
    CALLBACKS,
    Callback,
    CallbackConfig,
    CallbackError,
    Logs,
    TrainingControl,
    scalar,
)
from specc.callbacks.paths import parse_pattern

INSTALL = 'pip install "specc[tensorboard]"'


@CALLBACKS.register
class TensorBoard(CallbackConfig):
    """Write each epoch's scalars to TensorBoard event files in ``log_dir``.

    Only epoch scalars: Keras's ``update_freq`` other than "epoch", histograms, images,
    the graph and profiling are not accepted (reported as unknown keys).
    """

    type: Literal["TensorBoard"] = "TensorBoard"
    log_dir: Annotated[str, Field(min_length=1)] = "logs"
    update_freq: Literal["epoch"] = "epoch"

    @field_validator("log_dir")
    @classmethod
    def _inside_the_run(cls, value: str) -> str:
        parse_pattern("log_dir", value, fields=False)
        return value

    def start(self) -> Callback:
        """A fresh runtime."""
        return _TensorBoard(self)


def _writer_class() -> Any:
    try:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise CallbackError(
            f"the TensorBoard callback needs the tensorboard package: {INSTALL}", ()
        ) from None
    return EventFileWriter


class _TensorBoard(Callback):
    def __init__(self, config: TensorBoard) -> None:
        self.config = config
        self.writers: dict[str, Any] = {}

    def on_train_begin(self, control: TrainingControl) -> None:
        super().on_train_begin(control)
        self.writer_class = _writer_class()

    def _write(self, run: str, epoch: int, values: dict[str, float]) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        writer = self.writers.get(run)
        if writer is None:
            folder = self.control.file(f"{self.config.log_dir}/{run}/.keep").parent
            writer = self.writers[run] = self.writer_class(str(folder))
        summary = summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(tag=f"epoch_{name}", simple_value=value)
                for name, value in values.items()
            ]
        )
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=epoch, summary=summary))
        writer.flush()

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        train: dict[str, float] = {}
        validation: dict[str, float] = {}
        for key, value in logs.items():
            number = scalar(value)
            if number is None:
                continue
            if key.startswith("val_"):
                validation[key[4:]] = number
            else:
                train[key] = number
        # Keras's _collect_learning_rate: the optimizer's rate joins the training values.
        train["learning_rate"] = self.control.get_learning_rate()
        self._write("train", epoch, train)
        if validation:
            self._write("validation", epoch, validation)

    def on_train_end(self, logs: Logs) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event files."""
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
