"""Every layer type, registered in ``LAYERS`` as its module is imported.

Layer modules are discovered, not listed: adding a layer means adding its module and
nothing else. ``LAYERS`` imports a module when one of its types is first asked for and all
of them when it is walked, so checking a spec builds only the layer models the spec uses;
the schema, the JSON Schema, the docs table and the generic test matrix walk the registry
and so see every layer. Which module holds which type is read from the source
(``specc.registry_source``): a layer class is decorated ``@LAYERS.register`` and declares
``type: Literal[...]`` (tests/test_validate_fast.py holds that reading to the registry).
"""

from typing import Any

from specc.layers.base import LAYERS, Layer


def _bind_wrapped_layers() -> None:
    # Wrappers (Bidirectional, TimeDistributed) nest a layer entry, annotated with the
    # forward reference "AnyLayer": the union of every layer type, which exists only once
    # all are registered. A nested layer is always a mapping with 'type', never a bare name.
    waiting = [m for m in LAYERS.loaded() if getattr(m, "wraps_layer", False)]
    if not any(not m.__pydantic_complete__ for m in waiting):
        return
    LAYERS.load_all()  # runs this hook again, which then binds every wrapper
    union = LAYERS.discriminated_union(accept_strings=False)
    for model in LAYERS.loaded():
        if getattr(model, "wraps_layer", False) and not model.__pydantic_complete__:
            model.model_rebuild(_types_namespace={"AnyLayer": union})


LAYERS.after_load(_bind_wrapped_layers)


def __getattr__(name: str) -> Any:
    if name == "AnyLayer":
        return LAYERS.discriminated_union(accept_strings=False)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LAYERS", "AnyLayer", "Layer"]
