"""The canonical key order of a spec, taken from the models the spec validates against.

Top level: ``specc, name, inputs, models, layers, outputs, compile, train, metadata``. A
layer entry: ``name, type`` (or ``shares``/``model``), the layer's own arguments in the
order its config declares them (the catalog's order, Keras's constructor order), then the
keys every layer takes (``input_shape, input_dtype, trainable, activity_regularizer``) and
``inputs`` last, so an entry reads like a Keras call. Any other mapping with a ``type``
(an initializer, an optimizer, a callback, ...): ``type`` first, then its config's order.

Only mappings whose keys are a config's fields are reordered. Mappings keyed by the user
(``inputs``, ``models``, a per-output ``loss``, ``class_weight``, ``data_keys``) keep
their order, which is meaningful: it is, for one, the order of the model's inputs. A spec
that does not validate is reordered only where its structure is certain (the top level and
the layer entries); its other keys stay as written.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from specc.layers.base import Layer

TOP_LEVEL = ("specc", "name", "inputs", "models", "layers", "outputs", "compile", "train")
LAYER_FIRST = ("name", "type", "shares", "model")
# The keys every layer entry accepts, after its own arguments; ``inputs`` closes an entry.
LAYER_COMMON = ("input_shape", "input_dtype", "trainable", "activity_regularizer")
LAYER_LAST = ("inputs",)


def ordered(data: Any, validated: BaseModel | None) -> Any:
    """``data`` with its mappings in canonical key order (a new tree of the same values).

    ``validated``: the spec's validated model, or None when it did not validate."""
    if validated is None:
        return _ordered_loosely(data)
    return _ordered(data, validated, top_level=True)


def _ordered(data: Any, model: Any, top_level: bool = False) -> Any:
    if isinstance(data, list):
        items = model if isinstance(model, (list, tuple)) and len(model) == len(data) else None
        return [_ordered(item, items[i] if items else None) for i, item in enumerate(data)]
    if not isinstance(data, dict):
        return data
    if isinstance(model, BaseModel):
        fields = _field_keys(type(model))
        keys = _config_order(list(data), type(model), fields, top_level)
        return {key: _ordered(data[key], _child(model, fields.get(key))) for key in keys}
    children = model if isinstance(model, dict) else {}
    return {key: _ordered(value, children.get(key)) for key, value in data.items()}


def _child(model: BaseModel, field_name: str | None) -> Any:
    return getattr(model, field_name, None) if field_name is not None else None


def _field_keys(model: type[BaseModel]) -> dict[str, str]:
    """A config's keys as a spec writes them (aliases) -> its field names, in its order."""
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def _config_order(
    keys: list[str], model: type[BaseModel], fields: dict[str, str], top_level: bool
) -> list[str]:
    declared = list(fields)
    if top_level:
        first: tuple[str, ...] = TOP_LEVEL
        last: tuple[str, ...] = ()
    elif issubclass(model, Layer) or {"shares", "model"} & set(declared):
        first, last = LAYER_FIRST, LAYER_LAST
        own = [key for key in declared if key not in LAYER_COMMON and key not in LAYER_LAST]
        declared = [*own, *LAYER_COMMON]
    else:
        first, last = ("type",), ()
    return _arrange(keys, [*first, *declared], last)


def _arrange(keys: list[str], order: list[str], last: tuple[str, ...]) -> list[str]:
    """``keys`` in ``order``; keys it does not name keep their place after those it does,
    and ``last`` closes the list."""
    rank = {key: index for index, key in reversed(list(enumerate(order)))}
    known = sorted((key for key in keys if key in rank and key not in last), key=rank.get)
    unknown = [key for key in keys if key not in rank and key not in last]
    return [*known, *unknown, *(key for key in last if key in keys)]


def _ordered_loosely(data: Any) -> Any:
    # Without a validated model only the shape every spec has is certain.
    if not isinstance(data, dict):
        return data
    result = {key: data[key] for key in _arrange(list(data), list(TOP_LEVEL), ())}
    layers = result.get("layers")
    if isinstance(layers, list):
        result["layers"] = [
            {key: entry[key] for key in _arrange(list(entry), list(LAYER_FIRST), LAYER_LAST)}
            if isinstance(entry, dict)
            else entry
            for entry in layers
        ]
    return result
