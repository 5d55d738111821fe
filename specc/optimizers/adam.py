"""Adam and AdamW: Keras 3's ``keras/src/optimizers/adam.py`` and ``adamw.py``.

AdamW is Adam's rule: its decoupled weight decay is the shared step's
(``specc.optimizers.update``), which Keras applies for every optimizer.
"""

from __future__ import annotations

from typing import Any, Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.optimizers.base import (
    OPTIMIZERS,
    Beta,
    FusedKernel,
    NoFusedKernel,
    NonNegative,
    Optimizer,
    Slot,
    StepValues,
    filled_slots,
    toward,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


class AdamLowering:
    """Adam's in-graph update, shared by ``Adam`` and ``AdamW`` (their fields alike)."""

    beta_1: Any
    beta_2: Any
    epsilon: Any
    amsgrad: Any

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        maximum = ("velocity_hat",) if self.amsgrad else ()
        return filled_slots(shape, "momentum", "velocity", *maximum)

    def _lower_prepare(self, b: GraphBuilder, step: StepValues) -> dict[str, Value]:
        # alpha = lr * sqrt(1 - b2^t) / (1 - b1^t), once for every parameter.
        one = b.constant(1.0)
        b1_power = b.op("Pow", b.constant(self.beta_1), step.local_step)
        b2_power = b.op("Pow", b.constant(self.beta_2), step.local_step)
        scaled = b.op("Mul", step.learning_rate, b.op("Sqrt", b.op("Sub", one, b2_power)))
        return {"alpha": b.op("Div", scaled, b.op("Sub", one, b1_power))}

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``m += (g-m)(1-b1)``; ``v += (g²-v)(1-b2)``; ``w -= m·alpha/(√v+eps)``."""
        m = toward(b, slots["momentum"], g, b.constant(1 - self.beta_1))
        v = toward(b, slots["velocity"], b.square(g), b.constant(1 - self.beta_2))
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new["velocity_hat"] = b.op("Max", slots["velocity_hat"], v)
        den = b.op("Add", b.op("Sqrt", v), b.constant(self.epsilon))
        return b.op("Sub", p, b.op("Div", b.op("Mul", m, step.scalars["alpha"]), den)), new


@OPTIMIZERS.register
class Adam(AdamLowering, Optimizer):
    """Adam (Kingma and Ba), with Keras's "epsilon hat" and optional AMSGrad."""

    type: Literal["Adam", "adam"] = "Adam"
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7
    amsgrad: bool = False

    def fused_kernel(self) -> FusedKernel | NoFusedKernel:
        return adam_kernel(self)


@OPTIMIZERS.register
class AdamW(AdamLowering, Optimizer):
    """Adam with decoupled weight decay; Keras requires a weight decay here."""

    type: Literal["AdamW", "adamw"] = "AdamW"
    # Keras raises when AdamW gets weight_decay=None, so null is not accepted.
    weight_decay: NonNegative = 0.004
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7
    amsgrad: bool = False

    def fused_kernel(self) -> FusedKernel | NoFusedKernel:
        return adam_kernel(self)


def adam_kernel(config: Adam | AdamW) -> FusedKernel | NoFusedKernel:
    """The AdamW kernel with bias correction, Keras's betas and epsilon and no decay.

    In its Hugging Face mode the kernel computes ``lr * sqrt(1 - b2^t) / (1 - b1^t) * m /
    (sqrt(v) + epsilon)``: Keras 3's Adam with its "epsilon hat", epsilon passed as it is.
    AdamW is that only with ``weight_decay: 0``.
    """
    if config.amsgrad:
        return NoFusedKernel("AMSGrad keeps a running maximum of v, which the kernel does not")
    if config.weight_decay:
        return NoFusedKernel(
            f"weight_decay={config.weight_decay}: Keras decays the weights before the "
            "Adam step, the kernel after it (set weight_decay: 0)"
        )
    return FusedKernel(
        "adamw",
        betas=(float(config.beta_1), float(config.beta_2)),
        epsilon=float(config.epsilon),
        bias_correction=True,
        clip=config.gradient_clip(),
    )


@rule_for(Adam, AdamW)
class AdamUpdate(OptimizerUpdate):
    """``m += (g-m)(1-b1)``; ``v += (g²-v)(1-b2)``; ``w -= m·alpha/(√v+eps)``.

    ``alpha = lr·√(1-b2^t)/(1-b1^t)``; with AMSGrad ``v`` is replaced by its running max.
    Also AdamW: the decoupled weight decay is the base class's.
    """

    config: Adam | AdamW

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        c = self.config
        b1_power = F32(c.beta_1) ** t
        b2_power = F32(c.beta_2) ** t
        alpha = lr * np.sqrt(F32(1) - b2_power) / (F32(1) - b1_power)
        slots = self.state[name]
        m, v = slots["momentum"], slots["velocity"]
        tmp, den = self._tmp(0, p.shape), self._tmp(1, p.shape)
        np.subtract(g, m, out=tmp)
        tmp *= F32(1 - c.beta_1)
        m += tmp
        np.square(g, out=tmp)
        tmp -= v
        tmp *= F32(1 - c.beta_2)
        v += tmp
        if c.amsgrad:
            v_hat = slots["velocity_hat"]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        np.multiply(m, alpha, out=tmp)
        np.sqrt(v, out=den)
        den += F32(c.epsilon)
        tmp /= den
        p -= tmp
