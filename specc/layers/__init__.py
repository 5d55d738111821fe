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

__all__ = ["LAYERS", "Layer"]
