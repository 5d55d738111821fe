"""What the compiler's passes report when asked: their times, and each stage's product
as readable text for ``--dump-stages`` (see ``specc.pipeline``).

A product becomes JSON (the loaded spec, the validated spec, the resolved and typed graphs,
the weights, the model's metadata) or, for the lowered graph, a listing with one line per
node. Everything a spec wrote (names, labels, attribute strings) lands as data: a JSON
string, or in the listing a name with every control character escaped
(``specc.escape.terminal_text``) or a JSON-encoded value, so a dump shown in a terminal or
an editor cannot move the cursor or pass for another line. Arrays are summarised (shape,
dtype, a SHA-256 of their bytes), never written out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specc.escape import terminal_text
from specc.graph import Graph, Node
from specc.lazy_numpy import np
from specc.passes.resolve import ResolvedGraph
from specc.passes.shapes import TypedGraph
from specc.spec.loader import LoadedSpec
from specc.spec.model import ModelSpec
from specc.types import TensorType

if TYPE_CHECKING:  # an annotation only: checking a spec imports no lowering
    from specc.passes.lower import LoweredModel


@dataclass
class Trace:
    """What the passes run inside ``tracing`` report: each pass's name and seconds, in the
    order they ran (a failing pass included); with ``dump``, each product's readable form
    by its stage file name (``specc.pipeline.STAGE_FILES``)."""

    dump: bool = False
    times: list[tuple[str, float]] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)


# The trace of the passes running in this context, if anyone asked. A context variable,
# as ``decimal.localcontext`` keeps its context: the commands that train and export reach
# the compiler through other modules, which need not pass an observer along; what the
# passes compute never depends on it.
_TRACE: ContextVar[Trace | None] = ContextVar("specc_pipeline_trace", default=None)


@contextmanager
def tracing(trace: Trace) -> Iterator[Trace]:
    """Record in ``trace`` every pass that runs inside the block."""
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


def current_trace() -> Trace | None:
    """The trace the passes running now report to, if anyone asked for one."""
    return _TRACE.get()


# Attribute arrays up to this many elements are listed by value; larger ones summarised.
_SMALL_ARRAY = 16


def _json(value: object) -> str:
    # ensure_ascii: every control, direction and other non-ASCII character as a \u escape.
    return json.dumps(value, indent=2, ensure_ascii=True) + "\n"


def _type(t: TensorType) -> dict[str, Any]:
    return {"dtype": t.dtype, "shape": list(t.full_shape)}


def loaded_json(loaded: LoadedSpec) -> str:
    """The spec as read: its plain data, before any checking."""
    return _json({"file": loaded.file, "data": loaded.data})


def spec_json(spec: ModelSpec) -> str:
    """The validated spec, every default filled in (``model_dump``)."""
    return _json(spec.model_dump(mode="json"))


def resolved_json(resolved: ResolvedGraph) -> str:
    """The graph the references make: inputs, layer nodes in topological order with the
    values each takes (its edges), and the outputs."""
    return _json(
        {
            "name": resolved.model_name,
            "inputs": {name: _type(t) for name, t in resolved.inputs.items()},
            "nodes": [
                {
                    "name": node.name,
                    "type": type(node.layer).__name__,
                    "inputs": [str(ref) for ref in node.inputs],
                    "owner": node.owner,
                }
                for node in resolved.nodes
            ],
            "outputs": [str(ref) for ref in resolved.outputs],
        }
    )


def typed_json(typed: TypedGraph) -> str:
    """Each layer's input and output types, and each weight owner's weights and shapes."""
    layers = []
    for node in typed.resolved.nodes:
        layer: dict[str, Any] = {
            "name": node.name,
            "inputs": [_type(t) for t in typed.input_types.get(node.name, [])],
            "outputs": [_type(t) for t in typed.output_types.get(node.name, [])],
        }
        if node.name not in typed.resolved.owning_nodes:
            layer["shares"] = node.owner
        layer["weights"] = [
            {"name": p.name, "shape": list(p.shape), "trainable": p.trainable}
            for p in (
                typed.parameters_of(node.owner) if node.name in typed.resolved.owning_nodes else []
            )
        ]
        layers.append(layer)
    return _json(
        {
            "inputs": {name: _type(t) for name, t in typed.resolved.inputs.items()},
            "layers": layers,
            "outputs": [
                {"name": str(ref), **_type(t)}
                for ref, t in zip(typed.resolved.outputs, typed.outputs, strict=True)
            ],
        }
    )


def _summary(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array)
    return {
        "shape": list(data.shape),
        "dtype": str(data.dtype),
        "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
    }


def weights_json(weights: Mapping[str, np.ndarray]) -> str:
    """Every weight by file key: shape, dtype and a checksum of its values."""
    return _json({key: _summary(array) for key, array in weights.items()})


def metadata_json(metadata: Mapping[str, str]) -> str:
    """The model's ONNX metadata, each value (itself JSON) parsed."""
    return _json({key: json.loads(value) for key, value in metadata.items()})


def _attribute(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= _SMALL_ARRAY:
            return f"{value.dtype}{json.dumps(value.tolist())}"
        return f"{value.dtype}{list(value.shape)} sha256={_summary(value)['sha256'][:16]}"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return json.dumps(value, ensure_ascii=True, default=repr)


def _names(names: list[str]) -> str:
    return ", ".join(terminal_text(name) if name else '""' for name in names)


def _node_line(node: Node) -> str:
    op = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
    line = f"  {terminal_text(node.name)}: {terminal_text(op)}({_names(node.inputs)})"
    line += f" -> {_names(node.outputs)}"
    if node.attributes:
        attrs = ", ".join(
            f"{terminal_text(key)}={_attribute(value)}" for key, value in node.attributes.items()
        )
        line += f" {{{attrs}}}"
    return line


def graph_listing(graph: Graph) -> str:
    """The lowered graph as text: inputs, one line per node
    (``name: op(inputs) -> outputs {attrs}``), outputs, then initializers (weights marked)."""
    parameters = set(graph.parameters)
    lines = [f"graph {json.dumps(graph.name, ensure_ascii=True)}", "inputs:"]
    lines += [f"  {terminal_text(name)}: {t.dtype}{_shape(t)}" for name, t in graph.inputs]
    lines.append(f"nodes ({len(graph.nodes)}):")
    lines += [_node_line(node) for node in graph.nodes]
    lines.append("outputs:")
    lines += [f"  {terminal_text(name)}: {t.dtype}{_shape(t)}" for name, t in graph.outputs]
    lines.append(f"initializers ({len(graph.initializers)}):")
    for name, array in graph.initializers.items():
        kind = "weight" if name in parameters else "constant"
        lines.append(f"  {terminal_text(name)}: {array.dtype}{list(array.shape)} {kind}")
    return "\n".join(lines) + "\n"


def lowered_listing(lowered: LoweredModel) -> str:
    """``graph_listing`` of the lowered graph, then what lowering hands later stages: the
    softmax/sigmoid heads, the moving-statistic updates, the training flag, the activity
    penalties."""
    lines = [graph_listing(lowered.graph).rstrip("\n"), "heads:"]
    lines += [
        f"  {terminal_text(output)}: {head.activation}({terminal_text(head.pre_activation.name)})"
        for output, head in lowered.heads.items()
    ]
    lines.append("moving updates:")
    lines += [
        f"  {terminal_text(u.parameter)} <- {terminal_text(u.batch_statistic)}"
        f" (momentum {u.momentum})"
        for u in lowered.moving_updates
    ]
    flag = lowered.training_flag
    lines.append(f"training flag: {terminal_text(flag.name) if flag else '-'}")
    lines.append("activity penalties:")
    lines += [
        f"  {terminal_text(a.layer)}: {_names([value.name for value, _ in a.outputs])}"
        for a in lowered.activity_penalties
    ]
    return "\n".join(lines) + "\n"


def _shape(t: TensorType) -> str:
    return json.dumps(list(t.full_shape))


# Each product a pass makes that has a readable form: its file extension and its renderer.
RENDERERS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "loaded": ("json", loaded_json),
    "spec": ("json", spec_json),
    "resolved": ("json", resolved_json),
    "typed": ("json", typed_json),
    "weights": ("json", weights_json),
    "lowered": ("txt", lowered_listing),
    "metadata": ("json", metadata_json),
}
