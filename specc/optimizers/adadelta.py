"""Adadelta: Keras 3's ``keras/src/optimizers/adadelta.py``."""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.optimizers.base import (
    OPTIMIZERS,
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
class Adadelta(Optimizer):
    """Adadelta (Zeiler), with Keras's settable learning rate."""

    type: Literal["Adadelta", "adadelta"] = "Adadelta"
    rho: UnitInterval = 0.95
    epsilon: NonNegative = 1e-7

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        return filled_slots(shape, "accumulated_grad", "accumulated_delta_var")

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``A = rho·A + (1-rho)g²``; ``d = -√(D+eps)·g/√(A+eps)``; ``D = rho·D + (1-rho)d²``;
        ``w += lr·d``."""
        rho, one_minus_rho, eps = (b.constant(x) for x in (self.rho, 1 - self.rho, self.epsilon))
        acc_g = blend(b, slots["accumulated_grad"], rho, b.square(g), one_minus_rho)
        delta = b.op("Mul", b.op("Sqrt", b.op("Add", slots["accumulated_delta_var"], eps)), g)
        delta = b.op("Neg", b.op("Div", delta, b.op("Sqrt", b.op("Add", acc_g, eps))))
        acc_d = blend(b, slots["accumulated_delta_var"], rho, b.square(delta), one_minus_rho)
        new_p = b.op("Add", p, b.op("Mul", delta, step.learning_rate))
        return new_p, {"accumulated_grad": acc_g, "accumulated_delta_var": acc_d}


@rule_for(Adadelta)
class AdadeltaUpdate(OptimizerUpdate):
    """``A = rho·A + (1-rho)g²``; ``d = -√(D+eps)·g/√(A+eps)``; ``D = rho·D + (1-rho)d²``;
    ``w += lr·d``."""

    config: Adadelta

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
