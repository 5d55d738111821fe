"""RMSprop: Keras 3's ``keras/src/optimizers/rmsprop.py``."""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.optimizers.base import (
    OPTIMIZERS,
    NoFusedKernel,
    NonNegative,
    Optimizer,
    Slot,
    StepValues,
    UnitInterval,
    blend,
    filled_slots,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class RMSprop(Optimizer):
    """RMSprop, optionally centered, with plain (not Nesterov) momentum."""

    type: Literal["RMSprop", "rmsprop"] = "RMSprop"
    rho: UnitInterval = 0.9
    momentum: UnitInterval = 0.0
    epsilon: NonNegative = 1e-7
    centered: bool = False

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        momentum = ("momentum",) if self.momentum > 0 else ()
        centered = ("average_gradient",) if self.centered else ()
        return filled_slots(shape, "velocity", *momentum, *centered)

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``v = rho·v + (1-rho)g²``; ``inc = lr·g/√(v + eps)`` (centered: ``√(v - a² +
        eps)``); ``w -= inc``, or with momentum ``mom = momentum·mom + inc; w -= mom``."""
        rho, one_minus_rho = b.constant(self.rho), b.constant(1 - self.rho)
        v = blend(b, slots["velocity"], rho, b.square(g), one_minus_rho)
        new = {"velocity": v}
        if self.centered:
            a = new["average_gradient"] = blend(b, slots["average_gradient"], rho, g, one_minus_rho)
            v = b.op("Sub", v, b.square(a))
        den = b.op("Sqrt", b.op("Add", v, b.constant(self.epsilon)))
        inc = b.op("Div", b.op("Mul", g, step.learning_rate), den)
        if self.momentum > 0:
            inc = new["momentum"] = b.op(
                "Add", b.op("Mul", slots["momentum"], b.constant(self.momentum)), inc
            )
        return b.op("Sub", p, inc), new

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
