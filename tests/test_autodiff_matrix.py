"""specc.autodiff over the layer matrix: every layer example and every activation, lowered
for training, differentiated with respect to every parameter and checked against central
differences (the graphs tests/test_trainable_lowering.py hands onnxruntime-training)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from specc.layers.base import TRAINING_FLAG
from specc.random_ops import RANDOM_STEP
from tests.autodiff_harness import check_graph_gradients
from tests.spec_helpers import compile_with_random_weights
from tests.test_trainable_lowering import (
    BATCH,
    Case,
    _activation_case,
    _activation_id,
    _activation_values,
    _fresh_parameters,
    _inputs,
    _layer_cases,
)


def check_case(case: Case) -> list[str]:
    compiled, _ = compile_with_random_weights(case.spec, seed=1, for_training=True)
    graph = compiled.graph
    parameters = list(graph.parameters)
    assert parameters, "no trainable weight reaches the layer under test"
    fresh = _fresh_parameters(compiled, seed=2)
    graph = dataclasses.replace(graph, initializers={**graph.initializers, **fresh})
    names = [name for name, _ in graph.inputs if name not in (TRAINING_FLAG, RANDOM_STEP)]
    feeds = dict(zip(names, _inputs(case, BATCH, seed=3), strict=True))
    if compiled.lowered.training_flag is not None:
        feeds[TRAINING_FLAG] = np.array(False)
    if compiled.lowered.random_step is not None:
        # In training: a step's masks and noise are fixed functions of the step counter,
        # so both sides of the central differences see the same ones.
        feeds[TRAINING_FLAG], feeds[RANDOM_STEP] = np.array(True), np.array(3)
    return check_graph_gradients(graph, parameters, feeds, seed=4)


@pytest.mark.parametrize("case", _layer_cases())
def test_layer_gradients_match_central_differences(case: Any) -> None:
    assert check_case(case) == []


@pytest.mark.parametrize("activation", _activation_values(), ids=_activation_id)
def test_activation_gradients_match_central_differences(activation: Any) -> None:
    assert check_case(_activation_case(activation)) == []
