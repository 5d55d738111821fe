"""Adagrad: Keras 3's ``keras/src/optimizers/adagrad.py``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specc.optimizers.base import OPTIMIZERS, NonNegative, Optimizer
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Adagrad(Optimizer):
    """Adagrad: per-parameter rates from the running sum of squared gradients."""

    type: Literal["Adagrad", "adagrad"] = "Adagrad"
    # Keras documents it as "must be non-negative".
    initial_accumulator_value: NonNegative = 0.1
    epsilon: NonNegative = 1e-7


@rule_for(Adagrad)
class AdagradUpdate(OptimizerUpdate):
    """``acc += g²``; ``w -= lr·g/√(acc + eps)``; ``acc`` starts at the initial value."""

    config: Adagrad
    slots = ("accumulator",)

    def _slot_initial(self, slot: str) -> float:
        return self.config.initial_accumulator_value

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        acc = self.state[name]["accumulator"]
        den, inc = self._tmp(0, p.shape), self._tmp(1, p.shape)
        np.square(g, out=den)
        acc += den
        np.add(acc, F32(self.config.epsilon), out=den)
        np.sqrt(den, out=den)
        np.multiply(g, lr, out=inc)
        inc /= den
        p -= inc
