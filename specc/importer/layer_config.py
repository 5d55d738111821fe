"""A Keras layer's config as a spec layer entry's arguments.

specc's layer configs take Keras's argument names, so an argument carries over by name;
an argument specc has no field for is left out when it is unset or off (Keras's own
default, such as ``quantization_config: null``) and reported otherwise, since leaving it
out would compute something else.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from specc.diagnostics import SpecPath, did_you_mean
from specc.importer.objects import convert_value, custom_message, is_custom, is_neutral
from specc.importer.problems import SCHEMA, UNKNOWN_KEY, UNKNOWN_NAME, ConfigProblems
from specc.layers import LAYERS

# Arguments specc has no field for that only matter when another one turns them on.
_IDLE_UNLESS = {
    "BatchNormalization": {"renorm_clipping": "renorm", "renorm_momentum": "renorm"},
}
# The policies whose variables and computation are float32, as specc's are.
_FLOAT32_POLICIES = {"float32"}
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")
# Keras prefixes a Bidirectional's copies of its layer; the spec names the layer itself.
_WRAPPED_PREFIX = "forward_"


def check_dtype(value: Any, path: SpecPath, problems: ConfigProblems) -> None:
    """Refuse a dtype policy other than float32 (mixed precision computes in float16)."""
    name = value
    if isinstance(value, dict):
        config = value.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        if value.get("class_name") not in _POLICY_CLASSES:
            problems.error(
                UNKNOWN_NAME,
                f"dtype policy '{value.get('class_name')}' is not "
                "supported; specc computes in float32",
                path,
            )
            return
    if name is not None and not (isinstance(name, str) and name in _FLOAT32_POLICIES):
        problems.error(
            SCHEMA,
            f"dtype policy {name!r} is not supported; specc computes in "
            "float32 (save the model with the float32 policy)",
            path,
        )


def known_layer(entry: Any, path: SpecPath, problems: ConfigProblems) -> str | None:
    """The class name of a layer entry specc has a layer type for, or None (reported)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        problems.error(SCHEMA, "a layer must be a mapping with 'class_name' and 'config'", path)
        return None
    class_name = entry["class_name"]
    if is_custom(entry):
        problems.error(UNKNOWN_NAME, custom_message(entry, "layer"), (*path, "class_name"))
        return None
    if class_name == "Lambda":
        # Keras stores a Lambda's function as marshalled Python bytecode: never read.
        problems.error(
            UNKNOWN_NAME,
            "a Keras Lambda layer holds pickled Python code, which specc never runs; "
            "rewrite it as a spec Lambda layer (an expression) or a built-in layer",
            (*path, "config", "function"),
        )
        return None
    if class_name not in LAYERS:
        problems.error(
            UNKNOWN_NAME,
            f"specc has no layer type '{class_name}'" + did_you_mean(class_name, LAYERS.names()),
            (*path, "class_name"),
        )
        return None
    if not isinstance(entry.get("config"), dict):
        problems.error(SCHEMA, f"config of '{class_name}' must be a mapping", (*path, "config"))
        return None
    return class_name


def layer_arguments(
    class_name: str, config: dict[str, Any], path: SpecPath, problems: ConfigProblems
) -> dict[str, Any]:
    """The spec arguments of a known layer's Keras ``config`` (found at ``path``)."""
    fields = LAYERS.get(class_name).model_fields
    idle = _IDLE_UNLESS.get(class_name, {})
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        where = (*path, key)
        if key == "name":
            continue
        if key == "dtype":
            check_dtype(value, where, problems)
        elif key == "layer" and isinstance(value, dict):
            arguments["layer"] = wrapped_layer(value, where, problems)
        elif key == "backward_layer" and isinstance(value, dict):
            _check_mirror(config.get("layer"), value, where, problems)
        elif key in fields and key != "type":
            converted = convert_value(value, where, problems)
            if not _is_default(converted, fields[key]):
                arguments[key] = converted
        elif key in idle and not config.get(idle[key]):
            continue
        elif not is_neutral(value):
            problems.error(
                UNKNOWN_KEY,
                f"{class_name} argument '{key}' = {value!r} has no counterpart in specc",
                where,
            )
    return arguments


def _check_mirror(
    forward: Any, backward: dict[str, Any], path: SpecPath, problems: ConfigProblems
) -> None:
    """Keras writes a Bidirectional's backward layer even when it is the forward one run
    backwards (the only kind the spec has): anything else is reported."""
    ignored = ("name", "go_backwards")
    same = (
        isinstance(forward, dict)
        and forward.get("class_name") == backward.get("class_name")
        and isinstance(forward.get("config"), dict)
        and isinstance(backward.get("config"), dict)
        and _plain({k: v for k, v in forward["config"].items() if k not in ignored})
        == _plain({k: v for k, v in backward["config"].items() if k not in ignored})
    )
    if not same:
        problems.error(
            UNKNOWN_KEY,
            "a Bidirectional with a backward layer of its own is not "
            "supported; the spec runs the forward layer backwards",
            path,
        )


def _is_default(value: Any, field: FieldInfo) -> bool:
    """Whether an argument is the spec's default for it, so the spec can leave it out."""
    default = field.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return False
    if isinstance(default, tuple):
        default = list(default)
    return value == default and type(value) is type(default)


def _plain(value: Any) -> Any:
    """``value`` without Keras's ``shared_object_id`` tags (object identities of one run)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def wrapped_layer(entry: dict[str, Any], path: SpecPath, problems: ConfigProblems) -> Any:
    """The layer a wrapper (Bidirectional, TimeDistributed) holds, as a nested entry."""
    class_name = known_layer(entry, path, problems)
    if class_name is None:
        return None
    config = entry["config"]
    nested: dict[str, Any] = {"type": class_name}
    name = config.get("name")
    if isinstance(name, str):
        nested["name"] = name.removeprefix(_WRAPPED_PREFIX)
    nested.update(layer_arguments(class_name, config, (*path, "config"), problems))
    return nested
