"""EarlyStopping: stop training when the monitored value stops improving (Keras 3.15.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from specc.callbacks.base import (
    CALLBACKS,
    Callback,
    Count,
    Logs,
    Monitor,
    MonitorConfig,
    TrainingControl,
    Verbose,
    checked_weights,
    state_count,
    state_number,
)
from specc.lazy_numpy import np


@CALLBACKS.register
class EarlyStopping(MonitorConfig):
    """Stop once ``patience`` epochs in a row bring no improvement of ``monitor`` by more
    than ``min_delta``; with ``restore_best_weights``, end with the best epoch's weights."""

    type: Literal["EarlyStopping"] = "EarlyStopping"
    min_delta: float = 0.0
    patience: Count = 0
    verbose: Verbose = 0
    baseline: float | None = None
    restore_best_weights: bool = False
    start_from_epoch: Count = 0

    def start(self) -> Callback:
        """A fresh runtime."""
        return _EarlyStopping(self)


class _EarlyStopping(Callback):
    def __init__(self, config: EarlyStopping) -> None:
        self.config = config
        self.monitor = Monitor(config.monitor, config.mode, config.min_delta)

    def on_train_begin(self, control: TrainingControl) -> None:
        super().on_train_begin(control)
        # Keras resets ``best`` to None here, so ``baseline`` never seeds it: it only
        # decides whether an improvement restarts the wait.
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.best_epoch = 0
        self.monitor.resolve(control.directions)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        values = {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights is not None,
        }
        return values, dict(self.best_weights or {})

    def set_state(self, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.wait = state_count(values, "wait") or 0
        self.stopped_epoch = state_count(values, "stopped_epoch") or 0
        self.best = state_number(values, "best")
        self.best_epoch = state_count(values, "best_epoch") or 0
        self.best_weights = None
        if values.get("best_weights") is True:
            self.best_weights = checked_weights(self.control.get_weights(), arrays)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        config = self.config
        current = self.monitor.read(logs)
        if current is None or epoch < config.start_from_epoch:
            return
        if config.restore_best_weights and self.best_weights is None:
            # Never set yet: the current weights are the best so far.
            self.best_weights = self.control.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self.monitor.improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if config.restore_best_weights:
                self.best_weights = self.control.get_weights()
            # The wait restarts only when both the baseline and the best are beaten.
            if config.baseline is None or self.monitor.improves(current, config.baseline):
                self.wait = 0
            return
        if self.wait >= config.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.control.stop_training = True

    def on_train_end(self, logs: Logs) -> None:
        if self.config.restore_best_weights and self.best_weights is not None:
            self.control.set_weights(self.best_weights)
