"""RMSprop: Keras 3's ``keras/src/optimizers/rmsprop.py``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specc.optimizers.base import OPTIMIZERS, NoFusedKernel, NonNegative, Optimizer, UnitInterval
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class RMSprop(Optimizer):
    """RMSprop, optionally centered, with plain (not Nesterov) momentum."""

    type: Literal["RMSprop", "rmsprop"] = "RMSprop"
    rho: UnitInterval = 0.9
    momentum: UnitInterval = 0.0
    epsilon: NonNegative = 1e-7
    centered: bool = False

    def fused_kernel(self) -> NoFusedKernel:
        return NoFusedKernel(
            "Keras's RMSprop divides by sqrt(v + epsilon), the engine's kernel by sqrt(v) + epsilon"
        )


@rule_for(RMSprop)
class RMSpropUpdate(OptimizerUpdate):
    """``v = rho·v + (1-rho)g²``; ``inc = lr·g/√(v + eps)``; ``w -= inc``.

    Epsilon is INSIDE the square root. Centered: ``a = rho·a + (1-rho)g`` and the
    denominator is ``√(v - a² + eps)``. Momentum: ``mom = momentum·mom + inc; w -= mom``.
    """

    config: RMSprop
    slots = ("velocity", "momentum", "average_gradient")

    def _active_slots(self) -> tuple[str, ...]:
        c = self.config
        return tuple(
            s
            for s in self.slots
            if s == "velocity"
            or (s == "momentum" and c.momentum > 0)
            or (s == "average_gradient" and c.centered)
        )

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        c = self.config
        rho, one_minus_rho = F32(c.rho), F32(1 - c.rho)
        slots = self.state[name]
        v = slots["velocity"]
        den, inc = self._tmp(0, p.shape), self._tmp(1, p.shape)
        v *= rho
        np.square(g, out=den)
        den *= one_minus_rho
        v += den
        if c.centered:
            a = slots["average_gradient"]
            a *= rho
            np.multiply(g, one_minus_rho, out=den)
            a += den
            np.square(a, out=den)
            np.subtract(v, den, out=den)
            den += F32(c.epsilon)
        else:
            np.add(v, F32(c.epsilon), out=den)
        np.sqrt(den, out=den)
        np.multiply(g, lr, out=inc)
        inc /= den
        if c.momentum > 0:
            mom = slots["momentum"]
            mom *= F32(c.momentum)
            mom += inc
            p -= mom
        else:
            p -= inc
