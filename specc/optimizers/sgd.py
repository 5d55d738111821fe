"""SGD: Keras 3's ``keras/src/optimizers/sgd.py``."""

from __future__ import annotations

from typing import Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.optimizers.base import (
    OPTIMIZERS,
    FusedKernel,
    LearningRate,
    NoFusedKernel,
    Optimizer,
    Slot,
    StepValues,
    UnitInterval,
    filled_slots,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for
from specc.schedules import LearningRateSchedule


@OPTIMIZERS.register
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum."""

    type: Literal["SGD", "sgd"] = "SGD"
    learning_rate: LearningRate = 0.01
    # Keras raises unless 0 <= momentum <= 1.
    momentum: UnitInterval = 0.0
    nesterov: bool = False

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        # Keras creates no momentum variable when momentum == 0.
        return filled_slots(shape, "momentum") if self.momentum != 0 else []

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``m = momentum*m - lr*g``; ``w += m`` (Nesterov: ``w += momentum*m - lr*g``)."""
        lr_g = b.op("Mul", g, step.learning_rate)
        if self.momentum == 0:
            return b.op("Sub", p, lr_g), {}
        mu = b.constant(self.momentum)
        m = b.op("Sub", b.op("Mul", slots["momentum"], mu), lr_g)
        ahead = b.op("Sub", b.op("Mul", m, mu), lr_g) if self.nesterov else m
        return b.op("Add", p, ahead), {"momentum": m}

    def fused_kernel(self) -> FusedKernel | NoFusedKernel:
        """Without momentum, the SGD kernel, ``w -= lr * g``; Keras's weight decay, ``w -=
        w * wd * lr`` before the update, becomes ``g + wd * w`` in front of it.

        With momentum (not Nesterov) at a constant learning rate and without weight decay,
        the AdamW kernel with betas ``(momentum, 1)``, epsilon 1 and no bias correction
        keeps ``m = mu*m + (1-mu)*g`` and ``v = 0``, so ``w -= lr/(1-mu) * m`` equals
        Keras's velocity update; the factor ``1/(1-mu)`` goes on the learning rate.
        """
        clip = self.gradient_clip()
        if self.momentum == 0:
            return FusedKernel("sgd", clip=clip, weight_decay=self.weight_decay or None)
        if self.nesterov:
            return NoFusedKernel("Nesterov momentum is not expressible with the kernel")
        if self.momentum >= 1:
            return NoFusedKernel(f"momentum={self.momentum} leaves the kernel's moment at zero")
        if isinstance(self.learning_rate, LearningRateSchedule):
            return NoFusedKernel(
                "with momentum, Keras folds each step's learning rate into the velocity, "
                "so a schedule gives a different update (use a constant learning_rate)"
            )
        if self.weight_decay:
            return NoFusedKernel("with momentum, Keras's weight decay stays outside the velocity")
        mu = float(self.momentum)
        note = (
            f"momentum {mu} as AdamWOptimizer(betas=({mu}, 1), eps=1, no bias correction); "
            "the graph multiplies the learning rate you set by 1/(1 - momentum)"
        )
        return FusedKernel(
            "adamw",
            betas=(mu, 1.0),
            epsilon=1.0,
            bias_correction=False,
            clip=clip,
            lr_factor=1.0 / (1.0 - mu),
            note=note,
        )


@rule_for(SGD)
class SGDUpdate(OptimizerUpdate):
    """``m = momentum*m - lr*g``; ``w += m`` (Nesterov: ``w += momentum*m - lr*g``)."""

    config: SGD

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
