"""infer_shapes: every layer's output types and weight shapes, before any ONNX is made.

A mismatch is reported at the offending entry, naming the layer, what it got and what it
needs; layers downstream of a failed one are skipped so one mistake gives one error. Sizes
are held to the limits here too (``specc.passes.sizes``), before anything is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from specc.diagnostics import DiagnosticSink
from specc.initializers import InitializerShapeError
from specc.layers.base import ShapeError, WeightSpec
from specc.layers.masks import output_flags
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes import sizes
from specc.passes.nested import check_use_types
from specc.passes.resolve import SEQUENTIAL_INPUT, LayerNode, Ref, ResolvedGraph
from specc.types import TensorType
from specc.weights import weight_key


@dataclass(frozen=True)
class Parameter:
    """One weight of the model, named once for every stage that names it.

    ``key`` is its name in weights files (``dense/kernel``; a wrapped layer's weight
    ``bilstm/forward_lstm/kernel``), ``onnx_name`` its initializer in the graph
    (``dense.kernel``, ``bilstm.forward_lstm.kernel``). ``trainable``: training updates
    it, that is the weight is trainable (not a BatchNormalization moving statistic) and its
    layer is not frozen.
    """

    owner: str  # the layer that owns it (a shared layer's first user)
    name: str  # its Keras name within the layer: ``kernel``, ``forward_lstm/kernel``
    shape: tuple[int, ...]
    initializer: Any
    regularizer: Any
    constraint: Any
    trainable: bool

    @classmethod
    def of(cls, owner: str, weight: WeightSpec, layer_trainable: bool) -> Parameter:
        """The parameter of a layer's weight (see ``Layer.weights``)."""
        return cls(
            owner,
            weight.name,
            weight.shape,
            weight.initializer,
            weight.regularizer,
            weight.constraint,
            weight.trainable and layer_trainable,
        )

    @property
    def key(self) -> str:
        return weight_key(self.owner, self.name)

    @property
    def onnx_name(self) -> str:
        return f"{self.owner}.{self.name}".replace("/", ".")


@dataclass
class TypedGraph:
    """A resolved graph with each node's input/output types and the model's weights."""

    resolved: ResolvedGraph
    input_types: dict[str, list[TensorType]]  # node name -> its inputs' types
    output_types: dict[str, list[TensorType]]  # node or input name -> its outputs' types
    parameters: list[Parameter]  # in layer order, each owner's in Keras's order
    # Node or input name -> whether each output carries a Keras mask (specc.layers.masks).
    masked: dict[str, list[bool]] = field(default_factory=dict)

    def type_of(self, ref: Ref) -> TensorType:
        """The type of the value a reference names."""
        return self.output_types[ref.name][ref.index]

    def parameters_of(self, owner: str) -> list[Parameter]:
        """The weights of layer ``owner`` (none for a layer that shares another's)."""
        return self._by_owner.get(owner, [])

    @cached_property
    def _by_owner(self) -> dict[str, list[Parameter]]:
        by_owner: dict[str, list[Parameter]] = {}
        for parameter in self.parameters:
            by_owner.setdefault(parameter.owner, []).append(parameter)
        return by_owner

    @property
    def outputs(self) -> list[TensorType]:
        """The types of the model's outputs, in order."""
        return [self.type_of(ref) for ref in self.resolved.outputs]


def error_path(node: LayerNode, error: ShapeError) -> tuple[str | int, ...]:
    """Where ``error`` points in the spec: its field of the node's entry (``layer.<key>``:
    of the wrapped layer's entry), as deep as the entries give those fields, else the
    entry's ``inputs``."""
    path: tuple[str | int, ...] = ()
    entry: object = node.layer
    for key in (error.field or "").split(".") if error.field else []:
        if not isinstance(entry, BaseModel) or key not in entry.model_fields_set:
            break
        path, entry = (*path, key), getattr(entry, key)
    return (*node.path, *path) if path else node.inputs_path


def _size_problems(
    node: LayerNode,
    label: str,
    given: list[TensorType],
    outputs: list[TensorType],
    layer_weights: list[WeightSpec],
    limits: Limits,
) -> list[tuple[str, str]]:
    """Every way this layer is over a size limit, as (code, message): its weights, its
    outputs, the values its computation builds."""
    found = [(sizes.PARAMS, sizes.too_many_parameters(label, layer_weights, limits))]
    for k, t in enumerate(outputs):
        what = f"{label} outputs" if len(outputs) == 1 else f"output {k} of {label}"
        found.append((sizes.VALUE_SIZE, sizes.too_many_elements(what, t, limits)))
    for what, value in node.layer.work_values(given):
        problem = sizes.too_many_elements(f"{label} builds {what}", value, limits)
        found.append((sizes.VALUE_SIZE, problem))
    return [(code, problem) for code, problem in found if problem is not None]


def _input_path(graph: ResolvedGraph, name: str) -> tuple[str | int, ...]:
    if name in graph.input_paths:
        return (*graph.input_paths[name], "shape")
    # The Sequential shorthand's input is the first layer's input_shape.
    return ("layers", 0, "input_shape") if name == SEQUENTIAL_INPUT else ()


def infer_shapes(graph: ResolvedGraph, limits: Limits = DEFAULT_LIMITS) -> TypedGraph:
    """Infer types through the graph; raise ``SpecError`` with every mismatch found, and
    every weight or value over ``limits``."""
    sink = DiagnosticSink()
    types: dict[str, list[TensorType]] = {}
    masked: dict[str, list[bool]] = {name: [False] for name in graph.inputs}
    for name, t in graph.inputs.items():
        problem = sizes.too_many_elements(f"input '{name}'", t, limits)
        if problem is not None:
            sink.error(sizes.VALUE_SIZE, problem, _input_path(graph, name))
            continue  # the layers that read it are skipped
        types[name] = [t]
    counts: list[tuple[str, int]] = []  # each weight owner's parameters, in graph order
    count_paths: list[tuple[str | int, ...]] = []
    input_types: dict[str, list[TensorType]] = {}
    weights: dict[str, list[WeightSpec]] = {}
    weight_users: dict[str, str] = {}
    for node in graph.nodes:
        if any(ref.name not in types for ref in node.inputs):
            continue  # an upstream layer failed and was reported
        bad = [ref for ref in node.inputs if ref.index >= len(types[ref.name])]
        if bad:
            count = len(types[bad[0].name])
            sink.error(
                "SPC302-no-such-output",
                f"'{bad[0].name}' has {count} output(s); '{bad[0]}' does not exist",
                node.inputs_path,
            )
            continue
        given = [types[ref.name][ref.index] for ref in node.inputs]
        label = f"{node.layer.type_name()} layer '{node.name}'"
        given_masks = [masked[ref.name][ref.index] for ref in node.inputs]
        try:
            outputs = node.layer.output_types(given)
            layer_weights = node.layer.weights(given)
            node.layer.check_masks(given, given_masks)
        except ShapeError as error:
            sink.error("SPC301-shape", f"{label}: {error}", error_path(node, error))
            continue
        too_big = _size_problems(node, label, given, outputs, layer_weights, limits)
        if too_big:
            for code, problem in too_big:
                sink.error(code, problem, node.path)
            continue  # nothing of it is allocated, and the layers after it are skipped
        if node.owner in weights and [w.shape for w in weights[node.owner]] != [
            w.shape for w in layer_weights
        ]:
            shapes = ", ".join(str(t) for t in given)
            sink.error(
                "SPC303-shared-shape",
                f"{label} shares the weights of '{node.owner}' "
                f"(used by '{weight_users[node.owner]}'), "
                f"but its input {shapes} would need weights of other shapes",
                node.inputs_path,
            )
            continue
        for weight in layer_weights:
            try:
                weight.initializer.check_shape(weight.shape)
            except InitializerShapeError as error:
                field = f"{weight.name}_initializer"
                path = (*node.path, field) if field in node.layer.model_fields_set else node.path
                sink.error("SPC304-initializer", f"{label}: {error}", path)
        if node.owner not in weights:
            counts.append((label, sizes.parameter_count(layer_weights)))
            count_paths.append(node.path)
        weights.setdefault(node.owner, layer_weights)
        weight_users.setdefault(node.owner, node.name)
        input_types[node.name] = given
        types[node.name] = outputs
        masked[node.name] = output_flags(node.layer, given_masks, len(outputs))
    check_use_types(graph.uses, types, sink)
    for use in graph.uses:  # a sub-model use's outputs, by its name, as check_use_types
        if all(ref.name in masked for ref in use.outputs):
            masked[use.name] = [masked[ref.name][ref.index] for ref in use.outputs]
    for k, ref in enumerate(graph.outputs):
        if ref.name in types and ref.index >= len(types[ref.name]):
            sink.error(
                "SPC302-no-such-output",
                f"'{ref.name}' has {len(types[ref.name])} output(s); '{ref}' does not exist",
                ("outputs", k),
            )
    # With layers skipped the total is unknown; their own errors come first.
    over = sizes.total_over_limit(counts, limits) if not sink.diagnostics else None
    if over is not None:
        index, problem = over
        sink.error(sizes.PARAMS, problem, count_paths[index])
    sink.check()
    trainable = {node.owner: node.layer.trainable for node in graph.nodes}
    parameters = [
        Parameter.of(owner, spec, trainable.get(owner, True))
        for owner, specs in weights.items()
        for spec in specs
    ]
    return TypedGraph(graph, input_types, types, parameters, masked)
