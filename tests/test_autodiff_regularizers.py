"""Every regularizer's penalty differentiated by specc.autodiff, against central differences.

The penalty of a weight (Dense's kernel shape, and a conv kernel's for the ones that take
any shape) is the loss; its gradient with respect to the weight is checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from specc.fields import RegularizerField
from specc.graph import GraphBuilder
from specc.types import TensorType
from tests.autodiff_harness import check_graph_gradients

CONFIGS: list[tuple[dict[str, Any], tuple[int, ...]]] = [
    ({"type": "L1", "l1": 0.3}, (4, 3)),
    ({"type": "L1", "l1": 0.3}, (3, 3, 2, 4)),
    ({"type": "L2", "l2": 0.2}, (4, 3)),
    ({"type": "L2", "l2": 0.2}, (5,)),
    ({"type": "L1L2", "l1": 0.1, "l2": 0.4}, (4, 3)),
    ({"type": "OrthogonalRegularizer", "factor": 0.5, "mode": "rows"}, (3, 5)),
    ({"type": "OrthogonalRegularizer", "factor": 0.5, "mode": "columns"}, (5, 3)),
]


@pytest.mark.parametrize(("config", "shape"), CONFIGS, ids=lambda v: str(v))
def test_penalty_gradient_matches_central_differences(
    config: dict[str, Any], shape: tuple[int, ...]
) -> None:
    regularizer = TypeAdapter(RegularizerField).validate_python(config)
    b = GraphBuilder("penalty")
    rng = np.random.default_rng(0)
    # Away from 0, where L1's |w| has its kink.
    weight = rng.uniform(0.2, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    w = b.parameter("w", weight.astype(np.float32))
    penalty = regularizer.lower(b, w, shape)
    b.output(penalty, "penalty", TensorType("float32", (), batched=False))
    assert check_graph_gradients(b.graph, ["w"], {}) == []
