"""Adamax: Keras 3's ``keras/src/optimizers/adamax.py``."""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.optimizers.base import (
    OPTIMIZERS,
    Beta,
    NonNegative,
    Optimizer,
    Slot,
    StepValues,
    UnitInterval,
    filled_slots,
    toward,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm."""

    type: Literal["Adamax", "adamax"] = "Adamax"
    beta_1: Beta = 0.9
    beta_2: UnitInterval = 0.999
    epsilon: NonNegative = 1e-7

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        return filled_slots(shape, "momentum", "norm")

    def _lower_prepare(self, b: GraphBuilder, step: StepValues) -> dict[str, Value]:
        b1_power = b.op("Pow", b.constant(self.beta_1), step.local_step)
        return {"bias_correction": b.op("Sub", b.constant(1.0), b1_power)}

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``m += (g-m)(1-b1)``; ``u = max(b2·u, |g|)``; ``w -= lr·m / ((1-b1^t)(u+eps))``."""
        m = toward(b, slots["momentum"], g, b.constant(1 - self.beta_1))
        u = b.op("Max", b.op("Mul", slots["norm"], b.constant(self.beta_2)), b.op("Abs", g))
        den = b.op("Add", u, b.constant(self.epsilon))
        den = b.op("Mul", den, step.scalars["bias_correction"])
        new_p = b.op("Sub", p, b.op("Div", b.op("Mul", m, step.learning_rate), den))
        return new_p, {"momentum": m, "norm": u}


@rule_for(Adamax)
class AdamaxUpdate(OptimizerUpdate):
    """``m += (g-m)(1-b1)``; ``u = max(b2·u, |g|)``; ``w -= lr·m / ((1-b1^t)(u+eps))``."""

    config: Adamax

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
