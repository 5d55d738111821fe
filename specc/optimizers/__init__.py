"""Optimizers: Keras 3's ``keras.optimizers``, under the names ``optimizers.get`` accepts.

One module per optimizer (``sgd.py``, ``adam.py``, ...) holds its config, its slot
variables (``Optimizer.slots``), its Keras update rule in NumPy (``Optimizer.update_rule``)
and in ONNX ops (``Optimizer.lower_update``), and which of the training engine's fused
kernels computes it exactly (``Optimizer.fused_kernel``). ``base`` holds what they share,
Keras's base arguments, the registry, the kernel declarations and the in-graph step around
each rule; ``update`` the NumPy step around each rule (learning rate, clipping, weight
decay, state).

Modules are discovered, not listed: adding an optimizer means adding its module and
nothing else. The spec field, the JSON Schema and the docs table derive from the registry,
which imports a module when one of its optimizers is first asked for.
"""

from typing import Any

from specc.optimizers.base import NO_KERNEL, OPTIMIZERS, FusedKernel, NoFusedKernel, Optimizer


def __getattr__(name: str) -> Any:
    # Each optimizer under its Keras class name, as ``keras.optimizers`` exposes them
    # (``from specc.optimizers import Adam``), without a list here to keep in step: the
    # modules are imported when first asked for (``OPTIMIZERS`` imports only the modules
    # of the optimizers a spec names).
    if name == "OptimizerField":
        #: The field type of ``compile.optimizer``: a name or a mapping with ``type``.
        return OPTIMIZERS.discriminated_union()
    return OPTIMIZERS.package_attribute(name)


# The optimizer classes are found by ``__getattr__``, by name.
__all__ = [
    "NO_KERNEL",
    "OPTIMIZERS",
    "FusedKernel",
    "NoFusedKernel",
    "Optimizer",
    "OptimizerField",
    "OptimizerUpdate",
]
