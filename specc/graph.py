"""A small graph builder that hands out value objects, so lowering never wires names by hand.

Lowering code calls ``builder.op("MatMul", x, kernel)`` and gets a ``Value`` back; names are
made unique and follow the project's convention (nodes ``<layer>/<OpType>``, parameters
``<layer>.<weight>``). The builder knows nothing of ONNX protobufs: ``specc.emit`` turns
the finished ``Graph`` into a ModelProto.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from specc.lazy_numpy import np
from specc.types import FLOAT, Dim, TensorType


@dataclass(frozen=True)
class Value:
    """A tensor flowing between nodes, known by its unique name."""

    name: str


@dataclass
class Node:
    """One ONNX operator application."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any]
    name: str
    domain: str = ""


@dataclass(frozen=True)
class Activated:
    """A value computed as ``kind(source)`` by a softmax or sigmoid, recorded as it is
    built so later stages (a crossentropy that prefers logits) need not search for it."""

    kind: str  # "softmax" or "sigmoid"
    source: str  # the pre-activation value
    axis: int | None = None  # softmax's axis, as given


@dataclass
class Graph:
    """The finished graph: inputs, outputs, nodes, constant tensors and trainable weights."""

    name: str
    inputs: list[tuple[str, TensorType]] = field(default_factory=list)
    outputs: list[tuple[str, TensorType]] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    # Names of initializers that are weights (the rest are constants).
    parameters: list[str] = field(default_factory=list)
    # Softmax and sigmoid results by value name (see ``Activated``).
    activated: dict[str, Activated] = field(default_factory=dict)


class GraphBuilder:
    """Builds a ``Graph`` one op at a time."""

    def __init__(self, name: str) -> None:
        self.graph = Graph(name)
        self._taken: set[str] = set()
        # The next suffix to try for each base name: a layer that makes thousands of ops
        # of one type (an unrolled sequence) would otherwise rescan every suffix so far.
        self._next: dict[str, int] = {}
        self._scope = "graph"
        self._constants: dict[tuple[bytes, str, tuple[int, ...]], Value] = {}

    @classmethod
    def extending(cls, graph: Graph) -> GraphBuilder:
        """A builder that goes on adding to a copy of ``graph`` (e.g. a loss after a model)."""
        builder = cls(graph.name)
        builder.graph = copy.deepcopy(graph)
        builder._taken = {name for node in graph.nodes for name in (node.name, *node.outputs)}
        builder._taken |= {name for name, _ in graph.inputs} | set(graph.initializers)
        return builder

    def _unique(self, base: str) -> str:
        k = self._next.get(base, 0)
        name = base if k == 0 else f"{base}_{k}"
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._next[base] = k + 1
        self._taken.add(name)
        return name

    def fresh_name(self, base: str) -> str:
        """``base``, or ``base`` with a suffix: a name no value or node of the graph has."""
        return self._unique(base)

    @contextmanager
    def scope(self, layer_name: str) -> Iterator[None]:
        """Name everything built inside after ``layer_name``."""
        outer, self._scope = self._scope, layer_name
        try:
            yield
        finally:
            self._scope = outer

    def input(self, name: str, tensor_type: TensorType) -> Value:
        """Declare a graph input named exactly ``name``."""
        self._taken.add(name)
        self.graph.inputs.append((name, tensor_type))
        return Value(name)

    def alias(self, value: Value, name: str) -> Value:
        """``value`` under the exact name ``name`` (an Identity unless it has it already)."""
        if value.name != name:
            # Internal values never use bare layer names, so ``name`` is free for this.
            self._taken.add(name)
            self.graph.nodes.append(Node("Identity", [value.name], [name], {}, f"{name}/Identity"))
        return Value(name)

    def output(self, value: Value, name: str, tensor_type: TensorType) -> None:
        """Declare ``value`` a graph output named exactly ``name``."""
        self.alias(value, name)
        self.graph.outputs.append((name, tensor_type))

    def parameter(self, name: str, array: np.ndarray) -> Value:
        """A trainable weight stored as an initializer named exactly ``name``."""
        if name in self.graph.initializers:
            return Value(name)
        self._taken.add(name)
        self.graph.initializers[name] = np.ascontiguousarray(array)
        self.graph.parameters.append(name)
        return Value(name)

    def activation(self, kind: str, x: Value, axis: int | None = None) -> Value:
        """``Softmax`` (along ``axis``) or ``Sigmoid`` of ``x``, recorded in
        ``Graph.activated``."""
        if kind == "softmax":
            result = self.op("Softmax", x, axis=axis)
        elif kind == "sigmoid":
            result = self.op("Sigmoid", x)
        else:
            raise ValueError(f"not a recorded activation: {kind}")
        self.graph.activated[result.name] = Activated(kind, x.name, axis)
        return result

    def constant(
        self, array: Any, dtype: Any = "float32", hint: str = "const", name: str | None = None
    ) -> Value:
        """A constant tensor (deduplicated), stored as a non-trainable initializer.

        With ``name`` it is stored under exactly that name and never shared, so later
        stages (the training-graph builder) can find and replace it.
        """
        value = np.asarray(array, dtype=dtype)
        if name is not None:
            self._taken.add(name)
            self.graph.initializers[name] = value
            return Value(name)
        key = (value.tobytes(), value.dtype.str, value.shape)
        if key not in self._constants:
            name = self._unique(f"{self._scope}/{hint}")
            self.graph.initializers[name] = value
            self._constants[key] = Value(name)
        return self._constants[key]

    def op(
        self,
        op_type: str,
        *inputs: Value | None,
        outputs: int = 1,
        domain: str = "",
        **attributes: Any,
    ) -> Any:
        """Append ``op_type`` applied to ``inputs``; returns one Value, or a tuple of them.

        ``None`` inputs become ONNX's empty optional input. An identity Transpose is not
        emitted: onnxruntime 1.19's optimizer folds one into a following Gemm as a
        transposed operand and then computes wrong values (or fails on the shapes).
        """
        perm = attributes.get("perm")
        identity = perm is not None and list(perm) == sorted(perm)
        if op_type == "Transpose" and identity and outputs == 1 and inputs[0] is not None:
            return inputs[0]
        node_name = self._unique(f"{self._scope}/{op_type}")
        out_names = [self._unique(f"{node_name}:{i}") for i in range(outputs)]
        in_names = ["" if v is None else v.name for v in inputs]
        attrs = {k: v for k, v in attributes.items() if v is not None}
        self.graph.nodes.append(Node(op_type, in_names, out_names, attrs, node_name, domain))
        values = tuple(Value(n) for n in out_names)
        return values[0] if outputs == 1 else values

    # --- op helpers: compositions that lowering code shares ---------------------------------

    def reduce_sum(
        self, x: Value, axis: int | Sequence[int] | None = None, keepdims: bool = False
    ) -> Value:
        """ReduceSum over ``axis`` (one or several), or over every axis when None.

        The axes are an input, as ReduceSum takes them from opset 13 on (ReduceMean and
        the others only from opset 18): the same graph is valid at every opset specc emits.
        """
        if axis is None:
            return self.op("ReduceSum", x, keepdims=int(keepdims))
        axes = [axis] if isinstance(axis, int) else list(axis)
        return self.op(
            "ReduceSum", x, self.constant(axes, np.int64, hint="axes"), keepdims=int(keepdims)
        )

    def axis_size(self, x: Value, shape: tuple[Dim, ...], axis: int) -> Value:
        """The length of ``axis`` of ``x`` (of shape ``shape``) as a float32 scalar: a
        constant when the shape knows it, else read from ``Shape`` at run time."""
        index = normalize_axis(axis, len(shape))
        if shape[index] is not None:
            return self.constant(float(shape[index]))
        position = self.constant(index, np.int64, hint="axis")
        return self.op("Cast", self.op("Gather", self.op("Shape", x), position), to=FLOAT)

    def mean_over(self, x: Value, shape: tuple[Dim, ...], axis: int) -> Value:
        """The mean along ``axis``: ReduceSum divided by the axis's length (see
        ``reduce_sum`` for why not ReduceMean)."""
        return self.op("Div", self.reduce_sum(x, axis), self.axis_size(x, shape, axis))

    def square(self, x: Value) -> Value:
        """``x * x``."""
        return self.op("Mul", x, x)

    def clip(self, x: Value, low: float, high: float) -> Value:
        """``x`` clipped to ``[low, high]`` (no gradient where it clips, as Keras's clip)."""
        return self.op("Clip", x, self.constant(low), self.constant(high))

    def softplus(self, x: Value) -> Value:
        """``relu(x) + log(1 + exp(-|x|))``: softplus without overflow, in ops that have
        gradients in onnxruntime-training (its Softplus has none)."""
        tail = self.op(
            "Log",
            self.op("Add", self.constant(1.0), self.op("Exp", self.op("Neg", self.op("Abs", x)))),
        )
        return self.op("Add", self.op("Relu", x), tail)


def normalize_axis(axis: int, rank: int) -> int:
    """``axis`` as an index into a shape of ``rank`` dimensions; ValueError when outside."""
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for an output of rank {rank}")
    return axis % rank
