"""Lambda expressions lowered to ONNX ops that have gradients in onnxruntime-training 1.19.2.

Each node becomes a ``Term``: its shape (as ``specc.lambda_ops`` infers it) and a float32
or boolean value, or a Python constant for nodes that use no input (computed once by the
NumPy reference, then stored as a float32 scalar). The engine's gradients
(``docs/engine-notes.md#no-gradient-builder``, ``#pow-exponent``) rule out
ReduceMax/ReduceMin (max and min go through TopK(k=1)), Pow with a tensor exponent
(c ** x is Exp(x * log c)) and opset-dependent reduce attributes (only ReduceSum, whose
axes are an input in every opset from 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from specc.graph import GraphBuilder, Value
from specc.lambda_ops import (
    BINARY,
    FAMILIES,
    UNARY,
    Shape,
    broadcast,
    evaluate,
    node_shape,
    normalize_axis,
    reduction_axes,
    squeeze_axes,
    transpose_perm,
)
from specc.lambda_tokens import COMPARISONS, Node
from specc.lazy_numpy import np
from specc.types import FLOAT, TensorType


@dataclass(frozen=True)
class Term:
    """A lowered node: its shape (None for a constant) and value, float32 or boolean."""

    shape: Shape
    value: Value | None = None
    const: float = 0.0
    boolean: bool = False


class Lowering:
    """Lowers one expression tree, given the layer's inputs and their types."""

    def __init__(self, b: GraphBuilder, inputs: list[Value], types: list[TensorType]) -> None:
        self.b, self.inputs, self.types = b, inputs, types
        self.cast: dict[int, Value] = {}

    def run(self, tree: Node) -> Value:
        """The expression's value as float32."""
        return self.float(self.term(tree))

    # -------------------------------------------------------------- values

    def input(self, index: int) -> Value:
        """Input ``index`` as float32 (cast once, however often it is used)."""
        # Keras would keep integer dtypes; expressions compute in float32 throughout.
        if index not in self.cast:
            value, dtype = self.inputs[index], self.types[index].dtype
            self.cast[index] = value if dtype == "float32" else self.b.op("Cast", value, to=FLOAT)
        return self.cast[index]

    def float(self, term: Term) -> Value:
        """A term as a float32 value: constants become scalars, booleans 0.0 and 1.0."""
        if term.value is None:
            return self.b.constant(np.float32(term.const), hint="scalar")
        return self.b.op("Cast", term.value, to=FLOAT) if term.boolean else term.value

    def bool(self, term: Term) -> Value:
        """A term as a condition: comparisons as they are, anything else where non-zero."""
        if term.value is None:
            return self.b.constant(term.const != 0, dtype=np.bool_, hint="flag")
        if term.boolean:
            return term.value
        return self.b.op("Not", self.b.op("Equal", term.value, self.b.constant(0.0)))

    def aligned(self, terms: list[Term], values: list[Value]) -> list[Value]:
        """Tensors of lower rank get size-1 axes after the batch axis (Keras's merge rule)."""
        top = max((len(t.shape) for t in terms if t.shape is not None), default=0)
        out = []
        for term, value in zip(terms, values, strict=True):
            if term.shape is not None and len(term.shape) < top:
                axes = list(range(1, 1 + top - len(term.shape)))
                value = self.b.op("Unsqueeze", value, self.b.constant(axes, np.int64, "axes"))
            out.append(value)
        return out

    def ints(self, values: list[int] | tuple[int, ...]) -> Value:
        """An int64 constant (axes, shapes, K)."""
        return self.b.constant(list(values), np.int64, hint="axes")

    # -------------------------------------------------------------- nodes

    def term(self, node: Node) -> Term:
        """Lower ``node`` and its arguments (a constant subtree is computed, not lowered)."""
        if node.constant:
            return Term(None, const=float(evaluate(node, [])))
        if node.kind == "input":
            return Term(self.types[node.value].shape, self.input(node.value))
        args = [self.term(a) for a in node.args]
        shape = node_shape(node, [a.shape for a in args], self.types)
        b = self.b
        if node.kind == "unary":
            return Term(shape, b.op("Neg", self.float(args[0])))
        family = "binary" if node.kind == "binary" else FAMILIES[node.op]
        if node.op == "**":
            return Term(shape, self.power(*args))
        if family in ("binary", "clip"):
            return self.elementwise(node, args, shape)
        if family == "where":
            condition, *pair = args
            values = self.aligned(args, [self.bool(condition), *map(self.float, pair)])
            return Term(shape, b.op("Where", *values))
        x = self.float(args[0])
        if family == "unary":
            return Term(shape, UNARY[node.op][0](b, x))
        if family == "activation":
            return Term(shape, node.option("activation").lower(b, x))
        assert args[0].shape is not None
        rank = len(args[0].shape) + 1
        if family == "reduce":
            axes = reduction_axes(node, rank)
            return Term(
                shape, self.reduce(node.op, x, args[0].shape, axes, node.option("keepdims"))
            )
        if family == "softmax":
            axis = normalize_axis(node.option("axis"), rank, node.pos)
            if node.op == "log_softmax":
                return Term(shape, b.op("LogSoftmax", x, axis=axis))
            return Term(shape, b.activation("softmax", x, axis=axis))
        if family == "reshape":
            return Term(shape, b.op("Reshape", x, self.ints([0, *node.option("newshape")])))
        if family == "transpose":
            return Term(shape, b.op("Transpose", x, perm=list(transpose_perm(node, rank))))
        if family == "expand_dims":
            axis = normalize_axis(node.option("axis"), rank, node.pos, 1)
            return Term(shape, b.op("Unsqueeze", x, self.ints([axis])))
        if family == "squeeze":
            axes = squeeze_axes(node, args[0].shape)
            return Term(shape, b.op("Squeeze", x, self.ints(axes)) if axes else x)
        axis = normalize_axis(node.option("axis"), rank, node.pos)
        return Term(shape, b.op("Concat", *map(self.float, args), axis=axis))

    def elementwise(self, node: Node, args: list[Term], shape: Shape) -> Term:
        """Binary operators, comparisons, minimum/maximum and clip."""
        b = self.b
        if node.op == "clip":
            x, low, high = args
            if low.value is None and high.value is None:
                return Term(shape, b.op("Clip", self.float(x), self.float(low), self.float(high)))
            # Tensor bounds: Min(Max(x, low), high), which is also what Clip does.
            floor = b.op("Max", *self.aligned([x, low], self.floats(x, low)))
            lower = Term(broadcast([x.shape, low.shape], node.pos), floor)
            return Term(shape, b.op("Min", *self.aligned([lower, high], self.floats(lower, high))))
        onnx_op = BINARY[node.op][0]
        if node.op in COMPARISONS:
            out = b.op(onnx_op, *self.aligned(args, self.floats(*args)))
            return Term(shape, b.op("Not", out) if node.op == "!=" else out, boolean=True)
        return Term(shape, b.op(onnx_op, *self.aligned(args, self.floats(*args))))

    def floats(self, *terms: Term) -> list[Value]:
        """Several terms as float32 values."""
        return [self.float(t) for t in terms]

    def power(self, base: Term, exponent: Term) -> Value:
        """``base ** exponent``, one of them constant (the grammar allows no other)."""
        b = self.b
        if exponent.value is None:
            return b.op("Pow", self.float(base), self.float(exponent))
        # Pow has no gradient for its exponent in the engine; c ** x = exp(x * log c), c > 0.
        log_base = b.constant(np.float32(math.log(base.const)), hint="log_base")
        return b.op("Exp", b.op("Mul", self.float(exponent), log_base))

    def reduce(self, name: str, x: Value, shape: tuple, axes: tuple[int, ...], keep: bool) -> Value:
        """A reduction over ``axes`` (batch-inclusive indices, sorted) of ``x``."""
        b = self.b
        if name == "sum":
            return b.op("ReduceSum", x, self.ints(axes), keepdims=int(keep))
        if name == "mean":
            return b.op(
                "Div", self.reduce("sum", x, shape, axes, keep), self.count(x, shape, axes, keep)
            )
        if name in ("max", "min"):
            return self.top(x, shape, axes, keep, largest=name == "max")
        if name == "logsumexp":
            # max + log(sum(exp(x - max))): stable, and the max's gradient cancels exactly.
            top = self.top(x, shape, axes, True, largest=True)
            total = b.op("ReduceSum", b.op("Exp", b.op("Sub", x, top)), self.ints(axes), keepdims=1)
            out = b.op("Add", top, b.op("Log", total))
            return out if keep else b.op("Squeeze", out, self.ints(axes))
        if name == "norm":
            return b.op("Sqrt", self.reduce("sum", b.op("Mul", x, x), shape, axes, keep))
        centered = b.op("Sub", x, self.reduce("mean", x, shape, axes, True))
        variance = self.reduce("mean", b.op("Mul", centered, centered), shape, axes, keep)
        return variance if name == "var" else b.op("Sqrt", variance)

    def count(self, x: Value, shape: tuple, axes: tuple[int, ...], keep: bool) -> Value:
        """How many elements each mean averages: a constant, or counted when sizes vary."""
        sizes = [shape[a - 1] for a in axes]
        if None not in sizes:
            return self.b.constant(np.float32(math.prod(sizes)), hint="count")
        # Ones shaped like x carry no gradient (Expand's shape input is not differentiated).
        ones = self.b.op("Expand", self.b.constant(1.0), self.b.op("Shape", x))
        return self.b.op("ReduceSum", ones, self.ints(axes), keepdims=int(keep))

    def top(
        self, x: Value, shape: tuple, axes: tuple[int, ...], keep: bool, largest: bool
    ) -> Value:
        """Max or min over ``axes`` by TopK(k=1), the engine's differentiable maximum."""
        b, k = self.b, self.ints([1])
        if len(axes) == 1:
            (axis,) = axes
            values, _ = b.op("TopK", x, k, outputs=2, axis=axis, largest=int(largest))
            return values if keep else b.op("Squeeze", values, self.ints(axes))
        # Several axes: move them last, merge them into one, and take TopK there.
        kept = [a for a in range(1, len(shape) + 1) if a not in axes]
        moved = b.op("Transpose", x, perm=[0, *kept, *axes])
        merged = b.op("Reshape", moved, self.ints([0] * (1 + len(kept)) + [-1]))
        last = len(kept) + 1
        values, _ = b.op("TopK", merged, k, outputs=2, axis=last, largest=int(largest))
        values = b.op("Squeeze", values, self.ints([last]))
        return b.op("Unsqueeze", values, self.ints(axes)) if keep else values


def lower_expression(
    b: GraphBuilder, tree: Node, inputs: list[Value], types: list[TensorType]
) -> Value:
    """The expression's float32 value, built with ``b`` from the layer's inputs."""
    return Lowering(b, inputs, types).run(tree)
