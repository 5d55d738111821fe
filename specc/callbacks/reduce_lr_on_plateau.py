"""ReduceLROnPlateau: lower the learning rate when the monitored value stops improving
(Keras 3.15.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from specc.callbacks.base import (
    CALLBACKS,
    Callback,
    Count,
    Logs,
    Monitor,
    MonitorConfig,
    TrainingControl,
    Verbose,
    state_count,
    state_number,
)
from specc.lazy_numpy import np


@CALLBACKS.register
class ReduceLROnPlateau(MonitorConfig):
    """After ``patience`` epochs without improvement, ``lr = max(lr * factor, min_lr)``;
    then ``cooldown`` epochs of rest. Adds ``learning_rate`` to each epoch's logs."""

    type: Literal["ReduceLROnPlateau"] = "ReduceLROnPlateau"
    # Keras refuses factor >= 1; a negative one would make the rate negative.
    factor: Annotated[float, Field(ge=0, lt=1)] = 0.1
    patience: Count = 10
    verbose: Verbose = 0
    min_delta: float = 1e-4
    cooldown: Count = 0
    min_lr: Annotated[float, Field(ge=0)] = 0.0

    def start(self) -> Callback:
        """A fresh runtime."""
        return _ReduceLROnPlateau(self)


class _ReduceLROnPlateau(Callback):
    def __init__(self, config: ReduceLROnPlateau) -> None:
        self.config = config
        self.monitor = Monitor(config.monitor, config.mode, config.min_delta)

    def on_train_begin(self, control: TrainingControl) -> None:
        super().on_train_begin(control)
        self.best: float | None = None
        self.cooldown_counter = 0
        self.wait = 0
        self.monitor.resolve(control.directions)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"best": self.best, "cooldown_counter": self.cooldown_counter, "wait": self.wait}, {}

    def set_state(self, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.best = state_number(values, "best")
        self.cooldown_counter = state_count(values, "cooldown_counter") or 0
        self.wait = state_count(values, "wait") or 0

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        config = self.config
        # The rate this epoch trained with, before any reduction: the History gets it.
        logs["learning_rate"] = self.control.get_learning_rate()
        current = self.monitor.read(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor.improves(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= config.patience and self._reduce():
                self.cooldown_counter = config.cooldown
                self.wait = 0

    def _reduce(self) -> bool:
        old = self.control.get_learning_rate()
        # Keras compares the float32 variable's value with min_lr rounded to float32, then
        # computes the new rate in Python floats; assigning it rounds to float32 again.
        if old > np.float32(self.config.min_lr):
            self.control.set_learning_rate(max(old * self.config.factor, self.config.min_lr))
            return True
        return False
