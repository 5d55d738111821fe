"""Merge layers: elementwise Add, Subtract, Multiply, Average, Maximum, Minimum, and Concatenate.

Elementwise merges broadcast as Keras 3's ``Merge`` does: shapes (batch axis excluded)
are aligned from the last axis, a 1 stretches, a None makes the result None, and a
lower-rank input gets size-1 axes inserted right after the batch axis. Dot lives in
``dot.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from specc.graph import Value
from specc.layers.base import (
    LAYERS,
    Layer,
    Layout,
    LowerContext,
    ShapeError,
    expect_float,
    float_input,
)
from specc.layers.core import passthrough_input
from specc.layers.masks import MaskRule, expand_last, select_by_mask
from specc.lazy_numpy import NumpyFunction, np
from specc.types import FLOAT_DTYPES, Dim, TensorType

# A NumPy binary function of two arrays (np.add); not spelled with np.ndarray, which
# Pydantic would evaluate (importing NumPy) as it reads the ClassVar below.
NumpyOp = Callable[[Any, Any], Any]


def _join(shapes: list[str]) -> str:
    return shapes[0] if len(shapes) == 1 else ", ".join(shapes[:-1]) + " and " + shapes[-1]


def elementwise_shape(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> tuple[Dim, ...] | None:
    """Keras's ``_compute_elemwise_op_output_shape``; None when the shapes are incompatible."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return a
    out: list[Dim] = list(a[: len(a) - len(b)])
    for i, j in zip(a[len(a) - len(b) :], b, strict=True):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1:
            out.append(j if i == 1 else i)
        elif i != j:
            return None
        else:
            out.append(i)
    return tuple(out)


def align_ranks_np(inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Inputs as float64, lower ranks padded with size-1 axes after the batch axis."""
    top = max(x.ndim for x in inputs)
    out = []
    for x in inputs:
        x = np.asarray(x, np.float64)
        out.append(x.reshape(x.shape[:1] + (1,) * (top - x.ndim) + x.shape[1:]))
    return out


class ElementwiseMerge(Layer):
    """Base of the elementwise merges: ``op`` folded over the inputs, left to right."""

    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = None
    # The binary ONNX op folded over the inputs (Sum/Mean have no gradient in the engine).
    onnx_op: ClassVar[str]
    numpy_op: ClassVar[NumpyOp]

    def mask_rule(self) -> MaskRule:
        # Keras's Merge.compute_mask: the OR of the inputs' masks, none if one has none.
        return MaskRule("any")

    def layout(self, inputs: list[TensorType]) -> Layout:
        # Inputs of one rank broadcast alike in any shared layout; mixed ranks are padded
        # Keras's way, which needs the spec's layout.
        return "elementwise"

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        name = self.type_name()
        count_inputs(self, inputs)
        for t in inputs:
            expect_float(name, t)
        shape: tuple[Dim, ...] | None = inputs[0].shape
        for t in inputs[1:]:
            shape = elementwise_shape(shape, t.shape) if shape is not None else None
        if shape is None:
            raise ShapeError(
                f"{name} needs inputs of compatible shapes (equal or 1 on each axis, counted "
                f"from the last); got {_join([str(t) for t in inputs])}"
            )
        return [TensorType("float32", shape)]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        top = max(t.rank for t in input_types)
        values = []
        for value, t in zip(inputs, input_types, strict=True):
            value = float_input(ctx, value, t)
            if t.rank < top:
                # ONNX broadcasting aligns the batch axis too; Keras pads after it instead.
                axes = b.constant(list(range(1, 1 + top - t.rank)), np.int64, hint="axes")
                value = b.op("Unsqueeze", value, axes)
            values.append(value)
        out = values[0]
        for value in values[1:]:
            out = b.op(self.onnx_op, out, value)
        return [self._finish(ctx, out, len(values))]

    def _finish(self, ctx: LowerContext, out: Value, count: int) -> Value:
        return out

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        arrays = align_ranks_np(inputs)
        out = arrays[0]
        for x in arrays[1:]:
            out = self.numpy_op(out, x)
        return [out]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        two = [
            ({}, [TensorType("float32", (3,)), TensorType("float32", (3,))]),
            ({}, [TensorType("float32", (2, 5)), TensorType("float32", (1, 5))]),
            ({}, [TensorType("float32", (4, 3)), TensorType("float16", (3,))]),
        ]
        if cls.max_inputs == 2:
            return two
        three = [TensorType("float32", (None, 3)), TensorType("float32", (1, 3))] * 2
        return [*two, ({}, three[:3])]


def count_inputs(layer: Layer, inputs: list[TensorType]) -> None:
    """Reject an input count outside the layer's ``min_inputs``..``max_inputs``."""
    low, high = layer.min_inputs, layer.max_inputs
    if len(inputs) < low or (high is not None and len(inputs) > high):
        want = f"exactly {low}" if low == high else f"at least {low}"
        raise ShapeError(f"{layer.type_name()} takes {want} inputs; got {len(inputs)}")


@LAYERS.register
class Add(ElementwiseMerge):
    """Add: y = x1 + x2 + ... (broadcast); shapes as the merge rule says."""

    type: Literal["Add"]
    onnx_op: ClassVar[str] = "Add"
    numpy_op: ClassVar[NumpyOp] = NumpyFunction("add")


@LAYERS.register
class Subtract(ElementwiseMerge):
    """Subtract: y = x1 - x2 (broadcast); exactly two inputs."""

    type: Literal["Subtract"]
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    onnx_op: ClassVar[str] = "Sub"
    numpy_op: ClassVar[NumpyOp] = NumpyFunction("subtract")


@LAYERS.register
class Multiply(ElementwiseMerge):
    """Multiply: y = x1 * x2 * ... (broadcast)."""

    type: Literal["Multiply"]
    onnx_op: ClassVar[str] = "Mul"
    numpy_op: ClassVar[NumpyOp] = NumpyFunction("multiply")


@LAYERS.register
class Average(ElementwiseMerge):
    """Average: y = (x1 + x2 + ... + xn) / n (broadcast)."""

    type: Literal["Average"]
    onnx_op: ClassVar[str] = "Add"
    numpy_op: ClassVar[NumpyOp] = NumpyFunction("add")

    def _finish(self, ctx: LowerContext, out: Value, count: int) -> Value:
        # Keras divides the sum by n (not multiplies by 1/n); so does this.
        return ctx.builder.op("Div", out, ctx.builder.constant(float(count), hint="count"))

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        return [super().reference(inputs, weights)[0] / len(inputs)]


class Extremum(ElementwiseMerge):
    """Base of Maximum and Minimum, which Keras merges differently when inputs carry masks
    (``Merge._apply_merge_op_and_or_mask``: neither has an identity element to put at a
    masked entry).

    Folding left to right, an input's masked entries are first taken from the result so
    far, then the result's masked entries from that input, then the two are compared; the
    running mask is the OR of the masks (none once an input has none). So a step masked in
    every input keeps the first input's value, and a step masked in some inputs takes the
    extremum of the others only.
    """

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        # Keras broadcasts a (batch, steps) mask over one trailing axis only.
        if any(masked) and any(t.rank != 3 for t in inputs):
            raise ShapeError(
                f"{self.type_name()} of masked inputs needs (batch, steps, features) inputs, "
                "as Keras broadcasts each mask over the features; got "
                + _join([str(t) for t in inputs])
            )

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        masks = ctx.input_masks
        if not any(m is not None for m in masks):
            return super().lower(ctx, inputs, input_types, weights)
        b = ctx.builder
        values = [float_input(ctx, v, t) for v, t in zip(inputs, input_types, strict=True)]
        keep = [None if m is None else expand_last(b, m) for m in masks]
        one = b.constant(1.0)

        def choose(mask: Value, kept: Value, other: Value) -> Value:
            return select_by_mask(b, mask, b.op("Sub", one, mask), kept, other)

        out, out_mask = values[0], keep[0]
        for value, mask in zip(values[1:], keep[1:], strict=True):
            if mask is not None:
                value = choose(mask, value, out)
            if out_mask is not None:
                out = choose(out_mask, out, value)
            both = mask is not None and out_mask is not None
            out_mask = b.op("Max", out_mask, mask) if both else None
            out = b.op(self.onnx_op, out, value)
        return [out]


@LAYERS.register
class Maximum(Extremum):
    """Maximum: y = max(x1, x2, ...) elementwise (broadcast)."""

    type: Literal["Maximum"]
    onnx_op: ClassVar[str] = "Max"
    numpy_op: ClassVar[NumpyOp] = NumpyFunction("maximum")


@LAYERS.register
class Minimum(Extremum):
    """Minimum: y = min(x1, x2, ...) elementwise (broadcast)."""

    type: Literal["Minimum"]
    onnx_op: ClassVar[str] = "Min"
    numpy_op: ClassVar[NumpyOp] = NumpyFunction("minimum")


@LAYERS.register
class Concatenate(Layer):
    """Concatenate: y = concat(x1, x2, ..., axis); sizes add up on ``axis``, others match.

    Float inputs give float32; inputs that all share one integer or boolean dtype keep it.
    """

    type: Literal["Concatenate"]
    axis: int = -1
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = None

    def mask_rule(self) -> MaskRule:
        return MaskRule("concat")

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        rank = len(inputs[0].full_shape)
        if any(masked) and self._axis(rank) != rank - 1:
            raise ShapeError(
                "Concatenate joins masked inputs only on the last axis (their masks then "
                f"combine per step); got axis={self.axis} for rank-{rank} inputs",
                field="axis",
            )

    def _axis(self, rank: int) -> int:
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            # Axis 0 would stack samples: the batch axis must stay the same for every
            # tensor in a spec (losses and data columns line up on it).
            raise ShapeError(
                f"Concatenate axis must name a non-batch axis of its rank-{rank} inputs "
                f"(1..{rank - 1} or -{rank - 1}..-1); got axis={self.axis}",
                field="axis",
            )
        return axis

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        count_inputs(self, inputs)
        shapes = _join([str(t) for t in inputs])
        if len({t.rank for t in inputs}) != 1:
            raise ShapeError(f"Concatenate needs inputs of one rank; got {shapes}")
        axis = self._axis(inputs[0].rank)
        for other in range(1, inputs[0].rank):
            known = {t.full_shape[other] for t in inputs} - {None}
            if other != axis and len(known) > 1:
                raise ShapeError(
                    f"Concatenate needs inputs with matching shapes except on axis "
                    f"{self.axis}; got {shapes} (they differ on axis {other})"
                )
        dtypes = {t.dtype for t in inputs}
        if dtypes <= set(FLOAT_DTYPES):
            dtype = "float32"
        elif len(dtypes) == 1:
            dtype = inputs[0].dtype
        else:
            raise ShapeError(
                f"Concatenate needs inputs that are all floating-point or all of one dtype; "
                f"got dtypes {', '.join(t.dtype for t in inputs)}"
            )
        # Keras's rule: the first input's dims, the axis summed (None if any is None).
        shape = list(inputs[0].full_shape)
        sizes = [t.full_shape[axis] for t in inputs]
        shape[axis] = None if None in sizes else sum(d for d in sizes if d is not None)
        return [TensorType(dtype, tuple(shape[1:]))]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        values = [passthrough_input(ctx, v, t) for v, t in zip(inputs, input_types, strict=True)]
        return [ctx.builder.op("Concat", *values, axis=self._axis(input_types[0].rank))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        if all(x.dtype.kind == "f" for x in inputs):
            inputs = [np.asarray(x, np.float64) for x in inputs]
        return [np.concatenate(inputs, axis=self.axis)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({}, [TensorType("float32", (3,)), TensorType("float32", (5,))]),
            (
                {"axis": 1},
                [TensorType("float32", (2, 4)), TensorType("float16", (3, 4))],
            ),
            (
                {"axis": -2},
                [TensorType("float32", (2, None, 3)), TensorType("float32", (2, 4, 3))],
            ),
            ({}, [TensorType("int64", (2,)), TensorType("int64", (1,))]),
        ]
