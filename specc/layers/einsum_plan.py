"""Keras's EinsumDense equations analysed once: weight shapes, output shape, lowering.

``plan_einsum`` follows Keras's ``_analyze_einsum_string`` (the same three equation forms,
the same kernel and bias shapes); ``lower_einsum`` computes the contraction as one MatMul
between Transposes and Reshapes. EinsumDense and the attention layers' projections (Keras
builds those as EinsumDense sub-layers) share both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from specc.graph import GraphBuilder, Value
from specc.initializers import VarianceScaling, _PresetVarianceScaling
from specc.layers.base import ShapeError, WeightSpec, configured_weight
from specc.lazy_numpy import np
from specc.types import Dim, TensorType

_FORMS = (
    # (pattern over the equation with "..." written "0", where the ellipsis sits)
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), None),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), "right"),
)


@dataclass(frozen=True)
class EinsumPlan:
    """An equation applied to one input: each axis of the input, kernel and output named
    by a label (a letter, or a digit for an axis the ellipsis stands for), and the sizes."""

    x_labels: tuple[str, ...]
    kernel_labels: tuple[str, ...]
    out_labels: tuple[str, ...]
    sizes: dict[str, Dim]
    kernel_shape: tuple[int, ...]
    bias_shape: tuple[int, ...] | None
    output_shape: tuple[Dim, ...]  # batch axis included

    @property
    def fans(self) -> tuple[int, int]:
        """Keras's (fan_in, fan_out) of the kernel: the sizes of its axes the input shares,
        and of those the output does (``EinsumDense._update_kernel_initializer``)."""
        fan_in = math.prod(
            size
            for size, label in zip(self.kernel_shape, self.kernel_labels, strict=True)
            if label in self.x_labels
        )
        return fan_in, math.prod(self.kernel_shape) // max(fan_in, 1)


def plan_einsum(
    equation: str, bias_axes: str | None, x: TensorType, output_shape: int | list[Dim]
) -> EinsumPlan:
    """Analyse ``equation`` for input ``x`` as Keras's EinsumDense.build does; a
    ``ShapeError`` (at ``equation``, ``output_shape`` or ``bias_axes``) when they do not fit."""
    replaced = equation.replace("...", "0")
    found = [(m, side) for pattern, side in _FORMS if (m := pattern.fullmatch(replaced))]
    if not found:
        raise ShapeError(
            f"equation must have the form [X],[Y]->[Z], ...[X],[Y]->...[Z] or "
            f"[X]...,[Y]->[Z]...; got equation='{equation}'",
            field="equation",
        )
    match, elided_side = found[0]
    x_spec, w_spec, out_spec = match.groups()
    for what, spec in (("input", x_spec), ("kernel", w_spec), ("output", out_spec)):
        if len(set(spec)) != len(spec):
            raise ShapeError(
                f"equation names an axis twice in its {what} '{spec}'; got '{equation}'",
                field="equation",
            )
    full = x.full_shape
    elided = len(full) - len(x_spec)
    if elided < 0 or (elided_side is None and elided != 0) or (elided_side and elided < 1):
        raise ShapeError(
            f"equation '{equation}' names {len(x_spec)} input axes (batch axis included) "
            f"but the input {x} has rank {len(full)}",
            field="equation",
        )
    ellipsis = tuple(str(k) for k in range(elided))
    if elided_side == "left":
        x_labels, out_labels = ellipsis + tuple(x_spec), ellipsis + tuple(out_spec)
        given_labels = tuple(out_spec)
    elif elided_side == "right":
        x_labels, out_labels = tuple(x_spec) + ellipsis, tuple(out_spec) + ellipsis
        given_labels = tuple(out_spec[1:])
    else:
        x_labels, out_labels = tuple(x_spec), tuple(out_spec)
        given_labels = tuple(out_spec[1:])
    given = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    if len(given) != len(given_labels):
        raise ShapeError(
            f"output_shape must give {len(given_labels)} size(s), one per output axis of "
            f"'{equation}' after the batch axis and the ellipsis; got output_shape={output_shape}",
            field="output_shape",
        )
    sizes: dict[str, Dim] = dict(zip(x_labels, full, strict=True))
    for label, size in zip(given_labels, given, strict=True):
        if label in sizes:
            if size is not None and sizes[label] is not None and size != sizes[label]:
                raise ShapeError(
                    f"input and output_shape differ at shared axis '{label}': the input "
                    f"has {sizes[label]}, output_shape {size}",
                    field="output_shape",
                )
        else:
            sizes[label] = size
    _check_labels(equation, x_labels, w_spec, out_labels)
    kernel_shape = []
    for label in w_spec:
        if sizes.get(label) is None:
            source = "output_shape" if label in out_labels else "the input"
            raise ShapeError(
                f"the kernel axis '{label}' of '{equation}' needs a known size from {source}",
                field="output_shape" if label in out_labels else "equation",
            )
        kernel_shape.append(sizes[label])
    out_full = tuple(sizes[label] for label in out_labels)
    return EinsumPlan(
        x_labels,
        tuple(w_spec),
        out_labels,
        sizes,
        tuple(int(d) for d in kernel_shape),
        _bias_shape(bias_axes, out_spec, sizes, elided_side, elided),
        (None, *out_full[1:]),
    )


def _check_labels(
    equation: str, x_labels: tuple[str, ...], w_spec: str, out_labels: tuple[str, ...]
) -> None:
    for label in out_labels:
        if label not in x_labels and label not in w_spec:
            raise ShapeError(
                f"output axis '{label}' of '{equation}' is in neither the input nor the kernel",
                field="equation",
            )
    for label in w_spec:
        if label not in x_labels and label not in out_labels:
            raise ShapeError(
                f"kernel axis '{label}' of '{equation}' is in neither the input nor the output",
                field="equation",
            )
        if label in x_labels and label in out_labels:
            raise ShapeError(
                f"kernel axis '{label}' of '{equation}' is in both the input and the output; "
                "specc supports kernels that contract input axes or add output axes only",
                field="equation",
            )
    for label in x_labels:
        if label not in w_spec and label not in out_labels:
            raise ShapeError(
                f"input axis '{label}' of '{equation}' is in neither the kernel nor the "
                "output; specc does not sum input axes away",
                field="equation",
            )
    if x_labels[0] in w_spec:
        raise ShapeError(
            f"'{equation}' contracts the batch axis '{x_labels[0]}' with the kernel",
            field="equation",
        )


def _bias_shape(
    bias_axes: str | None,
    out_spec: str,
    sizes: dict[str, Dim],
    elided_side: str | None,
    elided: int,
) -> tuple[int, ...] | None:
    """Keras's bias: from the first bias axis to the end of the output's letters, each
    bias axis its size and the others 1, plus a 1 per axis a right ellipsis adds."""
    if bias_axes is None:
        return None
    for char in bias_axes:
        if char not in out_spec:
            raise ShapeError(
                f"bias_axes '{char}' is not an axis of the output '{out_spec}'",
                field="bias_axes",
            )
    first = min(out_spec.find(char) for char in bias_axes)
    shape = []
    for char in out_spec[first:]:
        size = sizes[char] if char in bias_axes else 1
        if size is None:
            raise ShapeError(f"the bias axis '{char}' needs a known size", field="bias_axes")
        shape.append(size)
    if elided_side == "right":
        shape += [1] * elided
    return tuple(shape)


def lower_einsum(b: GraphBuilder, plan: EinsumPlan, x: Value, kernel: Value) -> Value:
    """``einsum(equation, x, kernel)`` as one MatMul: x transposed to (free..., contracted)
    and the contracted axes flattened, the kernel to (contracted, added); the result's axes
    unflattened and put in the output's order. Unknown sizes are free axes, which Reshape
    copies with 0, so they need no Shape op."""
    free_x = [label for label in plan.x_labels if label in plan.out_labels]
    contracted = [label for label in plan.kernel_labels if label in plan.x_labels]
    free_w = [label for label in plan.kernel_labels if label in plan.out_labels]
    x = _transpose(b, x, [plan.x_labels.index(label) for label in free_x + contracted])
    k = math.prod(int(plan.sizes[label]) for label in contracted)  # type: ignore[arg-type]
    if len(contracted) != 1:
        x = _reshape(b, x, [0] * len(free_x) + [k])
    w = _transpose(b, kernel, [plan.kernel_labels.index(label) for label in contracted + free_w])
    added = [int(plan.sizes[label]) for label in free_w]  # type: ignore[arg-type]
    if len(contracted) != 1 or len(free_w) != 1:
        w = _reshape(b, w, [k, math.prod(added)])
    y = b.op("MatMul", x, w)
    if len(free_w) != 1:
        y = _reshape(b, y, [0] * len(free_x) + added)
    order = free_x + free_w
    return _transpose(b, y, [order.index(label) for label in plan.out_labels])


def _transpose(b: GraphBuilder, x: Value, perm: list[int]) -> Value:
    return x if perm == sorted(perm) else b.op("Transpose", x, perm=perm)


def _reshape(b: GraphBuilder, x: Value, shape: list[int]) -> Value:
    return b.op("Reshape", x, b.constant(shape, np.int64, hint="shape"))


def einsum_weights(layer: object, plan: EinsumPlan, prefix: str = "") -> list[WeightSpec]:
    """An EinsumDense's weights ``<prefix>kernel`` and, if the plan has a bias,
    ``<prefix>bias``, drawn, penalised and constrained as the layer's ``kernel_*`` and
    ``bias_*`` arguments say (an attention layer's sub-layers share its arguments)."""
    kernel = configured_weight(layer, f"{prefix}kernel", plan.kernel_shape, "kernel")
    specs = [fan_axes_initializer(kernel, plan)]
    if plan.bias_shape is not None:
        specs.append(configured_weight(layer, f"{prefix}bias", plan.bias_shape, "bias"))
    return specs


def einsum_dense(
    b: GraphBuilder, plan: EinsumPlan, x: Value, weights: dict[str, Value], prefix: str = ""
) -> Value:
    """An EinsumDense without activation, of weights ``<prefix>kernel`` and, if the plan
    has a bias, ``<prefix>bias``."""
    y = lower_einsum(b, plan, x, weights[f"{prefix}kernel"])
    return y if plan.bias_shape is None else b.op("Add", y, weights[f"{prefix}bias"])


def einsum_dense_np(
    equation: str, x: np.ndarray, weights: dict[str, np.ndarray], prefix: str = ""
) -> np.ndarray:
    """NumPy twin of ``einsum_dense`` (float64)."""
    y = np.einsum(equation, x, weights[f"{prefix}kernel"].astype(np.float64))
    bias = weights.get(f"{prefix}bias")
    return y if bias is None else y + bias


@dataclass(frozen=True)
class FanAxesInitializer:
    """A VarianceScaling initializer counting the fans as EinsumDense tells Keras's
    (its ``input_axes``/``output_axes``): the kernel is drawn as the (fan_in, fan_out)
    matrix it stands for, whose values are independent, then reshaped."""

    inner: Any
    fans: tuple[int, int]

    def check_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """As the wrapped initializer."""
        return self.inner.check_shape(shape)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator | None = None) -> np.ndarray:
        """A draw of the (fan_in, fan_out) matrix in ``shape``."""
        dims = self.inner.check_shape(shape)
        return self.inner.sample(self.fans, rng).reshape(dims)


def fan_axes_initializer(kernel: WeightSpec, plan: EinsumPlan) -> WeightSpec:
    """``kernel`` drawn with the plan's fans where its initializer is a VarianceScaling
    (Keras rewrites only those); unchanged otherwise."""
    if not isinstance(kernel.initializer, (VarianceScaling, _PresetVarianceScaling)):
        return kernel
    return replace(kernel, initializer=FanAxesInitializer(kernel.initializer, plan.fans))
