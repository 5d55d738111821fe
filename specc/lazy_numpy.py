"""NumPy as ``np``, imported on first use.

``specc validate`` loads every layer and registry module a spec names, but checking a spec
(schema, references, shapes) computes no arrays: only lowering, initial weights and the
NumPy references do. Importing NumPy costs about 0.1 s of CPU, a quarter of a small spec's
whole check, so those modules take ``np`` from here (``from specc.lazy_numpy import np``)
and NumPy loads the first time one of its names is used. Nothing at a module's top level
may use it (a constant, a default argument, a decorator argument): that would import it.
Type checkers see NumPy itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["np"]


class _NumpyOnUse:
    """Stands in for the ``numpy`` module; each name looked up is kept on the instance,
    so that later look-ups cost what they cost on the module itself."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module("numpy"), name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return "<numpy, imported on first use>"


if TYPE_CHECKING:
    import numpy as np
else:
    np = _NumpyOnUse()


class NumpyFunction:
    """A NumPy function named in a table at a module's top (``NumpyFunction("add")`` for
    ``np.add``), looked up when first called. Not a Python function, so that as a class
    attribute it is not bound to instances, as a ufunc is not."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(np, self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"np.{self.name}"
