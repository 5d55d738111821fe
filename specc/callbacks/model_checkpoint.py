"""ModelCheckpoint: save the model or its weights each epoch or every N batches (Keras
3.15.1), under a file name pattern inside the run's folder (``specc.callbacks.paths``).

``filepath`` ends in ``.onnx`` (the inference model with the weights of that moment) or,
with ``save_weights_only``, in ``.npz`` (specc's weights format, as ``weights.npz``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from specc.callbacks.base import (
    CALLBACKS,
    Callback,
    CallbackError,
    Logs,
    Monitor,
    MonitorConfig,
    TrainingControl,
    Verbose,
    scalar,
    state_count,
    state_number,
)
from specc.callbacks.paths import check_relative, field_names, format_pattern, parse_pattern
from specc.lazy_numpy import np


@CALLBACKS.register
class ModelCheckpoint(MonitorConfig):
    """Save to ``filepath`` (``{epoch:02d}``, ``{batch}`` and log keys such as
    ``{val_loss:.2f}`` filled in), every epoch or every ``save_freq`` batches; with
    ``save_best_only``, only when ``monitor`` improves."""

    type: Literal["ModelCheckpoint"] = "ModelCheckpoint"
    filepath: str
    verbose: Verbose = 0
    save_best_only: bool = False
    save_weights_only: bool = False
    save_freq: Literal["epoch"] | Annotated[int, Field(gt=0)] = "epoch"
    initial_value_threshold: float | None = None

    @field_validator("filepath")
    @classmethod
    def _inside_the_run(cls, value: str) -> str:
        parse_pattern("filepath", value, fields=True)
        return value

    @model_validator(mode="after")
    def _extension_fits(self) -> ModelCheckpoint:
        # Keras checks the extension against save_weights_only in its constructor.
        wanted = ".npz" if self.save_weights_only else ".onnx"
        if not self.filepath.endswith(wanted):
            what = "weights (save_weights_only)" if self.save_weights_only else "a model"
            message = f"filepath must end in {wanted} to save {what}; got {self.filepath!r}"
            raise PydanticCustomError("value_error", "{error}", {"error": message})
        return self

    def monitored(self) -> str | None:
        """The log key watched: only with ``save_best_only`` does a checkpoint read it."""
        return self.monitor if self.save_best_only else None

    def log_fields(self) -> list[str]:
        """The pattern's fields other than ``epoch`` and ``batch``."""
        names = field_names(parse_pattern("filepath", self.filepath, fields=True))
        return [n for n in names if n not in ("epoch", "batch")]

    def start(self) -> Callback:
        """A fresh runtime."""
        return _ModelCheckpoint(self)


class _ModelCheckpoint(Callback):
    def __init__(self, config: ModelCheckpoint) -> None:
        self.config = config
        self.pieces = parse_pattern("filepath", config.filepath, fields=True)
        # Keras passes initial_value_threshold as the baseline: the first best to beat.
        self.monitor = Monitor(config.monitor, config.mode)
        self.best = config.initial_value_threshold
        self.batch_hooks = config.save_freq != "epoch"
        self.batches_since_saving = 0
        self.last_batch: int | None = None
        self.epoch = 0

    def on_train_begin(self, control: TrainingControl) -> None:
        super().on_train_begin(control)
        self.monitor.resolve(control.directions)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        values = {
            "best": self.best,
            "batches_since_saving": self.batches_since_saving,
            "last_batch": self.last_batch,
            "epoch": self.epoch,
        }
        return values, {}

    def set_state(self, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.best = state_number(values, "best")
        self.batches_since_saving = state_count(values, "batches_since_saving") or 0
        self.last_batch = state_count(values, "last_batch", nullable=True)
        self.epoch = state_count(values, "epoch") or 0

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs) -> None:
        if self.config.save_freq == "epoch":
            return
        # Keras counts batches across epochs: a batch index not past the last one seen
        # starts a new epoch.
        if self.last_batch is None or batch <= self.last_batch:
            self.batches_since_saving += batch + 1
        else:
            self.batches_since_saving += batch - self.last_batch
        self.last_batch = batch
        if self.batches_since_saving >= self.config.save_freq:
            self.batches_since_saving = 0
            self._save(self.epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        if self.config.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: int | None, logs: Logs) -> None:
        name = self._file_name(epoch, batch, logs)
        if not self._should_save(logs):
            return
        path = self.control.file(name)
        if path.is_dir():
            raise CallbackError(
                f"filepath {self.config.filepath!r} names the folder {name!r}; it must name a file",
                ("filepath",),
            )
        if self.config.save_weights_only:
            self.control.save_weights(path)
        else:
            self.control.save_model(path)

    def _should_save(self, logs: Logs) -> bool:
        if not self.config.save_best_only:
            return True
        current = logs.get(self.config.monitor)
        # Keras saves when the monitored value is missing (at a batch, val_ values are)
        # or is not a scalar.
        if current is None or scalar(current) is None:
            return True
        if self.monitor.improves(current, self.best):
            self.best = current
            return True
        return False

    def _file_name(self, epoch: int, batch: int | None, logs: Logs) -> str:
        values: dict[str, Any] = {**logs, "epoch": epoch + 1}
        if batch is not None and "batch" not in logs:
            values["batch"] = batch + 1
        try:
            name = format_pattern(self.pieces, values)
        except KeyError as error:
            available = ", ".join(sorted(values))
            raise CallbackError(
                f"filepath {self.config.filepath!r} names {error}, which these logs do not "
                f"hold; they hold {available}",
                ("filepath",),
            ) from None
        except (ValueError, TypeError) as error:
            raise CallbackError(
                f"filepath {self.config.filepath!r} cannot be filled in: {error}",
                ("filepath",),
            ) from None
        problem = check_relative(name)
        if problem is not None:
            raise CallbackError(f"filepath {self.config.filepath!r}: {problem}", ("filepath",))
        return name
