"""Keras 3 optimizers as in-place NumPy updates of the engine's parameter buffers.

onnxruntime-training's own optimizer graph can only hold one fused ``AdamWOptimizer`` or
``SGDOptimizerV2`` kernel (``docs/engine-notes.md#optimizer-kernel``), which computes only
a few Keras optimizers exactly. The others (and the cases where the kernel route measured
slower) update here, on ``state.parameters[name].data`` and ``.grad``, which are views into
the engine's buffers; the rest take the fused kernel (``specc.train.fused``)::

    update = make_update(config, {n: state.parameters[n].data for n in names})
    for batch in batches:
        module(*batch)
        params = {n: state.parameters[n].data for n in names}
        update.step(params, {n: state.parameters[n].grad for n in names})
        apply_constraints(params, constraints)
        module.lazy_reset_grad()

Each optimizer's rule is its own (``specc.optimizers``, ``Optimizer.update_rule``); this
module is the training loop's side of it: building the rule, and Keras's constraints after
each update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from specc.constraints import Constraint
from specc.optimizers import Optimizer, OptimizerUpdate

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
    return config.update_rule(parameters, exclude_from_weight_decay)


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
