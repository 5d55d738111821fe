"""Lambda expressions: the shape rules and the NumPy reference, with the ops' tables.

Every value in an expression has the batch axis first, except constants, which are scalars.
Two tensors broadcast as NumPy does on the axes after the batch axis (aligned from the
last; a lower-rank tensor gets size-1 axes right after its batch axis), as Keras's merge
layers do. Everything is computed in float32: inputs of any dtype are cast, and a
comparison gives 0.0 or 1.0. Only ops with gradients in onnxruntime-training 1.19.2 are
used (``docs/engine-notes.md#no-gradient-builder``): max and min go through TopK, logsumexp
is max + log(sum(exp)), and a power with a tensor exponent becomes exp(exponent *
log(base)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from specc.graph import GraphBuilder, Value
from specc.lambda_functions import FUNCTIONS
from specc.lambda_tokens import COMPARISONS, ExpressionError, Node
from specc.lazy_numpy import NumpyFunction, np
from specc.types import Dim, TensorType

Dims = tuple[Dim, ...]
# A constant's "shape": a scalar without a batch axis.
Shape = Dims | None


def _erf(x: Any) -> Any:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# Elementwise functions: the ONNX lowering and the NumPy formula.
UNARY: dict[str, tuple[Callable[[GraphBuilder, Value], Value], Callable[[Any], Any]]] = {
    "-": (lambda b, x: b.op("Neg", x), NumpyFunction("negative")),
    "abs": (lambda b, x: b.op("Abs", x), NumpyFunction("abs")),
    "exp": (lambda b, x: b.op("Exp", x), NumpyFunction("exp")),
    "log": (lambda b, x: b.op("Log", x), NumpyFunction("log")),
    "log1p": (lambda b, x: b.op("Log", b.op("Add", x, b.constant(1.0))), NumpyFunction("log1p")),
    "expm1": (lambda b, x: b.op("Sub", b.op("Exp", x), b.constant(1.0)), NumpyFunction("expm1")),
    "sqrt": (lambda b, x: b.op("Sqrt", x), NumpyFunction("sqrt")),
    "rsqrt": (lambda b, x: b.op("Reciprocal", b.op("Sqrt", x)), lambda x: 1.0 / np.sqrt(x)),
    "square": (lambda b, x: b.op("Mul", x, x), NumpyFunction("square")),
    "reciprocal": (lambda b, x: b.op("Reciprocal", x), lambda x: 1.0 / x),
    "sin": (lambda b, x: b.op("Sin", x), NumpyFunction("sin")),
    "cos": (lambda b, x: b.op("Cos", x), NumpyFunction("cos")),
    "erf": (lambda b, x: b.op("Erf", x), _erf),
}
# Binary operators and functions: the ONNX op and the NumPy formula.
BINARY: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "+": ("Add", NumpyFunction("add")),
    "-": ("Sub", NumpyFunction("subtract")),
    "*": ("Mul", NumpyFunction("multiply")),
    "/": ("Div", NumpyFunction("divide")),
    "minimum": ("Min", NumpyFunction("minimum")),
    "maximum": ("Max", NumpyFunction("maximum")),
    "<": ("Less", NumpyFunction("less")),
    "<=": ("LessOrEqual", NumpyFunction("less_equal")),
    ">": ("Greater", NumpyFunction("greater")),
    ">=": ("GreaterOrEqual", NumpyFunction("greater_equal")),
    "==": ("Equal", NumpyFunction("equal")),
    "!=": ("Equal", NumpyFunction("not_equal")),  # lowered as Not(Equal)
}


def _fmt(shape: Dims) -> str:
    return str(TensorType("float32", shape))


# ----------------------------------------------------------------------------- shapes


def broadcast(shapes: list[Shape], pos: int) -> Shape:
    """The shape of an elementwise result; constants (None) broadcast to anything."""
    tensors = [s for s in shapes if s is not None]
    if not tensors:
        return None
    rank = max(len(s) for s in tensors)
    out: list[Dim] = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in tensors if axis - rank + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ExpressionError(
                f"shapes {' and '.join(_fmt(s) for s in tensors)} do not broadcast (axes after "
                "the batch axis are matched from the last; each pair must be equal or 1)",
                pos,
            )
        # A variable size against k: k whenever the model runs at all.
        out.append(known.pop() if known else None if None in dims else 1)
    return tuple(out)


def normalize_axis(axis: int, rank: int, pos: int, extra: int = 0) -> int:
    """``axis`` (negative counts from the end) of a tensor of ``rank`` (batch included)."""
    size = rank + extra
    index = axis + size if axis < 0 else axis
    if index == 0:
        raise ExpressionError(f"axis {axis} is the batch axis of this rank-{rank} tensor", pos)
    if not 1 <= index < size:
        raise ExpressionError(
            f"axis {axis} is out of range for a rank-{rank} tensor "
            f"(use 1..{size - 1} or -{size - 1}..-1)",
            pos,
        )
    return index


def reduction_axes(node: Node, rank: int) -> tuple[int, ...]:
    """A reduction's or squeeze's axes, normalized and sorted; all non-batch axes for None."""
    written = node.option("axis")
    if written is None:
        if rank == 1:
            raise ExpressionError(
                f"{node.op}() needs a tensor with an axis besides the batch axis", node.pos
            )
        return tuple(range(1, rank))
    pos = node.option_pos("axis")
    axes = sorted(normalize_axis(a, rank, pos) for a in written)
    if len(set(axes)) != len(axes):
        raise ExpressionError(f"axis {list(written)} names one axis twice", pos)
    return tuple(axes)


def _reshape_shape(node: Node, x: Dims) -> Dims:
    target = node.option("newshape")
    size = math.prod(d for d in x if d is not None)
    fixed = math.prod(d for d in target if d != -1)
    if None in x:
        return tuple(None if d == -1 else d for d in target)
    if -1 in target and size % fixed == 0:
        return tuple(size // fixed if d == -1 else d for d in target)
    if -1 not in target and size == fixed:
        return tuple(target)
    raise ExpressionError(
        f"reshape() cannot turn {_fmt(x)} ({size} elements per sample) into "
        f"{_fmt(tuple(None if d == -1 else d for d in target))}",
        node.option_pos("newshape"),
    )


def transpose_perm(node: Node, rank: int) -> tuple[int, ...]:
    written = node.option("axes")
    if written is None:
        return (0, *range(rank - 1, 0, -1))
    if sorted(written) != list(range(1, rank)):
        raise ExpressionError(
            f"transpose() axes must order the non-batch axes 1..{rank - 1} of a rank-{rank} "
            f"tensor; got {list(written)}",
            node.option_pos("axes"),
        )
    return (0, *written)


def squeeze_axes(node: Node, x: Dims) -> tuple[int, ...]:
    if node.option("axis") is None:
        return tuple(i + 1 for i, d in enumerate(x) if d == 1)
    axes = reduction_axes(node, len(x) + 1)
    for axis in axes:
        if x[axis - 1] != 1:
            raise ExpressionError(
                f"squeeze() axis {axis} of {_fmt(x)} must have size 1", node.option_pos("axis")
            )
    return axes


def _concat_shape(node: Node, shapes: list[Dims]) -> Dims:
    if len({len(s) for s in shapes}) != 1:
        listed = ", ".join(_fmt(s) for s in shapes)
        raise ExpressionError(f"concat() needs tensors of one rank; got {listed}", node.pos)
    axis = normalize_axis(node.option("axis"), len(shapes[0]) + 1, node.option_pos("axis"))
    out: list[Dim] = []
    for i, dims in enumerate(zip(*shapes, strict=True), start=1):
        if i == axis:
            out.append(None if None in dims else sum(d for d in dims if d is not None))
            continue
        known = {d for d in dims if d is not None}
        if len(known) > 1:
            listed = ", ".join(_fmt(s) for s in shapes)
            raise ExpressionError(f"concat() shapes differ on axis {i}: {listed}", node.pos)
        out.append(known.pop() if known else None)
    return tuple(out)


def node_shape(node: Node, args: list[Shape], inputs: list[TensorType]) -> Shape:
    """One node's shape from its arguments' shapes (``ExpressionError`` on a mismatch)."""
    if node.kind == "number":
        return None
    if node.kind == "input":
        return inputs[node.value].shape
    if node.kind in ("unary", "binary"):
        return broadcast(args, node.pos)
    family = FAMILIES[node.op]
    if family in ("unary", "activation"):
        return args[0]
    if family in ("binary", "clip", "where"):
        return broadcast(args, node.pos)
    tensors: list[Dims] = [a for a in args if a is not None]
    x = tensors[0]
    if family == "reduce":
        axes = reduction_axes(node, len(x) + 1)
        keep = node.option("keepdims")
        return tuple(1 if i in axes else d for i, d in enumerate(x, 1) if keep or i not in axes)
    if family == "softmax":
        normalize_axis(node.option("axis"), len(x) + 1, node.option_pos("axis"))
        return x
    if family == "reshape":
        return _reshape_shape(node, x)
    if family == "transpose":
        return tuple(x[i - 1] for i in transpose_perm(node, len(x) + 1)[1:])
    if family == "expand_dims":
        axis = normalize_axis(node.option("axis"), len(x) + 1, node.option_pos("axis"), 1)
        return (*x[: axis - 1], 1, *x[axis - 1 :])
    if family == "squeeze":
        axes = squeeze_axes(node, x)
        return tuple(d for i, d in enumerate(x, 1) if i not in axes)
    return _concat_shape(node, tensors)


def infer(tree: Node, inputs: list[TensorType]) -> Dims:
    """The expression's output shape (batch excluded) for these input types."""

    def visit(node: Node) -> Shape:
        return node_shape(node, [visit(a) for a in node.args], inputs)

    shape = visit(tree)
    if shape is None:  # parse() rejects these already; kept for trees built elsewhere
        raise ExpressionError("the expression does not use any input", 0)
    return shape


# Which family each function belongs to, for dispatch.
FAMILIES = {name: signature.family for name, signature in FUNCTIONS.items()}


# ----------------------------------------------------------------------------- reference


def _align(arrays: list[Any]) -> list[Any]:
    """Tensors padded with size-1 axes after the batch axis to one rank; scalars as they are."""
    top = max((np.ndim(a) for a in arrays), default=0)
    out = []
    for a in arrays:
        if 0 < np.ndim(a) < top:
            a = a.reshape(a.shape[:1] + (1,) * (top - a.ndim) + a.shape[1:])
        out.append(a)
    return out


def _reduce_np(name: str, x: np.ndarray, axes: tuple[int, ...], keep: bool) -> np.ndarray:
    if name == "logsumexp":
        top = np.max(x, axis=axes, keepdims=True)
        out = top + np.log(np.sum(np.exp(x - top), axis=axes, keepdims=True))
        return out if keep else np.squeeze(out, axis=axes)
    if name == "norm":
        return np.sqrt(np.sum(x * x, axis=axes, keepdims=keep))
    functions = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
    functions.update({"var": np.var, "std": np.std})
    return functions[name](x, axis=axes, keepdims=keep)


def _call_np(node: Node, args: list[Any]) -> Any:
    family, name = FAMILIES[node.op], node.op
    if family == "unary":
        return UNARY[name][1](args[0])
    if family == "activation":
        return node.option("activation").reference(np.asarray(args[0], np.float64))
    if family == "binary":
        return BINARY[name][1](*_align(args))
    if family == "clip":
        x, low, high = _align(args)
        return np.minimum(np.maximum(x, low), high)
    if family == "where":
        condition, a, b = _align(args)
        return np.where(condition != 0, a, b)
    x = args[0]
    if family == "reduce":
        return _reduce_np(name, x, reduction_axes(node, x.ndim), node.option("keepdims"))
    if family == "softmax":
        axis = normalize_axis(node.option("axis"), x.ndim, node.pos)
        shifted = x - np.max(x, axis=axis, keepdims=True)
        total = np.sum(np.exp(shifted), axis=axis, keepdims=True)
        return shifted - np.log(total) if name == "log_softmax" else np.exp(shifted) / total
    if family == "reshape":
        return x.reshape((x.shape[0], *node.option("newshape")))
    if family == "transpose":
        return np.transpose(x, transpose_perm(node, x.ndim))
    if family == "expand_dims":
        return np.expand_dims(x, normalize_axis(node.option("axis"), x.ndim, node.pos, 1))
    if family == "squeeze":
        return np.squeeze(x, axis=squeeze_axes(node, x.shape[1:]))
    return np.concatenate(args, axis=normalize_axis(node.option("axis"), x.ndim, node.pos))


def evaluate(tree: Node, inputs: list[np.ndarray]) -> Any:
    """The expression in NumPy float64, written from the formulas, not from the lowering."""
    arrays = [np.asarray(x).astype(np.float64) for x in inputs]

    def visit(node: Node) -> Any:
        if node.kind == "number":
            return np.float64(node.value)
        if node.kind == "input":
            return arrays[node.value]
        args = [visit(a) for a in node.args]
        if node.kind == "unary":
            return -args[0]
        if node.kind == "binary":
            if node.op == "**":
                return np.power(*_align(args))
            result = BINARY[node.op][1](*_align(args))
            return result.astype(np.float64) if node.op in COMPARISONS else result
        return _call_np(node, args)

    with np.errstate(all="ignore"):
        return visit(tree)
