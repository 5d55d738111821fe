"""materialize_weights and lower_to_onnx: from a typed graph to an ONNX-ready ``Graph``.

Weights are drawn from their initializers at build time (or taken from a weights file),
stored as initializers named ``<layer>.<weight>``; every layer lowers itself inside a
scope named after it, so nodes are called ``<layer>/<OpType>``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from specc.graph import Graph, GraphBuilder, Value
from specc.layers.base import LowerContext
from specc.passes.layout import Placed, convert, lower_layer
from specc.passes.shapes import TypedGraph
from specc.spec.metadata import labels_by_output
from specc.types import TensorType
from specc.weights import check_weights, weight_key

DESCRIPTION_KEY = "specc.model"


def parameter_name(layer: str, weight: str) -> str:
    """The ONNX initializer name of a weight: ``dense_1.kernel``; a wrapped layer's weight
    ``forward_lstm/kernel`` of ``bilstm`` becomes ``bilstm.forward_lstm.kernel``."""
    return f"{layer}.{weight.replace('/', '.')}"


def expected_weight_shapes(typed: TypedGraph) -> dict[str, tuple[int, ...]]:
    """Every weight's file key and shape, in layer order."""
    return {
        weight_key(owner, w.name): w.shape for owner, specs in typed.weights.items() for w in specs
    }


def materialize_weights(
    typed: TypedGraph,
    given: dict[str, np.ndarray] | None = None,
    weights_file: str = "<weights>",
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Weights by file key: checked copies of ``given``, or drawn from the initializers."""
    expected = expected_weight_shapes(typed)
    if given is not None:
        return check_weights(weights_file, given, expected)
    # infer_shapes checked that every initializer can fill its weight.
    rng = rng if rng is not None else np.random.default_rng()
    return {
        weight_key(owner, spec.name): spec.initializer.sample(spec.shape, rng)
        for owner, specs in typed.weights.items()
        for spec in specs
    }


def lower_to_onnx(
    typed: TypedGraph, weights: dict[str, np.ndarray], for_training: bool = False
) -> Graph:
    """Build the model graph: inputs, every layer's ops, outputs named after layers.

    ``for_training``: the graph a training graph is built from, where layers may pick
    lowerings that train faster (``LowerContext.for_training``); the parameters (names,
    shapes) are the same either way, only the ops computing with them differ.
    """
    resolved = typed.resolved
    b = GraphBuilder(resolved.model_name)
    values: dict[str, list[Placed]] = {}
    for name, tensor in resolved.inputs.items():
        values[name] = [Placed(b.input(name, tensor))]
    ctx = LowerContext(b, for_training=for_training)
    params: dict[str, dict[str, Value]] = {}
    for owner, specs in typed.weights.items():
        params[owner] = {
            w.name: b.parameter(parameter_name(owner, w.name), weights[weight_key(owner, w.name)])
            for w in specs
        }
    needed = _needed_nodes(typed)
    for node in resolved.nodes:
        if node.name not in needed:
            continue
        inputs = [values[ref.name][ref.index] for ref in node.inputs]
        with b.scope(node.name):
            values[node.name] = lower_layer(
                ctx, node.layer, inputs, typed.input_types[node.name], params[node.owner]
            )
        b.graph.layer_outputs[node.name] = [p.value.name for p in values[node.name]]
    for ref, tensor in zip(resolved.outputs, typed.outputs, strict=True):
        with b.scope(ref.name):
            value = convert(b, values[ref.name][ref.index], None)
        b.output(value, str(ref), tensor)
    return b.graph


def _needed_nodes(typed: TypedGraph) -> set[str]:
    """Layers some output depends on; a dangling layer is not lowered (as in Keras)."""
    by_name = typed.resolved.nodes_by_name
    needed: set[str] = set()
    stack = [ref.name for ref in typed.resolved.outputs]
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        stack.extend(ref.name for ref in by_name[name].inputs)
    return needed


def model_metadata(typed: TypedGraph) -> dict[str, str]:
    """The model's ONNX metadata: its description (``specc.model``, see
    ``model_description``), which export and apps read to call the model."""
    return {DESCRIPTION_KEY: json.dumps(model_description(typed), sort_keys=True)}


def model_description(typed: TypedGraph) -> dict[str, Any]:
    """What an app needs to call the model: its inputs and outputs by name, with dtypes,
    shapes (null: variable; the batch axis first) and class labels where the spec's
    ``metadata.labels`` gives them (a mapping from output name to a list of labels)."""
    outputs = [str(ref) for ref in typed.resolved.outputs]
    labels = labels_by_output(typed.resolved.spec.metadata, outputs)

    def tensor(name: str, t: TensorType) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "dtype": t.dtype, "shape": list(t.full_shape)}
        if name in labels:
            entry["labels"] = labels[name]
        return entry

    return {
        "name": typed.resolved.model_name,
        "inputs": [tensor(name, t) for name, t in typed.resolved.inputs.items()],
        "outputs": [
            tensor(str(ref), t)
            for ref, t in zip(typed.resolved.outputs, typed.outputs, strict=True)
        ],
    }
