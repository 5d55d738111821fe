"""Optimizers: Keras 3's ``keras.optimizers``, under the names ``optimizers.get`` accepts.

One module per optimizer (``sgd.py``, ``adam.py``, ...) holds its config, its slot
variables (``Optimizer.slots``), its Keras update rule in NumPy (``Optimizer.update_rule``)
and in ONNX ops (``Optimizer.lower_update``), and which of the training engine's fused
kernels computes it exactly (``Optimizer.fused_kernel``). ``base`` holds what they share,
Keras's base arguments, the registry, the kernel declarations and the in-graph step around
each rule; ``update`` the NumPy step around each rule (learning rate, clipping, weight
decay, state).

Modules are discovered, not listed: adding an optimizer means adding its module and
nothing else. The spec field, the JSON Schema and the docs table derive from the registry.
"""

import importlib
import pkgutil

from specc.optimizers.base import NO_KERNEL, OPTIMIZERS, FusedKernel, NoFusedKernel, Optimizer
from specc.optimizers.update import OptimizerUpdate

# Sorted, so the registry (and the catalog and schema derived from it) has a stable order.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

# Each optimizer under its Keras class name, as ``keras.optimizers`` exposes them
# (``from specc.optimizers import Adam``), without a list here to keep in step.
_CLASSES = {model.__name__: model for model in OPTIMIZERS}
globals().update(_CLASSES)

#: The field type of ``compile.optimizer``: a name or a mapping with ``type``.
OptimizerField = OPTIMIZERS.discriminated_union()

# The optimizer classes are known only once their modules are imported.
__all__ = [
    "NO_KERNEL",
    "OPTIMIZERS",
    "FusedKernel",
    "NoFusedKernel",
    "Optimizer",
    "OptimizerField",
    "OptimizerUpdate",
    *sorted(_CLASSES),
]
