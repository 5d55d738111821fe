"""SGD: Keras 3's ``keras/src/optimizers/sgd.py``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specc.optimizers.base import OPTIMIZERS, LearningRate, Optimizer, UnitInterval
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum."""

    type: Literal["SGD", "sgd"] = "SGD"
    learning_rate: LearningRate = 0.01
    # Keras raises unless 0 <= momentum <= 1.
    momentum: UnitInterval = 0.0
    nesterov: bool = False


@rule_for(SGD)
class SGDUpdate(OptimizerUpdate):
    """``m = momentum*m - lr*g``; ``w += m`` (Nesterov: ``w += momentum*m - lr*g``)."""

    config: SGD
    slots = ("momentum",)

    def _active_slots(self) -> tuple[str, ...]:
        # Keras creates no momentum variable when momentum == 0.
        return self.slots if self.config.momentum != 0 else ()

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        step = self._tmp(0, p.shape)
        np.multiply(g, lr, out=step)
        if self.config.momentum == 0:
            p -= step
            return
        mu = F32(self.config.momentum)
        m = self.state[name]["momentum"]
        m *= mu
        m -= step
        if self.config.nesterov:
            ahead = self._tmp(1, p.shape)
            np.multiply(m, mu, out=ahead)
            ahead -= step
            p += ahead
        else:
            p += m
