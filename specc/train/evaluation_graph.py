"""The evaluation graph: a training graph's forward pass in inference mode, with its losses
and the metrics' statistics, and no gradients.

Its weights are graph inputs, as in the step graph (``specc.train.step_graph``), so that the
standard backend feeds it the state a step just wrote; ``specc evaluate`` feeds it the
weights to evaluate, and never builds a step: no differentiation, no optimizer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from specc.graph import Graph
from specc.random_ops import RANDOM_STEP
from specc.train.graph import TrainingGraph
from specc.types import TensorType


def build_evaluation_graph(training: TrainingGraph, forward: Graph | None = None) -> Graph:
    """The forward pass of ``training`` in inference mode (the flag False), with its
    losses; ``forward``: that pass with its weights as inputs, if already made
    (``parameters_as_inputs``, perhaps rewritten further)."""
    if forward is None:
        forward = parameters_as_inputs(training.graph)
    # Inference draws nothing: the random step is any constant.
    return fixed_input(fixed_input(forward, training.flag, False), RANDOM_STEP, 0)


def state_type(array: np.ndarray) -> TensorType:
    """The type of a state tensor: its exact shape, no batch axis."""
    return TensorType(str(np.asarray(array).dtype), tuple(np.shape(array)), batched=False)


def parameters_as_inputs(graph: Graph) -> Graph:
    """``graph`` with its weights as graph inputs instead of initializers (state fed in)."""
    initializers = {k: v for k, v in graph.initializers.items() if k not in graph.parameters}
    inputs = [*graph.inputs]
    inputs += [(name, state_type(graph.initializers[name])) for name in graph.parameters]
    return dataclasses.replace(graph, inputs=inputs, initializers=initializers, parameters=[])


def fixed_input(graph: Graph, name: str | None, value: bool | int) -> Graph:
    """``graph`` with input ``name`` (the training flag, the random step), if it has one,
    fixed to ``value``."""
    if name is None or name not in dict(graph.inputs):
        return graph
    inputs = [(n, t) for n, t in graph.inputs if n != name]
    initializers = {**graph.initializers, name: np.array(value)}
    return dataclasses.replace(graph, inputs=inputs, initializers=initializers)
