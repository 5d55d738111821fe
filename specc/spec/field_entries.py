"""The activations, initializers, regularizers, constraints and learning-rate schedules a
spec names, marked in use (``Registry.use``) so that the model of the spec builds their
unions from those alone (``unions_of_entries_in_use``) rather than from every entry.

A name counts wherever the spec holds it as a string: naming one where no union takes it
only adds a member that nothing picks. The defaults of the models the spec uses (a
layer's ``glorot_uniform``) are validated too, so they count as well.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from specc.activations import ACTIVATIONS
from specc.constraints import CONSTRAINTS
from specc.initializers import INITIALIZERS
from specc.registry import Registry
from specc.regularizers import REGULARIZERS
from specc.schedules import SCHEDULES

# The registries whose unions every layer or optimizer model holds: those without a
# package, whose entries are all imported with their module.
FIELD_REGISTRIES: tuple[Registry[Any], ...] = (
    ACTIVATIONS,
    INITIALIZERS,
    REGULARIZERS,
    CONSTRAINTS,
    SCHEDULES,
)


def use_named_entries(data: Any, models: Iterable[type[BaseModel]]) -> None:
    """Mark in use the entries named in ``data`` (a spec's loaded data) and in the field
    defaults of ``models`` (the layer and section models checking it uses) and of the
    models their fields hold."""
    names = set(_strings(data))
    for model in models:
        names |= _default_strings(model)
    for registry in FIELD_REGISTRIES:
        registry.use(names)


def use_every_entry() -> None:
    """Mark every entry of these registries in use (a process about to check many specs
    builds one model for all of them)."""
    for registry in FIELD_REGISTRIES:
        registry.use_all()


def entries_in_use() -> tuple[tuple[type, ...], ...]:
    """The entries in use, registry by registry: what a spec model built from them is
    cached by."""
    return tuple(registry.in_use() for registry in FIELD_REGISTRIES)


def _strings(value: Any) -> Iterator[str]:
    # Iterative: a spec nests deeply only where a hostile one does, and recursion would fail.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


@functools.cache
def _default_strings(model: type[BaseModel]) -> frozenset[str]:
    """The strings in the field defaults of ``model`` and of the models its fields hold:
    worked out once per model, as every spec that uses it asks."""
    found: set[str] = set()
    for reached in _reachable(model):
        for field in reached.model_fields.values():
            if field.default is not PydanticUndefined:
                found.update(_strings(field.default))
    return frozenset(found)


def _reachable(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and the models its fields' types name, each once."""
    seen: dict[type[BaseModel], None] = {}
    stack = [model]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen[model] = None
        for field in model.model_fields.values():
            stack.extend(_models_in(field.annotation))
    return list(seen)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            yield item
        else:
            stack.extend(typing.get_args(item))
