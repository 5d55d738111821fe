"""Keras 3 optimizers as in-place NumPy updates of the engine's parameter buffers.

onnxruntime-training's own optimizer graph can only hold one fused ``AdamWOptimizer`` or
``SGDOptimizerV2`` kernel (``docs/engine-notes.md#optimizer-kernel``): momentum SGD with
Keras's semantics, Nesterov, RMSprop with Keras's epsilon placement, centered RMSprop,
AMSGrad, Adagrad, Adadelta, Adamax and Nadam cannot be expressed there. Those (and the
cases where the kernel route measured slower) update here, on
``state.parameters[name].data`` and ``.grad``, which are views into the engine's buffers;
Adam, AdamW without decay and plain SGD take the fused kernel (``specc.train.fused``)::

    update = make_update(config, {n: state.parameters[n].data for n in names})
    for batch in batches:
        module(*batch)
        params = {n: state.parameters[n].data for n in names}
        update.step(params, {n: state.parameters[n].grad for n in names})
        apply_constraints(params, constraints)
        module.lazy_reset_grad()

The rules are Keras 3's (``keras/src/optimizers``), operation for operation in float32;
``updates_base`` holds the shared part (learning rate, clipping, weight decay, state),
``updates_rules`` one class per optimizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from specc.constraints import Constraint
from specc.optimizers import OPTIMIZERS, Optimizer
from specc.train.updates_base import OptimizerUpdate
from specc.train.updates_rules import RULES

__all__ = ["OptimizerUpdate", "apply_constraints", "make_update"]


def make_update(
    config: Optimizer,
    parameters: Mapping[str, np.ndarray],
    exclude_from_weight_decay: Iterable[str] = (),
) -> OptimizerUpdate:
    """The update rule for ``config`` over ``parameters`` (name -> array; shapes are taken).

    ``exclude_from_weight_decay`` are regular expressions; a parameter whose name any of
    them matches (``re.search``) gets no weight decay, as Keras's
    ``optimizer.exclude_from_weight_decay(var_names=...)``.
    """
    rule = RULES.get(type(config))
    if rule is None:
        supported = ", ".join(OPTIMIZERS.canonical_name(c) for c in RULES)
        raise TypeError(
            f"no update rule for optimizer {type(config).__name__}; supported: {supported}"
        )
    return rule(config, parameters, exclude_from_weight_decay)


def apply_constraints(
    params: Mapping[str, np.ndarray], constraints: Mapping[str, Constraint]
) -> None:
    """Project each constrained parameter in place, as Keras does after every update.

    ``constraints`` maps parameter names to constraints; names absent from ``params``
    raise ``KeyError``.
    """
    for name, constraint in constraints.items():
        p = params[name]
        np.copyto(p, constraint.apply(p), casting="same_kind")
