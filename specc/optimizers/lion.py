"""Lion: Keras 3's ``keras/src/optimizers/lion.py`` (Chen et al., 2023)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.optimizers.base import (
    OPTIMIZERS,
    NoFusedKernel,
    Optimizer,
    Slot,
    StepValues,
    UnitInterval,
    blend,
    filled_slots,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for

# Keras raises unless 0 < beta_1 <= 1: at 0 Lion degenerates to SignSGD.
InterpolationBeta = Annotated[float, Field(gt=0, le=1)]


@OPTIMIZERS.register
class Lion(Optimizer):
    """Lion: steps by the sign of an interpolation of momentum and gradient."""

    type: Literal["Lion", "lion"] = "Lion"
    beta_1: InterpolationBeta = 0.9
    beta_2: UnitInterval = 0.99

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        return filled_slots(shape, "momentum")

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``w -= lr·sign(b1·m + (1-b1)g)``; then ``m = b2·m + (1-b2)g`` (``1 - beta`` in
        float32, as Keras casts the betas first)."""
        beta_1, beta_2 = F32(self.beta_1), F32(self.beta_2)
        m = slots["momentum"]
        direction = blend(b, m, b.constant(beta_1), g, b.constant(F32(1) - beta_1))
        update = b.op("Mul", b.op("Sign", direction), step.learning_rate)
        new_m = blend(b, m, b.constant(beta_2), g, b.constant(F32(1) - beta_2))
        return b.op("Sub", p, update), {"momentum": new_m}

    def fused_kernel(self) -> NoFusedKernel:
        return NoFusedKernel(
            "Lion steps by lr * sign(beta_1 * m + (1 - beta_1) * g) and keeps a momentum "
            "of its own, beta_2 * m + (1 - beta_2) * g; neither fused kernel computes a "
            "sign of its state"
        )


@rule_for(Lion)
class LionUpdate(OptimizerUpdate):
    """``w -= lr·sign(b1·m + (1-b1)g)``; then ``m = b2·m + (1-b2)g``.

    Keras casts ``beta_1`` and ``beta_2`` to the variable dtype first, so ``1 - beta`` is
    rounded in float32, as in Nadam.
    """

    config: Lion

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        beta_1, beta_2 = F32(self.config.beta_1), F32(self.config.beta_2)
        m = self.state[name]["momentum"]
        step, tmp = self._tmp(0, p.shape), self._tmp(1, p.shape)
        np.multiply(m, beta_1, out=step)
        np.multiply(g, F32(1) - beta_1, out=tmp)
        step += tmp
        np.sign(step, out=step)
        step *= lr
        p -= step
        m *= beta_2
        np.multiply(g, F32(1) - beta_2, out=tmp)
        m += tmp
