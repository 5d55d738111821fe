"""Adadelta: Keras 3's ``keras/src/optimizers/adadelta.py``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specc.optimizers.base import (
    OPTIMIZERS,
    NonNegative,
    Optimizer,
    UnitInterval,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Adadelta(Optimizer):
    """Adadelta (Zeiler), with Keras's settable learning rate."""

    type: Literal["Adadelta", "adadelta"] = "Adadelta"
    rho: UnitInterval = 0.95
    epsilon: NonNegative = 1e-7


@rule_for(Adadelta)
class AdadeltaUpdate(OptimizerUpdate):
    """``A = rho·A + (1-rho)g²``; ``d = -√(D+eps)·g/√(A+eps)``; ``D = rho·D + (1-rho)d²``;
    ``w += lr·d``."""

    config: Adadelta
    slots = ("accumulated_grad", "accumulated_delta_var")

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        c = self.config
        rho, one_minus_rho, eps = F32(c.rho), F32(1 - c.rho), F32(c.epsilon)
        slots = self.state[name]
        acc_g, acc_d = slots["accumulated_grad"], slots["accumulated_delta_var"]
        delta, tmp = self._tmp(0, p.shape), self._tmp(1, p.shape)
        acc_g *= rho
        np.square(g, out=tmp)
        tmp *= one_minus_rho
        acc_g += tmp
        np.add(acc_d, eps, out=delta)
        np.sqrt(delta, out=delta)
        delta *= g
        np.add(acc_g, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        delta /= tmp
        np.negative(delta, out=delta)
        acc_d *= rho
        np.square(delta, out=tmp)
        tmp *= one_minus_rho
        acc_d += tmp
        delta *= lr
        p += delta
