"""Nadam: Keras 3's ``keras/src/optimizers/nadam.py``."""

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
    filled_slots,
    toward,
)
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (Dozat's momentum schedule)."""

    type: Literal["Nadam", "nadam"] = "Nadam"
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        return filled_slots(shape, "momentum", "velocity")

    def shared_slots(self) -> list[Slot]:
        # Keras's _u_product: one float32 for all variables, starting at 1.
        return filled_slots((), "u_product", value=1.0)

    def _lower_prepare(self, b: GraphBuilder, step: StepValues) -> dict[str, Value]:
        """The momentum schedule ``u_t = b1(1 - 0.5·0.96^t)`` at ``t`` and ``t + 1``, and
        ``u_product`` times ``u_t`` (the new ``u_product``), before any variable."""
        t, one = step.local_step, b.constant(1.0)
        beta_1, half, decay = b.constant(self.beta_1), b.constant(0.5), b.constant(0.96)

        def factor(local_step: Value) -> Value:  # 1 - 0.5·0.96^t
            return b.op("Sub", one, b.op("Mul", half, b.op("Pow", decay, local_step)))

        factor_t = factor(t)
        u_t = b.op("Mul", beta_1, factor_t)
        u_t_1 = b.op("Mul", beta_1, factor(b.op("Add", t, one)))
        # (u_product * beta_1) * (1 - 0.5·0.96^t), in the order Keras multiplies.
        u_product = b.op("Mul", b.op("Mul", step.shared["u_product"], beta_1), factor_t)
        return {
            "u_product": u_product,
            "m_scale": u_t_1,
            "m_den": b.op("Sub", one, b.op("Mul", u_product, u_t_1)),
            "g_scale": b.op("Sub", one, u_t),
            "g_den": b.op("Sub", one, u_product),
            "v_den": b.op("Sub", one, b.op("Pow", b.constant(self.beta_2), t)),
        }

    def _lower_step(
        self, b: GraphBuilder, step: StepValues, p: Value, g: Value, slots: dict[str, Value]
    ) -> tuple[Value, dict[str, Value]]:
        """``m̂ = u_{t+1}·m/(1 - u_product·u_{t+1}) + (1-u_t)·g/(1 - u_product)``,
        ``v̂ = v/(1-b2^t)``, ``w -= m̂·lr/(√v̂ + eps)`` (``1 - beta`` in float32)."""
        s = step.scalars
        one = np.float32(1)
        m = toward(b, slots["momentum"], g, b.constant(one - np.float32(self.beta_1)))
        v = toward(b, slots["velocity"], b.square(g), b.constant(one - np.float32(self.beta_2)))
        m_hat = b.op("Div", b.op("Mul", m, s["m_scale"]), s["m_den"])
        g_part = b.op("Div", b.op("Mul", g, s["g_scale"]), s["g_den"])
        m_hat = b.op("Mul", b.op("Add", m_hat, g_part), step.learning_rate)
        v_hat = b.op("Add", b.op("Sqrt", b.op("Div", v, s["v_den"])), b.constant(self.epsilon))
        return b.op("Sub", p, b.op("Div", m_hat, v_hat)), {"momentum": m, "velocity": v}


@rule_for(Nadam)
class NadamUpdate(OptimizerUpdate):
    """Dozat's Nadam with the momentum schedule ``u_t = b1(1 - 0.5·0.96^t)``.

    ``u_product`` (one float32 for all variables, starting at 1) is multiplied by ``u_t``
    once per step BEFORE the variables are updated, as Keras's ``_backend_update_step``
    does. Then ``m̂ = u_{t+1}·m/(1 - u_product·u_{t+1}) + (1-u_t)·g/(1 - u_product)``,
    ``v̂ = v/(1-b2^t)`` and ``w -= m̂·lr/(√v̂ + eps)``.
    """

    config: Nadam
    scratch_count = 3

    def _begin_step(self, t: np.float32) -> None:
        decay = F32(0.96) ** t
        u_product = self.shared["u_product"] * F32(self.config.beta_1)
        self.shared["u_product"] = u_product * (F32(1) - F32(0.5) * decay)

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        c = self.config
        beta_1, beta_2 = F32(c.beta_1), F32(c.beta_2)
        u_t = beta_1 * (F32(1) - F32(0.5) * F32(0.96) ** t)
        u_t_1 = beta_1 * (F32(1) - F32(0.5) * F32(0.96) ** (t + F32(1)))
        u_product = self.shared["u_product"]
        u_product_t_1 = u_product * u_t_1
        b2_power = beta_2**t
        slots = self.state[name]
        m, v = slots["momentum"], slots["velocity"]
        tmp, m_hat, v_hat = (self._tmp(i, p.shape) for i in range(3))
        np.subtract(g, m, out=tmp)
        tmp *= F32(1) - beta_1
        m += tmp
        np.square(g, out=tmp)
        tmp -= v
        tmp *= F32(1) - beta_2
        v += tmp
        # True divisions by scalars, as the source reads. Keras on JAX differs by a few
        # ulps here: XLA on CPU turns array / scalar into array * (1 / scalar).
        np.multiply(m, u_t_1, out=m_hat)
        m_hat /= F32(1) - u_product_t_1
        np.multiply(g, F32(1) - u_t, out=tmp)
        tmp /= F32(1) - u_product
        m_hat += tmp
        np.divide(v, F32(1) - b2_power, out=v_hat)
        np.sqrt(v_hat, out=v_hat)
        v_hat += F32(c.epsilon)
        m_hat *= lr
        m_hat /= v_hat
        p -= m_hat
