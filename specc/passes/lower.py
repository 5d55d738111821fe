"""materialize_weights and lower_to_onnx: from a typed graph to an ONNX-ready ``Graph``.

Weights are drawn from their initializers at build time (or taken from a weights file),
stored as initializers named ``<layer>.<weight>``; every layer lowers itself inside a
scope named after it, so nodes are called ``<layer>/<OpType>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.graph import Graph, GraphBuilder, Value
from specc.layers.base import LowerContext, MovingUpdate, ShapeError
from specc.layers.layout import Placed, convert, lower_layer
from specc.layers.masks import output_masks
from specc.passes.shapes import Parameter, TypedGraph, error_path
from specc.spec.metadata import labels_by_output
from specc.types import TensorType
from specc.weights import check_weights

DESCRIPTION_KEY = "specc.model"


@dataclass(frozen=True)
class Head:
    """A model output computed as ``softmax``/``sigmoid`` of ``pre_activation``: a
    crossentropy on its probabilities can be computed from the pre-activation instead (the
    numerically stable form Keras uses for ``from_logits``)."""

    activation: str  # "softmax" or "sigmoid"
    pre_activation: Value
    axis: int | None  # softmax's axis, as given (negative counts from the last)


@dataclass(frozen=True)
class ActivityPenalty:
    """A layer's ``activity_regularizer`` and the outputs it penalises: Keras adds the
    penalty of every output tensor of the layer to the loss."""

    layer: str
    regularizer: Any
    outputs: list[tuple[Value, TensorType]]


@dataclass
class LoweredModel:
    """The model's graph and what lowering learnt that later stages need: the training
    graph, the training backends and the exports read these instead of searching the graph.
    """

    graph: Graph
    parameters: list[Parameter]
    # Each lowered layer's output values, as the layer returned them (in its layout).
    layer_outputs: dict[str, list[Value]]
    # Model output name -> its softmax/sigmoid head, for outputs computed by one.
    heads: dict[str, Head]
    # BatchNormalization's moving statistics, in graph order.
    moving_updates: list[MovingUpdate]
    # The training flag's graph input in a training lowering (None otherwise, or when no
    # layer reads it).
    training_flag: Value | None
    activity_penalties: list[ActivityPenalty]
    # Lowered for a training graph (see ``lower_to_onnx``), not for inference.
    for_training: bool
    # The random ops' step counter (``specc.random_step``), a graph input of a training
    # lowering whose layers draw random numbers; None otherwise.
    random_step: Value | None = None
    # Model output name -> its Keras mask (float32 (batch, steps) 0/1), for the outputs
    # that carry one: the losses weigh their steps by it (specc.layers.masks).
    output_masks: dict[str, Value] = field(default_factory=dict)


def expected_weight_shapes(typed: TypedGraph) -> dict[str, tuple[int, ...]]:
    """Every weight's file key and shape, in layer order."""
    return {p.key: p.shape for p in typed.parameters}


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
    return {p.key: p.initializer.sample(p.shape, rng) for p in typed.parameters}


def lower_to_onnx(
    typed: TypedGraph,
    weights: dict[str, np.ndarray],
    for_training: bool = False,
    seed: int | None = None,
    fused_recurrence: bool = False,
) -> LoweredModel:
    """Build the model graph: inputs, every layer's ops, outputs named after layers.

    ``for_training``: the graph a training graph is built from, where layers may pick
    lowerings that train faster (``LowerContext.for_training``) and the training flag is
    a graph input; the parameters (names, shapes) are the same either way, only the ops
    computing with them differ. ``seed`` seeds the random ops of a training graph whose
    layers give none (``LowerContext.op_stream``); without it each lowering draws its own.
    ``fused_recurrence``: a training graph keeps ONNX's fused recurrent ops
    (``LowerContext.fused_recurrence``).
    """
    resolved = typed.resolved
    b = GraphBuilder(resolved.model_name)
    values: dict[str, list[Placed]] = {}
    masks: dict[str, list[Value | None]] = {}
    for name, tensor in resolved.inputs.items():
        values[name] = [Placed(b.input(name, tensor))]
        masks[name] = [None]
    ctx = LowerContext(
        b, for_training=for_training, fused_recurrence=fused_recurrence, random_seed=seed
    )
    params: dict[str, dict[str, Value]] = {}
    for p in typed.parameters:
        params.setdefault(p.owner, {})[p.name] = b.parameter(p.onnx_name, weights[p.key])
    needed = _needed_nodes(typed)
    layer_outputs: dict[str, list[Value]] = {}
    penalties: list[ActivityPenalty] = []
    for node in resolved.nodes:
        if node.name not in needed:
            continue
        inputs = [values[ref.name][ref.index] for ref in node.inputs]
        ctx.layer, ctx.activity = node.owner, None
        ctx.input_masks = [masks[ref.name][ref.index] for ref in node.inputs]
        input_types = typed.input_types[node.name]
        with b.scope(node.name):
            try:
                values[node.name] = lower_layer(
                    ctx, node.layer, inputs, input_types, params.get(node.owner, {})
                )
            except ShapeError as error:
                # A lowering this graph cannot hold (onnxruntime-training's, for a few
                # configs): reported at the layer, as shape inference reports its errors.
                label = f"{node.layer.type_name()} layer '{node.name}'"
                problem = Diagnostic("SPC301-shape", f"{label}: {error}", error_path(node, error))
                raise SpecError([problem]) from None
            # A mask is (batch, steps) whatever layout the values are placed in; a layer
            # making one reads its inputs in their native layout.
            makes = node.layer.mask_rule().kind == "compute"
            natives = [convert(b, p, None) for p in inputs] if makes else []
            masks[node.name] = output_masks(
                node.layer, ctx, natives, input_types, ctx.input_masks, len(values[node.name])
            )
        layer_outputs[node.name] = [placed.value for placed in values[node.name]]
        if node.layer.activity_regularizer is not None:
            # The layer's outputs, unless its lowering declared what it penalises.
            produced = ctx.activity
            if produced is None:
                outputs = typed.output_types[node.name]
                produced = list(zip(layer_outputs[node.name], outputs, strict=True))
            penalties.append(ActivityPenalty(node.name, node.layer.activity_regularizer, produced))
    for name, refs in resolved.aliases.items():  # a sub-model use's outputs, by its name
        if all(ref.name in values for ref in refs):
            values[name] = [values[ref.name][ref.index] for ref in refs]
            masks[name] = [masks[ref.name][ref.index] for ref in refs]
    heads: dict[str, Head] = {}
    final_masks: dict[str, Value] = {}
    for ref, tensor in zip(resolved.outputs, typed.outputs, strict=True):
        mask = masks[ref.name][ref.index]
        if mask is not None:
            final_masks[str(ref)] = mask
        with b.scope(ref.name):
            value = convert(b, values[ref.name][ref.index], None)
        activated = b.graph.activated.get(value.name)
        if activated is not None:
            heads[str(ref)] = Head(activated.kind, Value(activated.source), activated.axis)
        b.output(value, str(ref), tensor)
    flag = ctx.training_flag if for_training else None
    step = ctx.random_step_input if for_training else None
    return LoweredModel(
        b.graph,
        typed.parameters,
        layer_outputs,
        heads,
        ctx.moving_updates,
        flag,
        penalties,
        for_training,
        step,
        final_masks,
    )


def _needed_nodes(typed: TypedGraph) -> set[str]:
    """Layers some output depends on; a dangling layer is not lowered (as in Keras)."""
    by_name = typed.resolved.nodes_by_name
    needed: set[str] = set()
    stack = [typed.resolved.value_of(ref).name for ref in typed.resolved.outputs]
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
