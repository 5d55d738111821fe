"""Callbacks: Keras 3's ``keras.callbacks`` that ``train.callbacks`` lists, by class name.

One module per callback (``early_stopping.py``, ``model_checkpoint.py``, ...) holds its
config (Keras's arguments, validated) and its runtime (Keras's hooks: ``on_train_begin``,
``on_epoch_end``, ...). ``base`` holds what they share: the registry, the hooks, what a
callback may ask of the training run (``TrainingControl``) and Keras's ``MonitorCallback``.

Modules are discovered, not listed: adding a callback means adding its module and nothing
else. The spec field, the JSON Schema and the docs table derive from the registry.
"""

from specc.callbacks.base import (
    CALLBACKS,
    Callback,
    CallbackConfig,
    CallbackError,
    CallbackList,
    TrainingControl,
)
from specc.registry import import_modules

import_modules(__name__, __path__)

#: The field type of one ``train.callbacks`` entry: a name or a mapping with ``type``.
CallbackField = CALLBACKS.discriminated_union()

__all__ = [
    "CALLBACKS",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackField",
    "CallbackList",
    "TrainingControl",
]
