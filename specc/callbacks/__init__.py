"""Callbacks: Keras 3's ``keras.callbacks`` that ``train.callbacks`` lists, by class name.

One module per callback (``early_stopping.py``, ``model_checkpoint.py``, ...) holds its
config (Keras's arguments, validated) and its runtime (Keras's hooks: ``on_train_begin``,
``on_epoch_end``, ...). ``base`` holds what they share: the registry, the hooks, what a
callback may ask of the training run (``TrainingControl``) and Keras's ``MonitorCallback``.

Modules are discovered, not listed: adding a callback means adding its module and nothing
else. The spec field, the JSON Schema and the docs table derive from the registry, which
imports a module when one of its callbacks is first asked for.
"""

from typing import Any

from specc.callbacks.base import (
    CALLBACKS,
    Callback,
    CallbackConfig,
    CallbackError,
    CallbackList,
    TrainingControl,
)


def __getattr__(name: str) -> Any:
    # Callback modules are imported when first asked for (``CALLBACKS`` imports only the
    # modules of the callbacks a spec names).
    if name == "CallbackField":
        #: The field type of one ``train.callbacks`` entry: a name or a mapping with ``type``.
        return CALLBACKS.discriminated_union()
    return CALLBACKS.package_attribute(name)


__all__ = [
    "CALLBACKS",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackField",
    "CallbackList",
    "TrainingControl",
]
