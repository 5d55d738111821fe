"""Adamax: Keras 3's ``keras/src/optimizers/adamax.py``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specc.optimizers.base import (
    OPTIMIZERS,
    Beta,
    NonNegative,
    Optimizer,
    UnitInterval,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm."""

    type: Literal["Adamax", "adamax"] = "Adamax"
    beta_1: Beta = 0.9
    beta_2: UnitInterval = 0.999
    epsilon: NonNegative = 1e-7


@rule_for(Adamax)
class AdamaxUpdate(OptimizerUpdate):
    """``m += (g-m)(1-b1)``; ``u = max(b2·u, |g|)``; ``w -= lr·m / ((1-b1^t)(u+eps))``."""

    config: Adamax
    slots = ("momentum", "norm")

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        c = self.config
        b1_power = F32(c.beta_1) ** t
        slots = self.state[name]
        m, u = slots["momentum"], slots["norm"]
        tmp, den = self._tmp(0, p.shape), self._tmp(1, p.shape)
        np.subtract(g, m, out=tmp)
        tmp *= F32(1 - c.beta_1)
        m += tmp
        u *= F32(c.beta_2)
        np.abs(g, out=tmp)
        np.maximum(u, tmp, out=u)
        np.add(u, F32(c.epsilon), out=den)
        den *= F32(1) - b1_power
        np.multiply(m, lr, out=tmp)
        tmp /= den
        p -= tmp
