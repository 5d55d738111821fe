"""``examples.json``: a few rows of training data for a training bundle's demo page.

``specc export --target web --with-training --data FILE`` reads FILE as ``specc train``
reads its data (``specc.train.data``: the same checks, the spec's ``train.data_keys``) and
ships its first rows, as many as fit ``MAX_ROWS`` and ``MAX_BYTES``, so that the page can
fine-tune offline and show the prediction before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from specc.emit.step_export import StepExport
from specc.emit.step_files import batch_size
from specc.limits import DEFAULT_LIMITS, Limits
from specc.train.run import data_layout

MAX_ROWS = 512
# The values of all columns together, as JSON numbers (about 10 bytes each).
MAX_BYTES = 2 * 2**20
# The page trains this many epochs at the spec's batch size (Keras's default without one).
DEMO_EPOCHS = 5


def example_rows(
    exported: StepExport, data: Path, limits: Limits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """The content of ``examples.json``: the first rows of ``data`` by input and output
    name (``{dtype, dims, data}`` each), their count, and the demo's epochs and batch size."""
    compiled = exported.compiled
    dataset = data_layout(compiled).load(data, limits)
    batch = dataset.batch(slice(0, min(len(dataset), 1)))
    per_row = sum(int(np.prod(np.shape(a)[1:])) for a in {**batch.inputs, **batch.targets}.values())
    rows = min(len(dataset), MAX_ROWS, max(1, MAX_BYTES // (10 * max(per_row, 1))))
    batch = dataset.batch(slice(0, rows))
    columns = {
        name: {
            "dtype": str(np.asarray(array).dtype),
            "dims": list(np.shape(array)),
            "data": np.asarray(array).ravel().tolist(),
        }
        for name, array in {**batch.inputs, **batch.targets}.items()
    }
    return {
        "rows": rows,
        "epochs": DEMO_EPOCHS,
        "batch_size": batch_size(compiled),
        "columns": columns,
    }
