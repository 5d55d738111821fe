"""The registries import only the foundation below them, never the layers above.

Losses and metrics are registries (``specc.graph``, ``specc.types`` and ``specc.registry``
below them; metrics may use losses): importing one must load nothing from layers, spec,
passes, pipeline, train or emit, nor onnx, which only ``specc.emit`` imports.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

ABOVE = ("specc.layers", "specc.spec", "specc.passes", "specc.pipeline", "specc.train")
ABOVE += ("specc.emit", "onnx")


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("specc.losses", (*ABOVE, "specc.metrics")), ("specc.metrics", ABOVE)],
)
def test_registry_imports_nothing_above_it(package: str, forbidden: tuple[str, ...]) -> None:
    code = (
        f"import sys, {package}\n"
        f"print(sorted(m for m in sys.modules if m.startswith({forbidden!r})))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
