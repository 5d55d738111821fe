"""Nadam: Keras 3's ``keras/src/optimizers/nadam.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from specc.optimizers.base import OPTIMIZERS, Beta, NonNegative, Optimizer
from specc.optimizers.update import F32, OptimizerUpdate, rule_for


@OPTIMIZERS.register
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (Dozat's momentum schedule)."""

    type: Literal["Nadam", "nadam"] = "Nadam"
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7


@rule_for(Nadam)
class NadamUpdate(OptimizerUpdate):
    """Dozat's Nadam with the momentum schedule ``u_t = b1(1 - 0.5·0.96^t)``.

    ``u_product`` (one float32 for all variables, starting at 1) is multiplied by ``u_t``
    once per step BEFORE the variables are updated, as Keras's ``_backend_update_step``
    does. Then ``m̂ = u_{t+1}·m/(1 - u_product·u_{t+1}) + (1-u_t)·g/(1 - u_product)``,
    ``v̂ = v/(1-b2^t)`` and ``w -= m̂·lr/(√v̂ + eps)``.
    """

    config: Nadam
    slots = ("momentum", "velocity")
    scratch_count = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.u_product = F32(1.0)

    def _begin_step(self, t: np.float32) -> None:
        decay = F32(0.96) ** t
        self.u_product = self.u_product * F32(self.config.beta_1) * (F32(1) - F32(0.5) * decay)

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        c = self.config
        beta_1, beta_2 = F32(c.beta_1), F32(c.beta_2)
        u_t = beta_1 * (F32(1) - F32(0.5) * F32(0.96) ** t)
        u_t_1 = beta_1 * (F32(1) - F32(0.5) * F32(0.96) ** (t + F32(1)))
        u_product_t_1 = self.u_product * u_t_1
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
        tmp /= F32(1) - self.u_product
        m_hat += tmp
        np.divide(v, F32(1) - b2_power, out=v_hat)
        np.sqrt(v_hat, out=v_hat)
        v_hat += F32(c.epsilon)
        m_hat *= lr
        m_hat /= v_hat
        p -= m_hat

    def _extra_state(self) -> dict[str, np.ndarray]:
        return {"u_product": np.asarray(self.u_product, dtype=F32)}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.u_product = F32(np.asarray(state["u_product"]))
