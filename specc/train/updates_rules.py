"""Keras 3's ``update_step`` of each optimizer, in NumPy, in place on float32 buffers.

Each rule follows the operation order of ``keras/src/optimizers/<name>.py``; the formula in
each docstring is Keras's, with ``t = iterations + 1``. Scalar hyperparameters are rounded
to float32 where Keras rounds them: ``1 - beta`` is computed in Python (float64) and then
rounded when Keras subtracts from a Python float (Adam, Adamax, RMSprop, Adadelta), but in
float32 when Keras first casts ``beta`` to the variable dtype (Nadam).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from specc.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Nadam,
    RMSprop,
)
from specc.train.updates_base import F32, OptimizerUpdate


class SGDUpdate(OptimizerUpdate):
    """``m = momentum*m - lr*g``; ``w += m`` (Nesterov: ``w += momentum*m - lr*g``)."""

    config: SGD
    slots = ("momentum",)

    def _active_slots(self) -> tuple[str, ...]:
        # Keras creates no momentum variable when momentum == 0.
        return self.slots if self.config.momentum != 0 else ()

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


class AdamUpdate(OptimizerUpdate):
    """``m += (g-m)(1-b1)``; ``v += (g²-v)(1-b2)``; ``w -= m·alpha/(√v+eps)``.

    ``alpha = lr·√(1-b2^t)/(1-b1^t)``; with AMSGrad ``v`` is replaced by its running max.
    Also AdamW: the decoupled weight decay is the base class's.
    """

    config: Adam | AdamW
    slots = ("momentum", "velocity", "velocity_hat")

    def _active_slots(self) -> tuple[str, ...]:
        return self.slots if self.config.amsgrad else self.slots[:2]

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


class AdagradUpdate(OptimizerUpdate):
    """``acc += g²``; ``w -= lr·g/√(acc + eps)``; ``acc`` starts at the initial value."""

    config: Adagrad
    slots = ("accumulator",)

    def _slot_initial(self, slot: str) -> float:
        return self.config.initial_accumulator_value

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


class AdadeltaUpdate(OptimizerUpdate):
    """``A = rho·A + (1-rho)g²``; ``d = -√(D+eps)·g/√(A+eps)``; ``D = rho·D + (1-rho)d²``;
    ``w += lr·d``."""

    config: Adadelta
    slots = ("accumulated_grad", "accumulated_delta_var")

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


class AdamaxUpdate(OptimizerUpdate):
    """``m += (g-m)(1-b1)``; ``u = max(b2·u, |g|)``; ``w -= lr·m / ((1-b1^t)(u+eps))``."""

    config: Adamax
    slots = ("momentum", "norm")

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


#: The update rule of each optimizer config class. AdamW is Adam's rule: its decoupled
#: weight decay is the base class's, which Keras applies for every optimizer.
RULES: dict[type, type[OptimizerUpdate]] = {
    SGD: SGDUpdate,
    Adam: AdamUpdate,
    AdamW: AdamUpdate,
    RMSprop: RMSpropUpdate,
    Adagrad: AdagradUpdate,
    Adadelta: AdadeltaUpdate,
    Adamax: AdamaxUpdate,
    Nadam: NadamUpdate,
}
