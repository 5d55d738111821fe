"""Keras's masks: which layer makes one, which passes it on, which reads it, which drops it.

A mask marks the (batch, step) positions of a sequence that count: Keras's
``Embedding(mask_zero=True)`` marks the ids that are not 0, ``Masking`` the steps with a
feature that differs from ``mask_value``. Keras attaches it to the output tensor
(``_keras_mask``); later layers receive it as their ``mask`` argument and attach what their
``compute_mask`` returns to their own outputs, so it reaches the layers that read it
(recurrent layers, GlobalAveragePooling1D, attention) and finally the losses.

Here a mask is a float32 tensor of 0s and 1s beside a value (``Mask.value``), not a
boolean: every consumer multiplies by it, and a Mul by a 0/1 factor is both exact and far
cheaper on onnxruntime's CPU provider than ``Where`` over the masked tensor.

Each layer class says what it does with a mask through ``Layer.mask_rule`` (a
``MaskRule``); ``output_masks`` and ``output_flags`` apply that one rule, the first while
lowering (graph values), the second during shape inference (whether an output is masked at
all, which some layers must know to check their inputs). Keras 3 follows
``supports_masking``: a layer that does not support masking drops the mask (Keras warns and
goes on), it does not fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.types import FLOAT

if TYPE_CHECKING:
    from specc.layers.base import Layer, LowerContext
    from specc.types import TensorType

# drop: outputs carry no mask (Keras: a layer that does not support masking).
# propagate: every output (or ``outputs``) carries the first input's mask (Keras's default
#   ``compute_mask`` returns ``previous_mask``).
# any: merge layers: the logical OR of the inputs' masks, none if some input has none
#   (``Merge.compute_mask``).
# concat: Concatenate on the last axis: the OR of the masks, an input without one counting
#   as all ones (so all ones then); none when no input has one (``Concatenate.compute_mask``
#   concatenates the masks broadcast over features, then takes ``any`` over that axis).
# compute: the layer makes a new mask from its input (``Layer.make_mask``).
MaskKind = Literal["drop", "propagate", "any", "concat", "compute"]


@dataclass(frozen=True)
class MaskRule:
    """What a layer does with masks: its ``kind`` (see ``MaskKind``) and which outputs
    carry the result (None: all of them)."""

    kind: MaskKind
    outputs: tuple[int, ...] | None = None

    def carries(self, index: int) -> bool:
        """Whether output ``index`` carries the mask the rule computes."""
        return self.outputs is None or index in self.outputs


DROP = MaskRule("drop")
PROPAGATE = MaskRule("propagate")


def output_flags(layer: Layer, masked: list[bool], outputs: int) -> list[bool]:
    """Which of the layer's ``outputs`` carry a mask, given which inputs do."""
    rule = layer.mask_rule()
    if rule.kind == "compute":
        made = True
    elif rule.kind == "propagate":
        made = bool(masked) and masked[0]
    elif rule.kind == "any":
        made = bool(masked) and all(masked)
    elif rule.kind == "concat":
        made = any(masked)
    else:
        made = False
    return [made and rule.carries(k) for k in range(outputs)]


def output_masks(
    layer: Layer,
    ctx: LowerContext,
    inputs: list[Value],
    input_types: list[TensorType],
    masks: list[Value | None],
    outputs: int,
) -> list[Value | None]:
    """The masks of the layer's ``outputs`` (float32 (batch, steps) or None), from its
    inputs and their ``masks``, by the layer's ``mask_rule``."""
    rule = layer.mask_rule()
    b = ctx.builder
    made: Value | None = None
    if rule.kind == "compute":
        made = layer.make_mask(ctx, inputs, input_types)
    elif rule.kind == "propagate":
        made = masks[0] if masks else None
    elif rule.kind == "any" and masks and all(m is not None for m in masks):
        made = _fold(b, "Max", [m for m in masks if m is not None])
    elif rule.kind == "concat" and any(m is not None for m in masks):
        present = [m for m in masks if m is not None]
        made = _fold(b, "Max", present)
        if len(present) < len(masks):
            made = b.op("Max", made, b.constant(1.0))  # ones, of the mask's shape
    return [made if rule.carries(k) else None for k in range(outputs)]


def _fold(b: GraphBuilder, op: str, masks: list[Value]) -> Value:
    """OR (Max) of 0/1 masks."""
    result = masks[0]
    for m in masks[1:]:
        result = b.op(op, result, m)
    return result


# -- making and using masks ------------------------------------------------------------


def not_equal(b: GraphBuilder, x: Value, dtype: str, value: float) -> Value:
    """1.0 where ``x`` (of ``dtype``) differs from ``value``, else 0.0, in float32."""
    equal = b.op("Equal", x, b.constant(value, np.dtype(dtype), hint="mask_value"))
    return b.op("Cast", b.op("Not", equal), to=FLOAT)


def any_over_last(b: GraphBuilder, flags: Value) -> Value:
    """1.0 where some entry along the last axis of 0/1 ``flags`` is 1 (the axis removed)."""
    count = b.reduce_sum(flags, -1, keepdims=False)
    return b.op("Cast", b.op("Greater", count, b.constant(0.0)), to=FLOAT)


def expand_last(b: GraphBuilder, mask: Value, times: int = 1) -> Value:
    """``mask`` with ``times`` trailing axes of size 1, to broadcast over features."""
    axes = b.constant(np.arange(-times, 0, dtype=np.int64), np.int64, hint="axes")
    return b.op("Unsqueeze", mask, axes)


def select_by_mask(b: GraphBuilder, keep: Value, drop: Value, new: Value, old: Value) -> Value:
    """``new`` where the 0/1 ``keep`` is 1, ``old`` where it is 0 (``drop`` = 1 - keep): a
    sum of two exact products, not ``Where``, which onnxruntime's CPU provider runs ~10x
    slower."""
    return b.op("Add", b.op("Mul", new, keep), b.op("Mul", old, drop))
