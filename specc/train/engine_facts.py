"""The ops onnxruntime-training 1.19.2 cannot differentiate, or differentiates wrongly.

Two tables, each entry with a one-line reason and its section of ``docs/engine-notes.md``:
``NO_GRADIENT`` (the engine refuses the graph, at generation, load or the first step) and
``WRONG_GRADIENT`` (everything runs and the gradient is wrong). An entry may carry a
condition on the node, read statically from the model handed to ``generate_artifacts``:
its attributes, which of its outputs are used, constant inputs and the shapes ONNX shape
inference gives. Only nodes on a gradient path matter (a float value reached from a
trainable parameter that reaches a graph output): the engine never builds a gradient for
the others, so an ``ArgMax`` on a metric or a ``Sign`` of the labels is fine.

``forbidden_nodes`` lists the violations in a model; the lowering must never produce one,
and ``tests/test_engine_facts.py`` checks that over every graph the layer matrix trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

NOTES = "docs/engine-notes.md"
_FLOATS = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}


@dataclass(frozen=True)
class NodeView:
    """A node of the checked model, with what the conditions need to know around it."""

    node: onnx.NodeProto
    # Names of values some node or graph output reads.
    used: frozenset[str]
    # Values on a gradient path.
    differentiable: frozenset[str]
    constants: dict[str, np.ndarray]
    # Inferred shapes: a dim is an int when static, None when not; None when unknown.
    shapes: dict[str, tuple[int | None, ...] | None]

    def attribute(self, name: str, default: object = None) -> object:
        """The attribute's Python value, or ``default`` when the node does not set it."""
        for a in self.node.attribute:
            if a.name == name:
                value = onnx.helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def input(self, index: int) -> str:
        """The name of input ``index`` ("" when absent or omitted)."""
        return self.node.input[index] if index < len(self.node.input) else ""

    def shape(self, index: int) -> tuple[int | None, ...] | None:
        """The inferred shape of input ``index``, None when inference gave none."""
        return self.shapes.get(self.input(index))


@dataclass(frozen=True)
class Fact:
    """One engine fact about an op type: why it is forbidden, where it is documented."""

    why: str
    anchor: str
    # True when the node hits the fact; None: every node of the type does.
    applies: Callable[[NodeView], bool] | None = None

    @property
    def doc(self) -> str:
        """The fact's section, as a repository path with an anchor."""
        return f"{NOTES}#{self.anchor}"


def _not_forward(n: NodeView) -> bool:
    return (
        n.attribute("direction", "forward") != "forward"
        or n.attribute("layout", 0) != 0
        or bool(n.input(4))  # sequence_lens
    )


def _lacks(n: NodeView, *inputs: int) -> bool:
    return not all(n.input(i) for i in inputs)


def _negative_step(n: NodeView) -> bool:
    steps = n.input(4)
    if not steps:
        return False
    # A step computed at run time cannot be read statically: refused as if negative.
    return steps not in n.constants or bool(np.any(n.constants[steps] < 0))


def _unused_output(n: NodeView) -> bool:
    return any(not o or o not in n.used for o in n.node.output)


def _exponent_trained(n: NodeView) -> bool:
    return n.input(1) in n.differentiable


def _any_dim_variable(n: NodeView) -> bool:
    # No inferred shape counts as variable: the engine would read none either.
    shape = n.shape(0)
    return shape is None or any(d is None for d in shape)


def _spatial_dim_variable(n: NodeView) -> bool:
    shape = n.shape(0)
    return shape is None or any(d is None for d in shape[2:])


# Measured one by one: generate_artifacts fails with "The gradient builder has not been
# registered" (Sign and Floor too, although their true gradient is zero).
_NO_BUILDER_OPS = (
    *("Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "PRelu", "HardSwish", "Mish"),
    *("Celu", "ThresholdedRelu", "GlobalMaxPool", "RNN", "Einsum", "CumSum", "Sum", "Mean"),
    *("ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare", "ReduceLogSum"),
    *("InstanceNormalization", "LpNormalization", "Sign", "Floor"),
)
NO_GRADIENT: dict[str, Fact] = {
    **{
        op: Fact("no gradient builder is registered for it", "no-gradient-builder")
        for op in _NO_BUILDER_OPS
    },
    "Loop": Fact("no gradient builder; a body reading an outer weight fails too", "loop-scan"),
    "Scan": Fact("no gradient builder; a body reading an outer weight fails too", "loop-scan"),
    "ConvTranspose": Fact("a gradient builder but no CPU ConvTransposeGrad kernel", "no-kernel"),
    "Resize": Fact("a gradient builder but no CPU ResizeGrad kernel", "no-kernel"),
    "LSTM": Fact(
        "only forward, layout 0, without sequence_lens and with initial_h and initial_c",
        "fused-recurrent",
        lambda n: _not_forward(n) or _lacks(n, 5, 6),
    ),
    "GRU": Fact(
        "only forward, layout 0, without sequence_lens and with initial_h",
        "fused-recurrent",
        lambda n: _not_forward(n) or _lacks(n, 5),
    ),
    "LayerNormalization": Fact(
        "the gradient builder reads the Mean and InvStdDev outputs: all three declared",
        "declared-outputs",
        lambda n: len(n.node.output) < 3 or not all(n.node.output),
    ),
    "Slice": Fact(
        "SliceGrad fails on a negative step (a step not constant counts as one)",
        "negative-slice",
        _negative_step,
    ),
    "Pad": Fact(
        "the gradient supports constant mode only",
        "pad-mode",
        lambda n: n.attribute("mode", "constant") != "constant",
    ),
    "Pow": Fact("no gradient with respect to the exponent", "pow-exponent", _exponent_trained),
}

WRONG_GRADIENT: dict[str, Fact] = {
    "Conv": Fact(
        "with auto_pad SAME_* the weight gradient is wrong: explicit pads only",
        "conv-auto-pad",
        lambda n: str(n.attribute("auto_pad", "NOTSET")).startswith("SAME"),
    ),
    "Split": Fact(
        "with an unused output the gradients land at the wrong offsets",
        "split-unused-output",
        _unused_output,
    ),
    "BatchNormalization": Fact(
        "training_mode=0 is trained as batch statistics, and mode 1 breaks the eval model",
        "batch-normalization",
    ),
    "Dropout": Fact(
        "DropoutGrad scales by 1/(1-ratio) even when training is False",
        "dropout-grad",
    ),
    "AveragePool": Fact(
        "AveragePoolGrad takes the whole input shape from static shape information",
        "pool-grad-shapes",
        _any_dim_variable,
    ),
    "MaxPool": Fact(
        "MaxPoolGrad takes the spatial sizes from static shape information",
        "pool-grad-shapes",
        _spatial_dim_variable,
    ),
}


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


def _differentiable(model: onnx.ModelProto, parameters: set[str]) -> frozenset[str]:
    """Float values that depend on a parameter and on which a graph output depends."""
    g = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.input, *g.output]}

    def is_float(name: str) -> bool:
        # An untyped value (an op shape inference does not know) is assumed to be float.
        return types.get(name, TensorProto.FLOAT) in _FLOATS

    reached = set(parameters)
    for node in g.node:  # topological order
        if any(i in reached for i in node.input):
            reached |= {o for o in node.output if o and is_float(o)}
    needed = {o.name for o in g.output}
    for node in reversed(g.node):
        if any(o in needed for o in node.output):
            needed |= {i for i in node.input if i}
    return frozenset(reached & needed)


def forbidden_nodes(model: onnx.ModelProto, parameters: list[str]) -> list[str]:
    """Every node on a gradient path that a fact forbids, as ``name (op): why [doc]``."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    differentiable = _differentiable(inferred, set(parameters))
    used = frozenset({i for n in g.node for i in n.input} | {o.name for o in g.output})
    constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    shapes = {v.name: _static_shape(v) for v in [*g.value_info, *g.input, *g.output]}
    found = []
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        # On a gradient path: a gradient flows in through an output and out through an input.
        if not (differentiable & {*node.input} and differentiable & {*node.output}):
            continue
        view = NodeView(node, used, differentiable, constants, shapes)
        for table in (NO_GRADIENT, WRONG_GRADIENT):
            fact = table.get(node.op_type)
            if fact is not None and (fact.applies is None or fact.applies(view)):
                found.append(f"{node.name} ({node.op_type}): {fact.why} [{fact.doc}]")
    return found
