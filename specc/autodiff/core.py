"""Reverse-mode differentiation of a ``Graph`` into standard ONNX ops.

``differentiate(graph, loss, wrt)`` appends to a copy of ``graph`` the nodes computing
d loss / d w for every ``w`` in ``wrt`` (initializers or graph inputs), and returns the
graph with the name of each gradient. Only the default ONNX domain is used (opset 17 and
up), so the result runs on stock onnxruntime, in the browser and on phones.

How:

- Only nodes on a path from some ``wrt`` to ``loss`` are differentiated: a value is
  *active* when it depends on a ``wrt`` through float tensors, and *needed* when ``loss``
  depends on it. Gradients flow only into inputs that are both, so branches that reach no
  weight, and values the loss never reads, cost nothing.
- Each op's vector-Jacobian product is a rule registered per op type (``vjp``), in one
  small module per op family (``specc.autodiff.rules_*``). A rule gets the output gradients
  and returns one gradient per input (None where the input needs none); it reads the
  forward values by name, so nothing is recomputed.
- Gradients reaching one value along several paths are summed.
- Static types come from ONNX shape inference over the forward graph (``value_types``): a
  rule knows each value's rank, dtype and whatever dimensions are fixed, and undoes
  broadcasting by summing over the broadcast axes (``Backward.unbroadcast``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specc.graph import Graph, GraphBuilder, Node, Value
from specc.onnx_model import ValueType, value_types
from specc.types import FLOAT, INT64

# dtype names of values that can carry a gradient.
DIFFERENTIABLE = frozenset({"float32", "float16", "float64"})


class NoGradientRule(LookupError):
    """An op on a gradient path has no registered rule."""


@dataclass(frozen=True)
class GradientForms:
    """Which forms the rules may use, for the runtimes a gradient graph must run on."""

    # MaxPool's gradient may read MaxPool's ``Indices`` output. onnxruntime-web's WebGPU
    # provider runs MaxPool but fails on that output ("The Indices output is not
    # supported yet", onnxruntime-web 1.30), so a graph for the browser finds each
    # window's first maximum with ArgMax instead.
    max_pool_indices: bool = True
    # Zeros shaped like a weight (an embedding table's gradient, before the batch's rows
    # are added in) may take their shape from the weight: onnxruntime then folds them into
    # a constant when it loads the graph, and a step fills nothing. But it also stores that
    # constant in every model it saves optimized, so a graph written in ORT format (a
    # mobile train_step.ort) grew by the table; without this the zeros take their shape
    # from the batch at run time, at one fill of the table a step.
    foldable_zeros: bool = True


# What every onnxruntime provider specc trains on (CPU, CUDA, mobile) runs.
DEFAULT_FORMS = GradientForms()


@dataclass
class ForwardIndex:
    """The forward graph as every rule of one differentiation sees it."""

    producers: dict[str, Node]
    # How many forward nodes read each value (so, how many gradients reach it).
    readers: Counter[str]
    # Values whose whole gradient is already zero wherever the value is not positive: the
    # Relu that makes one passes its gradient on as it is (a MaxPool reading a Relu
    # masks its pooled gradient, four times smaller under 2x2 pooling, instead).
    positive_only: set[str] = field(default_factory=set)

    def sole_reader_of(self, value: str, op_type: str) -> bool:
        """Whether ``value`` is made by an ``op_type`` node and read by one node only."""
        node = self.producers.get(value)
        return node is not None and node.op_type == op_type and self.readers[value] == 1


@dataclass
class Backward:
    """What a rule sees of one forward node, and the builder it adds its ops with."""

    b: GraphBuilder
    node: Node
    types: dict[str, ValueType]
    # Which inputs need a gradient (active inputs, by position).
    wanted: tuple[bool, ...]
    forms: GradientForms = DEFAULT_FORMS
    # The node as it stands in the gradient graph (a copy of the forward graph), where a
    # rule may ask the forward pass for an optional output (``declared_y``).
    copy: Node | None = None
    forward: ForwardIndex | None = None

    def x(self, index: int) -> Value:
        """Forward input ``index``."""
        return Value(self.node.inputs[index])

    def y(self, index: int = 0) -> Value:
        """Forward output ``index``."""
        return Value(self.node.outputs[index])

    def declared_y(self, index: int, hint: str) -> Value:
        """Forward output ``index``, declared on the gradient graph's copy of the node where
        the forward graph left it out, so that the forward pass computes it once instead of
        the gradient computing it again (MaxPool's Indices)."""
        assert self.copy is not None
        outputs = self.copy.outputs
        if index < len(outputs) and outputs[index]:
            return Value(outputs[index])
        name = self.b.fresh_name(f"{self.node.name}/{hint}")
        outputs.extend([""] * (index + 1 - len(outputs)))
        outputs[index] = name
        return Value(name)

    @property
    def inputs(self) -> list[Value]:
        return [Value(name) for name in self.node.inputs]

    def has_input(self, index: int) -> bool:
        """Whether optional input ``index`` is given (ONNX writes "" for a skipped one)."""
        return index < len(self.node.inputs) and self.node.inputs[index] != ""

    def wants(self, index: int) -> bool:
        """Whether input ``index`` needs a gradient."""
        return index < len(self.wanted) and self.wanted[index]

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attributes.get(name, default)

    def type_of(self, value: Value) -> ValueType:
        """The type of a forward value (gradients have their forward value's type)."""
        found = self.types.get(value.name)
        if found is None or found.shape is None:
            raise ValueError(f"the rank of '{value.name}' is unknown")
        return found

    def rank(self, value: Value) -> int:
        return len(self.shape(value))

    def shape(self, value: Value) -> tuple[int | None, ...]:
        """Static dimensions of ``value``; None for one known only at run time."""
        shape = self.type_of(value).shape
        assert shape is not None
        return shape

    # -- op helpers ------------------------------------------------------------------

    def op(self, op_type: str, *inputs: Value | None, **attributes: Any) -> Value:
        return self.b.op(op_type, *inputs, **attributes)

    def const(self, value: float) -> Value:
        return self.b.constant(value, np.float32)

    def ints(self, values: Iterable[int], hint: str = "ints") -> Value:
        return self.b.constant(list(values), np.int64, hint=hint)

    def shape_of(self, value: Value) -> Value:
        """The run-time shape of ``value`` (an int64 vector)."""
        return self.op("Shape", value)

    def filled(self, shape: Value, value: float) -> Value:
        """A float tensor of the run-time ``shape`` (an int64 vector), every entry ``value``."""
        return self.op("ConstantOfShape", shape, value=_float_tensor(value))

    def zeros(self, shape: Value) -> Value:
        """Float zeros of the run-time ``shape`` (an int64 vector)."""
        return self.filled(shape, 0.0)

    def zeros_like(self, value: Value) -> Value:
        """Float zeros in the shape of ``value``."""
        return self.zeros(self.shape_of(value))

    def sum_axes(self, g: Value, axes: list[int], keepdims: bool) -> Value:
        if not axes:
            return g
        return self.op("ReduceSum", g, self.ints(axes, "axes"), keepdims=int(keepdims))

    def sum_leading(self, g: Value, count: int, rank: int) -> Value:
        """``g``, a float32 gradient of rank ``rank``, summed over its first ``count`` axes.

        A MatMul of a row of ones by ``g`` seen as a matrix: onnxruntime's ReduceSum over
        leading axes is its slow strided case (a Dense bias's gradient over a (128, 512)
        batch: ~38 against ~2 us on 2 cores; an LSTM's over its (40 x 64, 512) gates: 356
        against 196 us).
        """
        if not 0 < count < rank:
            return self.sum_axes(g, list(range(count)), keepdims=False)
        columns = self.op("Flatten", g, axis=count)
        row_shape = self.op("Concat", self.ints([1]), self.op("Shape", columns, end=1), axis=0)
        summed = self.op("MatMul", self.filled(row_shape, 1.0), columns)
        return self.op("Reshape", summed, self.op("Shape", g, start=count))

    def unbroadcast(self, g: Value, like: Value, full: Value | None = None) -> Value:
        """``g``, a gradient shaped like the broadcast result ``full`` (default: the node's
        first output), summed down to the shape of ``like``.

        ONNX broadcasting aligns shapes at the right: the leading axes ``like`` lacks are
        summed away, then every axis where ``like`` has 1 and the result more.
        """
        full = full or self.y(0)
        g_shape, x_shape = self.shape(full), self.shape(like)
        if g_shape == x_shape:
            # Nothing broadcast (dimensions known only at run time match, see below): no
            # Shape and Reshape, whose extra reader of ``like`` would also keep
            # onnxruntime from fusing a MatMul with the Add after it.
            return g
        lead = len(g_shape) - len(x_shape)
        if self.type_of(full).dtype == "float32":
            reduced = self.sum_leading(g, lead, len(g_shape))
        else:
            reduced = self.sum_axes(g, list(range(lead)), keepdims=False)
        ones = [
            axis
            for axis, (dim, big) in enumerate(zip(x_shape, g_shape[lead:], strict=True))
            if dim == 1 and big != 1
        ]
        reduced = self.sum_axes(reduced, ones, keepdims=True)
        if any(dim is None for dim in x_shape) and any(big is None for big in g_shape[lead:]):
            # A dimension known only at run time might have been 1 and broadcast; specc's
            # graphs never do that (a batch axis broadcasts only against a batch axis), and
            # the reshape to the input's own shape would fail at run time if one did.
            return self.op("Reshape", reduced, self.shape_of(like))
        return reduced

    def cast_float(self, value: Value) -> Value:
        return self.op("Cast", value, to=FLOAT)

    def cast_int64(self, value: Value) -> Value:
        return self.op("Cast", value, to=INT64)


Rule = Callable[[Backward, list[Value | None]], list[Value | None]]
RULES: dict[str, Rule] = {}
# Ops whose outputs carry no gradient to any input (comparisons, shapes, random draws).
NON_DIFFERENTIABLE: set[str] = set()


def vjp(*op_types: str) -> Callable[[Rule], Rule]:
    """Register a rule: ``rule(backward, output_gradients) -> input_gradients``.

    ``output_gradients[k]`` is None when no gradient reaches output ``k``; the rule
    returns one entry per forward input, None for inputs that take no gradient (or that
    ``backward.wants`` says nobody needs).
    """

    def register(rule: Rule) -> Rule:
        for op_type in op_types:
            if op_type in RULES:
                raise ValueError(f"two gradient rules for {op_type}")
            RULES[op_type] = rule
        return rule

    return register


def no_gradient(*op_types: str) -> None:
    """Declare ops whose outputs are constant almost everywhere in their inputs (or do not
    depend on them continuously): nothing flows back through them."""
    NON_DIFFERENTIABLE.update(op_types)


def _float_tensor(value: float) -> Any:
    from onnx import numpy_helper  # only the attribute needs a TensorProto

    return numpy_helper.from_array(np.array([value], np.float32))


@dataclass
class Gradients:
    """A graph extended with gradients, and where each one is."""

    graph: Graph
    of: dict[str, str]  # differentiated value -> the value holding its gradient


def differentiate(
    graph: Graph,
    loss: str,
    wrt: list[str],
    types: dict[str, ValueType] | None = None,
    forms: GradientForms = DEFAULT_FORMS,
) -> Gradients:
    """d ``loss`` / d ``w`` for each ``w`` of ``wrt``, as nodes added to a copy of ``graph``.

    ``loss`` is a float scalar value of the graph. ``types`` (default: ONNX shape
    inference over ``graph``) gives each value's dtype and static shape. A ``w`` the loss
    does not depend on gets zeros of its shape. ``forms`` says which op forms the
    gradients may use (``GradientForms``).
    """
    from specc.autodiff import rules  # noqa: F401  (registers every rule)

    types = types if types is not None else value_types(graph)
    float_values = {name for name, t in types.items() if t.dtype in DIFFERENTIABLE}
    active = _active(graph.nodes, set(wrt), float_values)
    needed = _needed(graph.nodes, loss)
    b = GraphBuilder.extending(graph)
    grads: dict[str, Value] = {}
    with b.scope("grad"):
        grads[loss] = b.constant(1.0, np.float32, hint="seed")
        missing: set[str] = set()
        # The copy of each forward node in the gradient graph (extending copies them in order).
        copies = dict(zip(map(id, graph.nodes), b.graph.nodes, strict=False))
        producers = {out: node for node in graph.nodes for out in node.outputs}
        index = ForwardIndex(producers, Counter(i for n in graph.nodes for i in n.inputs if i))
        for node in reversed(graph.nodes):
            outputs = [grads.get(name) for name in node.outputs]
            if all(g is None for g in outputs):
                continue
            wanted = tuple(name in active and name in needed for name in node.inputs)
            if not any(wanted) or node.op_type in NON_DIFFERENTIABLE:
                continue
            rule = RULES.get(node.op_type)
            if rule is None:
                missing.add(node.op_type)
                continue
            with b.scope(f"grad/{node.name}"):
                backward = Backward(b, node, types, wanted, forms, copies[id(node)], index)
                found = rule(backward, outputs)
            for name, want, g in zip(node.inputs, wanted, found, strict=False):
                if not want or g is None:
                    continue
                grads[name] = b.op("Add", grads[name], g) if name in grads else g
        if missing:
            raise NoGradientRule(
                "no gradient rule for " + ", ".join(sorted(missing)) + " (specc.autodiff)"
            )
        of: dict[str, str] = {}
        for name in wrt:
            if name in grads:
                of[name] = grads[name].name
            else:
                shape = types[name].shape if name in types else None
                if shape is None or any(dim is None for dim in shape):
                    raise ValueError(f"'{name}' does not reach the loss and has no fixed shape")
                of[name] = b.constant(np.zeros(shape, np.float32), hint="zero_grad").name
    return Gradients(b.graph, of)


def _active(nodes: list[Node], wrt: set[str], float_values: set[str]) -> set[str]:
    """Values that depend on some ``wrt`` through float tensors."""
    active = set(wrt)
    for node in nodes:
        if any(name in active for name in node.inputs):
            active.update(name for name in node.outputs if name in float_values)
    return active


def _needed(nodes: list[Node], loss: str) -> set[str]:
    """Values ``loss`` depends on."""
    needed = {loss}
    for node in reversed(nodes):
        if any(name in needed for name in node.outputs):
            needed.update(node.inputs)
    return needed
