"""Keras's serialized objects (initializers, regularizers, constraints, activations,
schedules, losses, metrics, optimizers) as the spec writes them.

Keras writes an object as ``{"module": "keras.initializers", "class_name": "HeUniform",
"config": {...}, "registered_name": null}``; the spec as ``{type: HeUniform, ...}``. Only
objects of Keras's own modules whose class specc's registry of that kind knows are taken;
a custom object (``registered_name`` ``"package>Name"``, or a module outside Keras) is
reported, never looked up or run.
"""

from __future__ import annotations

from typing import Any

from specc.activations import ACTIVATIONS
from specc.constraints import CONSTRAINTS
from specc.diagnostics import SpecPath, did_you_mean
from specc.importer.problems import SCHEMA, UNKNOWN_KEY, UNKNOWN_NAME, ConfigProblems
from specc.initializers import INITIALIZERS
from specc.losses import LOSSES
from specc.metrics import METRICS
from specc.optimizers import OPTIMIZERS
from specc.registry import Registry
from specc.regularizers import REGULARIZERS
from specc.schedules import SCHEDULES

# The registry for each Keras module an object may come from (the last dotted part).
_KINDS: dict[str, Registry[Any]] = {
    "initializers": INITIALIZERS,
    "regularizers": REGULARIZERS,
    "constraints": CONSTRAINTS,
    "schedules": SCHEDULES,
    "learning_rate_schedule": SCHEDULES,
    "losses": LOSSES,
    "metrics": METRICS,
    "optimizers": OPTIMIZERS,
}
# Tensors are graph edges, never argument values; a function object is code.
_NOT_VALUES = {"__keras_tensor__", "function", "__lambda__"}


def is_neutral(value: Any) -> bool:
    """Whether an argument specc does not take may be left out as it is: unset, off, or
    empty (``quantization_config: null``, ``renorm: false``)."""
    return value is None or value is False or value == [] or value == {}


def is_serialized(value: Any) -> bool:
    """Whether ``value`` is an object as Keras serializes one (class name and config)."""
    return (
        isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value
    )


def is_custom(entry: dict[str, Any]) -> bool:
    """Whether a serialized object is a user's own class rather than Keras's."""
    module = entry.get("module")
    registered = entry.get("registered_name")
    foreign = isinstance(module, str) and module != "keras" and not module.startswith("keras.")
    return foreign or (registered is not None and registered != entry.get("class_name"))


def custom_message(entry: dict[str, Any], what: str) -> str:
    """Why a custom object is refused, naming it as Keras registered it."""
    name = entry.get("registered_name") or entry.get("class_name")
    module = entry.get("module")
    source = f" from module {module!r}" if module else ""
    return (
        f"{what} '{name}' is a custom object{source}; specc maps "
        "only Keras's own classes and never runs code from a model file: rewrite it as a "
        "spec layer or a spec Lambda expression"
    )


def convert_value(value: Any, path: SpecPath, problems: ConfigProblems) -> Any:
    """A config value in the spec's form: tuples as lists, Keras objects as ``{type:
    ...}`` mappings; problems recorded at ``path``."""
    if isinstance(value, list):
        return [convert_value(item, (*path, i), problems) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if not is_serialized(value):
        return {k: convert_value(v, (*path, k), problems) for k, v in value.items()}
    class_name = value.get("class_name")
    config = value.get("config")
    if class_name == "__tuple__" and isinstance(config, dict):
        items = config.get("value", [])
        return convert_value(items, (*path, "config", "value"), problems)
    if class_name in _NOT_VALUES or is_custom(value):
        if class_name == "function" and _keras_function(value):
            return config
        problems.error(UNKNOWN_NAME, custom_message(value, "object"), path)
        return None
    return convert_object(value, path, problems)


def _keras_function(value: dict[str, Any]) -> bool:
    """A Keras activation serialized by name (``{"class_name": "function", "config":
    "relu", "module": "keras.activations"}``), which specc knows by that name."""
    module = str(value.get("module", ""))
    config = value.get("config")
    return (
        module.split(".")[-1] == "activations" and isinstance(config, str) and config in ACTIVATIONS
    )


def convert_object(value: dict[str, Any], path: SpecPath, problems: ConfigProblems) -> Any:
    """A Keras object of a known kind as ``{type: ClassName, **arguments}``."""
    class_name = str(value.get("class_name"))
    kind = str(value.get("module", "")).split(".")[-1]
    registry = _KINDS.get(kind)
    if registry is None:
        problems.error(
            UNKNOWN_NAME,
            f"'{class_name}' from {value.get('module')!r}: "
            "specc does not map objects of that module",
            path,
        )
        return None
    if class_name not in registry:
        problems.error(
            UNKNOWN_NAME,
            f"specc has no {registry.kind} '{class_name}'"
            + did_you_mean(class_name, registry.names()),
            (*path, "class_name"),
        )
        return None
    config = value.get("config")
    if not isinstance(config, dict):
        problems.error(SCHEMA, f"config of '{class_name}' must be a mapping", (*path, "config"))
        return None
    fields = registry.get(class_name).model_fields
    result: dict[str, Any] = {"type": class_name}
    for key, item in config.items():
        where = (*path, "config", key)
        if key in fields and key != "type":
            if item is not None:  # Keras's unset argument: the spec's default
                result[key] = convert_value(item, where, problems)
        elif key != "name" and not is_neutral(item) and not _keras_default(key, item):
            problems.error(
                UNKNOWN_KEY,
                f"{registry.kind} '{class_name}' argument '{key}' = {item!r} has no "
                "counterpart in specc",
                where,
            )
    # An object with its defaults is written as its name, as a user would write it.
    return class_name if len(result) == 1 else result


# Arguments of Keras's optimizers and compile() that specc has no field for, at the values
# that leave the computation as specc does it.
_DEFAULTS: dict[str, Any] = {
    "ema_momentum": 0.99,
    "steps_per_execution": 1,
    "jit_compile": True,
    "reduction": "sum_over_batch_size",
    # A metric's or loss's dtype: specc computes them in float32.
    "dtype": "float32",
}


def _keras_default(key: str, value: Any) -> bool:
    return key in _DEFAULTS and _DEFAULTS[key] == value
