"""The shared part of Keras 3's ``BaseOptimizer.apply``, in NumPy on float32 buffers.

Each optimizer module subclasses ``OptimizerUpdate`` (its ``_update`` is Keras's
``update_step``) and names the configs it serves with ``@rule_for``; a config's
``update_rule`` builds it.

One optimizer step, in Keras 3's order (``keras/src/optimizers/base_optimizer.py``):

1. the learning rate is read once, at ``iterations`` (the updates already applied, so the
   first update uses ``learning_rate(0)``);
2. gradients are clipped: ``clipnorm`` per variable, else ``global_clipnorm``, else
   ``clipvalue`` (Keras checks them in that order; the config allows only one);
3. decoupled weight decay, ``w -= w * weight_decay * lr``, for every optimizer that has a
   ``weight_decay`` set, BEFORE the optimizer's own update;
4. the optimizer's ``update_step`` per variable;
5. (constraints, applied by the training loop), then ``iterations += 1``.

Parameters are updated in place because the engine hands out views into its own buffers.
Every elementwise operation is one NumPy ufunc writing float32, in Keras's order, so each
intermediate is rounded where Keras (JAX/TensorFlow backends) rounds it; scalars are
``np.float32`` so that NumPy 1 does not promote them to float64. Each rule follows the
operation order of ``keras/src/optimizers/<name>.py``, with ``t = iterations + 1``; scalar
hyperparameters are rounded to float32 where Keras rounds them: ``1 - beta`` is computed in
Python (float64) and then rounded when Keras subtracts from a Python float (Adam, Adamax,
RMSprop, Adadelta), but in float32 when Keras first casts ``beta`` to the variable dtype
(Nadam).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from specc.lazy_numpy import NumpyFunction, np
from specc.optimizers.base import Optimizer, require_names, weight_decay_filter

# np.float32, for the update rules' scalars: looked up when first called.
F32 = NumpyFunction("float32")
RuleT = TypeVar("RuleT", bound="type[OptimizerUpdate]")


def rule_for(*configs: type[Optimizer]) -> Callable[[RuleT], RuleT]:
    """Class decorator: the decorated rule is the ``update_rule`` of each of ``configs``."""

    def mark(rule: RuleT) -> RuleT:
        for config in configs:
            config.update_class = rule
        return rule

    return mark


def current_learning_rate(config: Optimizer, iterations: int, assigned: float | None) -> float:
    """The rate of the update after ``iterations`` updates: ``assigned`` when a constant
    rate was assigned during training, else the config's rate or schedule."""
    return assigned if assigned is not None else config.learning_rate_at(iterations)


class OptimizerUpdate:
    """A Keras 3 optimizer applied in place to named float32 arrays.

    Subclasses implement ``_update``; the state arrays are the config's ``slots`` and
    ``shared_slots``; clipping, weight decay, the iteration counter and checkpoint state
    live here.
    """

    #: How many scratch buffers ``_update`` needs (each as large as the largest parameter).
    scratch_count: ClassVar[int] = 2

    def __init__(
        self,
        config: Optimizer,
        parameters: Mapping[str, np.ndarray],
        exclude_from_weight_decay: Iterable[str] = (),
    ) -> None:
        self.config = config
        #: Updates applied so far (Keras's ``optimizer.iterations``).
        self.iterations = 0
        #: A constant rate assigned during training (ReduceLROnPlateau), in place of the
        #: config's; None: the config's rate or schedule.
        self.assigned_learning_rate: float | None = None
        self.shapes = {name: tuple(np.shape(p)) for name, p in parameters.items()}
        self.state: dict[str, dict[str, np.ndarray]] = {
            name: {slot.name: slot.initial for slot in config.slots(shape)}
            for name, shape in self.shapes.items()
        }
        #: Optimizer-wide float32 scalars (Nadam's ``u_product``), by name.
        self.shared: dict[str, np.float32] = {
            slot.name: F32(slot.initial) for slot in config.shared_slots()
        }
        decays = weight_decay_filter(exclude_from_weight_decay)
        self._decayed = {name: decays(name) for name in self.shapes}
        # Preallocated temporaries: no allocation per step, and no write into the caller's
        # gradient buffers (clipping writes into its own buffer).
        size = max((int(np.prod(s)) for s in self.shapes.values()), default=0)
        self._scratch = [np.empty(size, dtype=np.float32) for _ in range(self.scratch_count)]
        self._clip_buffer = np.empty(size, dtype=np.float32) if self._clips() else None

    # -- what subclasses provide -------------------------------------------------------

    def _begin_step(self, t: np.float32) -> None:
        """Hook run once per step before any variable is updated (Nadam's ``u_product``)."""

    def _update(
        self, name: str, p: np.ndarray, g: np.ndarray, lr: np.float32, t: np.float32
    ) -> None:
        raise NotImplementedError

    def _tmp(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """Scratch buffer ``index`` viewed with ``shape``."""
        return self._scratch[index][: int(np.prod(shape))].reshape(shape)

    # -- one step ------------------------------------------------------------------------

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update to ``params`` in place from ``grads``; then ``iterations += 1``.

        ``params`` must be writable float32 arrays of the shapes given at creation, under
        the same names; ``grads`` the matching gradients (cast to float32 if they are not).
        """
        self._check(params, grads)
        lr = F32(current_learning_rate(self.config, self.iterations, self.assigned_learning_rate))
        t = F32(self.iterations + 1)
        gradients = {name: np.asarray(grads[name], dtype=np.float32) for name in self.shapes}
        scale = self._global_scale(gradients)
        self._begin_step(t)
        wd = self.config.weight_decay
        for name in self.shapes:
            p = params[name]
            g = self._clipped(gradients[name], scale)
            if wd is not None and self._decayed[name]:
                # variable - variable * wd * lr, rounded as Keras rounds it.
                tmp = self._tmp(0, p.shape)
                np.multiply(p, F32(wd), out=tmp)
                tmp *= lr
                p -= tmp
            self._update(name, p, g, lr, t)
        self.iterations += 1

    def _check(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        for what, given in (("params", params), ("grads", grads)):
            require_names(what, given, self.shapes)
        for name, shape in self.shapes.items():
            p, g = params[name], grads[name]
            if g is None:
                # The engine's .grad is None before the first backward pass and for frozen
                # parameters; Keras would skip such a variable, here it is a caller bug.
                raise ValueError(f"parameter {name!r} has no gradient (got None)")
            if not isinstance(p, np.ndarray) or p.dtype != np.float32 or not p.flags.writeable:
                raise TypeError(
                    f"parameter {name!r} must be a writable float32 NumPy array (updated in "
                    f"place); got {type(p).__name__} of dtype {getattr(p, 'dtype', None)}"
                )
            if p.shape != shape or np.shape(g) != shape:
                raise ValueError(
                    f"parameter {name!r} must have shape {shape}; got parameter "
                    f"{p.shape} and gradient {np.shape(g)}"
                )

    # -- clipping (Keras's _clip_gradients) ------------------------------------------

    def _clips(self) -> bool:
        c = self.config
        return any(v is not None for v in (c.clipnorm, c.global_clipnorm, c.clipvalue))

    def _global_scale(self, gradients: Mapping[str, np.ndarray]) -> np.float32 | None:
        """``clip_by_global_norm``'s factor, or None when global clipping is off."""
        c = self.config
        if c.clipnorm is not None or c.global_clipnorm is None:
            return None
        squared = [np.sum(np.square(g)) for g in gradients.values()]
        use_norm = np.sqrt(np.sum(np.asarray(squared, dtype=np.float32)))
        clip = F32(c.global_clipnorm)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Keras: clip * min(1/norm, 1/clip), plus (norm - norm) to turn inf/NaN into
            # NaN. Kept as written: clip * (1/clip) is not always exactly 1 in float32.
            scale = clip * np.minimum(F32(1.0) / use_norm, F32(1.0) / clip)
            return F32(scale + (use_norm - use_norm))

    def _clipped(self, g: np.ndarray, scale: np.float32 | None) -> np.ndarray:
        c = self.config
        if self._clip_buffer is None:
            return g
        out = self._clip_buffer[: g.size].reshape(g.shape)
        if c.clipnorm is not None:
            # values * clipnorm / max(l2norm, clipnorm); l2norm is 0 for a zero gradient.
            clip = F32(c.clipnorm)
            l2sum = np.sum(np.square(g), dtype=np.float32)
            l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
            np.multiply(g, clip, out=out)
            out /= np.maximum(l2norm, clip)
        elif scale is not None:
            np.multiply(g, scale, out=out)
        else:
            v = F32(c.clipvalue)
            np.clip(g, -v, v, out=out)
        return out

    # -- checkpoints -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the state, flat and ``.npz``-ready.

        Keys: ``iterations`` (int64 scalar), ``<parameter>/<slot>`` per slot array, plus
        optimizer-wide entries (Nadam: ``u_product``).
        """
        out: dict[str, np.ndarray] = {"iterations": np.asarray(self.iterations, dtype=np.int64)}
        for name, slots in self.state.items():
            for slot, array in slots.items():
                out[f"{name}/{slot}"] = array.copy()
        out.update({k: np.asarray(v, dtype=np.float32) for k, v in self.shared.items()})
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: the same keys and shapes are required."""
        expected = set(self.state_dict())
        if set(state) != expected:
            raise KeyError(
                "optimizer state does not match this optimizer and its parameters; "
                f"missing {sorted(expected - set(state))}, "
                f"unexpected {sorted(set(state) - expected)}"
            )
        for name, slots in self.state.items():
            for slot, array in slots.items():
                value = np.asarray(state[f"{name}/{slot}"])
                if value.shape != array.shape:
                    raise ValueError(
                        f"optimizer state {name}/{slot} must have shape {array.shape}; "
                        f"got {value.shape}"
                    )
        iterations = int(np.asarray(state["iterations"]))
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0; got iterations={iterations}")
        for name, slots in self.state.items():
            for slot, array in slots.items():
                np.copyto(array, np.asarray(state[f"{name}/{slot}"], dtype=np.float32))
        for key in self.shared:
            self.shared[key] = F32(np.asarray(state[key]))
        self.iterations = iterations
