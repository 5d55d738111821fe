"""Every op family's gradient rules; importing this package registers them all.

Each module registers its rules with ``specc.autodiff.core.vjp``; the modules are found,
not listed, so adding an op family is adding one module.
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
