"""Adagrad: Keras 3's ``keras/src/optimizers/adagrad.py``."""

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
    filled_slots,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Adagrad(Optimizer):
    """Adagrad: per-parameter rates from the running sum of squared gradients."""

    type: Literal["Adagrad", "adagrad"] = "Adagrad"
    # Keras documents it as "must be non-negative".
    initial_accumulator_value: NonNegative = 0.1
    epsilon: NonNegative = 1e-7

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        return filled_slots(shape, "accumulator", value=self.initial_accumulator_value)

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``acc += g²``; ``w -= lr·g/√(acc + eps)``."""
        acc = b.op("Add", slots["accumulator"], b.square(g))
        den = b.op("Sqrt", b.op("Add", acc, b.constant(self.epsilon)))
        inc = b.op("Div", b.op("Mul", g, step.learning_rate), den)
        return b.op("Sub", p, inc), {"accumulator": acc}


@rule_for(Adagrad)
class AdagradUpdate(OptimizerUpdate):
    """``acc += g²``; ``w -= lr·g/√(acc + eps)``; ``acc`` starts at the initial value."""

    config: Adagrad

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
