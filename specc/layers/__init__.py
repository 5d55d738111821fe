"""Every layer type; importing this package registers them all in ``LAYERS``.

Layer modules are discovered, not listed: adding a layer means adding its module and
nothing else. The schema, the JSON Schema, the docs table and the generic test matrix all
derive from the registry.
"""

import importlib
import pkgutil

from specc.layers.base import LAYERS, Layer

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")

# Wrappers (Bidirectional, TimeDistributed) nest a layer entry, annotated with the forward
# reference "AnyLayer": the union of every layer type, which exists only now that all are
# registered. A nested layer is always a mapping with 'type', never a bare name.
AnyLayer = LAYERS.discriminated_union(accept_strings=False)
for _model in LAYERS:
    if getattr(_model, "wraps_layer", False):
        _model.model_rebuild(_types_namespace={"AnyLayer": AnyLayer})

__all__ = ["LAYERS", "AnyLayer", "Layer"]
