"""CSVLogger: one row per epoch in a CSV file inside the run's folder (Keras 3.15.1).

Columns: ``epoch`` (0-based), then the first epoch's log keys sorted; when those hold no
``val_`` key, a ``val_`` twin of each follows (filled with ``NA``). A per-class value is
written as ``"[a, b]"``. Rows end in ``\\r\\n``, Python's csv ``excel`` dialect with the
given ``separator``; ``append`` continues the file an earlier run left in the folder
(without a second header unless that file was empty).
"""

from __future__ import annotations

import collections.abc
import csv
import shutil
from typing import IO, Annotated, Any, Literal

from pydantic import Field, field_validator

from specc.callbacks.base import CALLBACKS, Callback, CallbackConfig, Logs, TrainingControl
from specc.callbacks.paths import parse_pattern
from specc.lazy_numpy import np


@CALLBACKS.register
class CSVLogger(CallbackConfig):
    """Stream each epoch's logs to ``filename``."""

    type: Literal["CSVLogger"] = "CSVLogger"
    filename: str
    # Python's csv module takes a one-character delimiter.
    separator: Annotated[str, Field(min_length=1, max_length=1)] = ","
    append: bool = False

    @field_validator("filename")
    @classmethod
    def _inside_the_run(cls, value: str) -> str:
        parse_pattern("filename", value, fields=False)
        return value

    def start(self) -> Callback:
        """A fresh runtime."""
        return _CSVLogger(self)


def _cell(value: Any) -> Any:
    # Keras's handle_value: strings as they are, iterables as a quoted list.
    zero_dim = isinstance(value, np.ndarray) and value.ndim == 0
    if isinstance(value, str):
        return value
    if isinstance(value, collections.abc.Iterable) and not zero_dim:
        return f'"[{", ".join(map(str, value))}]"'
    return value


class _CSVLogger(Callback):
    def __init__(self, config: CSVLogger) -> None:
        self.config = config
        self.keys: list[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self.handle: IO[str] | None = None
        self.header = True

    def on_train_begin(self, control: TrainingControl) -> None:
        super().on_train_begin(control)
        path = control.file(self.config.filename)
        mode = "w"
        if self.config.append:
            earlier = control.previous(self.config.filename)
            if earlier is not None:
                shutil.copyfile(earlier, path)
                with open(path, encoding="utf-8") as handle:
                    self.header = not bool(len(handle.readline()))
            mode = "a"
        self.handle = open(path, mode, encoding="utf-8", newline="")  # noqa: SIM115

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"keys": self.keys, "header": self.header and self.writer is None}, {}

    def resume(
        self,
        control: TrainingControl,
        values: collections.abc.Mapping[str, Any],
        arrays: collections.abc.Mapping[str, np.ndarray],
    ) -> None:
        # The file is back as the checkpoint saved it: the rows go on after its own.
        Callback.on_train_begin(self, control)
        keys, header = values.get("keys"), values.get("header")
        if keys is not None and not (
            isinstance(keys, list) and all(isinstance(k, str) for k in keys)
        ):
            raise ValueError(f"keys must be a list of strings or null; got {keys!r}"[:200])
        if not isinstance(header, bool):
            raise ValueError(f"header must be true or false; got {header!r}"[:200])
        self.keys, self.header = keys, header
        path = control.file(self.config.filename)
        self.handle = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend(f"val_{k}" for k in list(self.keys))
        if self.writer is None:
            assert self.handle is not None  # opened by on_train_begin
            self.writer = csv.DictWriter(
                self.handle,
                fieldnames=["epoch", *self.keys],
                delimiter=self.config.separator,
                dialect="excel",
            )
            if self.header:
                self.writer.writeheader()
        row = {"epoch": epoch, **{k: _cell(logs.get(k, "NA")) for k in self.keys}}
        self.writer.writerow(row)
        assert self.handle is not None
        self.handle.flush()

    def on_train_end(self, logs: Logs) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (training ended, or stopped)."""
        if self.handle is not None and not self.handle.closed:
            self.handle.close()
