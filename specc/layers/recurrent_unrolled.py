"""The unrolled lowering of SimpleRNN, LSTM and GRU: plain ops, one set per time step.

Built for training speed in onnxruntime-training, whose fused LSTMGrad/GRUGrad kernels are
slow (so LSTM and GRU use it in training graphs only, ``LowerContext.for_training``, and
where no fused op computes the config): every op of the recurrence is an ONNX op with a
gradient, and as few of them as the maths allows.

- The input projection of every time step is one MatMul: x (time-major, (T, B, F)) times
  the whole kernel (F, k*units) plus the input bias, then one Split along time into T
  (B, k*units) pieces.
- Each step multiplies h once by the whole recurrent kernel (or by the column groups the
  cell needs apart, GRU with reset_after=false) and cuts the gates apart with Split.

Every Split here has all of its outputs consumed: a Split with an unused output gets a
silently wrong gradient (``docs/engine-notes.md#split-unused-output``). Split, not Slice,
because onnxruntime's GatherSliceToSplitFusion turns several Slices of one tensor into a
Split and its node names then collide (generate_artifacts fails).

Dropout follows Keras's cells (see ``Recurrent``): one input mask for every gate, or with
recurrent dropout one input and one recurrent mask per gate, each shared by all steps.
``go_backwards`` visits the time pieces from the last, so no reversal op is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from specc.graph import GraphBuilder, Value
from specc.layers.base import LowerContext
from specc.layers.masks import select_by_mask
from specc.layers.recurrent_ops import batch_fill, dropout_masks, ints
from specc.lazy_numpy import np
from specc.types import TensorType

if TYPE_CHECKING:
    from specc.layers.recurrent import Recurrent

# Longer known sequences keep the fused form (Recurrent.max_unrolled_steps). An unrolled
# LSTM or GRU step is ~14 forward nodes and ~40 in the training graph, and onnxruntime's
# session creation grows faster than linearly with them (LSTM(128) on a 2-core machine:
# compile + training artifacts + session 1 s at 128 steps, 10 s at 512, 28 s at 1024),
# while a training step stays ~3x faster than the fused op's at every length; 512 keeps
# that one-off cost near 10 s. SimpleRNN's step is 4 nodes: it gets four times as many.
MAX_UNROLLED_STEPS = 512


def split(b: GraphBuilder, value: Value, sizes: list[int], axis: int) -> list[Value]:
    """``value`` cut into ``sizes`` along ``axis``. The caller must consume every piece
    (an unused Split output corrupts the gradient of the others)."""
    if len(sizes) == 1:
        return [value]
    split_sizes = b.constant(ints(sizes), np.int64, hint="split")
    return list(b.op("Split", value, split_sizes, axis=axis, outputs=len(sizes)))


@dataclass
class Recurrence:
    """What every time step reads, built once per call: the recurrent kernel cut into the
    column groups the cell projects h through, the recurrent dropout masks and bias."""

    b: GraphBuilder
    units: int
    # Gate range -> that slice of recurrent_kernel (unmasked), or one slice per gate.
    kernels: dict[tuple[int, int], Value]
    masks: list[Value]
    # GRU reset_after's recurrent bias row (1, 3*units), else None.
    bias: Value | None

    @classmethod
    def build(
        cls,
        b: GraphBuilder,
        units: int,
        kernel: Value,
        groups: list[tuple[int, int]],
        masks: list[Value],
        bias: Value | None,
    ) -> Recurrence:
        """Split ``kernel`` once: into ``groups``, or with masks into single gates."""
        if masks:
            gates = groups[-1][1]
            groups = [(g, g + 1) for g in range(gates)]
        pieces = split(b, kernel, [(last - first) * units for first, last in groups], axis=1)
        return cls(b, units, dict(zip(groups, pieces, strict=True)), masks, bias)

    def project(self, h: Value, first: int, last: int) -> Value:
        """h R for gates ``first..last-1`` (B, (last-first)*units): one MatMul, or with
        recurrent dropout one per gate on h times that gate's mask, concatenated."""
        b = self.b
        if not self.masks:
            return b.op("MatMul", h, self.kernels[first, last])
        parts = [
            b.op("MatMul", b.op("Mul", h, self.masks[g]), self.kernels[g, g + 1])
            for g in range(first, last)
        ]
        return parts[0] if len(parts) == 1 else b.op("Concat", *parts, axis=-1)


def input_projection(
    layer: Recurrent, ctx: LowerContext, x: Value, t: TensorType, kernel: Value, bias: Value | None
) -> Value:
    """x K + b for every step at once, time-major (T, B, k*units), input dropout applied."""
    b = ctx.builder
    _, features = t.shape
    assert features is not None  # output_types checked it
    units, gates = layer.units, layer.gates
    # Keras draws one input mask per gate only when it also drops recurrently.
    count = gates if layer.drops(layer.recurrent_dropout) else 1
    masks = []
    if layer.drops(layer.dropout):
        masks = dropout_masks(ctx, x, features, layer.dropout, count, layer.seed)
    steps = b.op("Transpose", x, perm=[1, 0, 2])  # the smaller tensor to transpose
    if len(masks) <= 1:
        dropped = b.op("Mul", steps, masks[0]) if masks else steps
        projection = b.op("MatMul", dropped, kernel)
    else:
        kernels = split(b, kernel, [units] * gates, axis=1)
        parts = [
            b.op("MatMul", b.op("Mul", steps, m), k) for m, k in zip(masks, kernels, strict=True)
        ]
        projection = b.op("Concat", *parts, axis=-1)
    return projection if bias is None else b.op("Add", projection, bias)


def step_masks(b: GraphBuilder, mask: Value | None, steps: int) -> list[tuple[Value, Value]] | None:
    """Each step's (mask, 1 - mask) as (B, 1) columns, or None without a mask."""
    if mask is None:
        return None
    columns = split(b, mask, [1] * steps, axis=1)  # every piece is read by its step
    one = b.constant(1.0)
    return [(m, b.op("Sub", one, m)) for m in columns]


def lower_unrolled(
    layer: Recurrent,
    ctx: LowerContext,
    x: Value,
    t: TensorType,
    weights: dict[str, Value],
    mask: Value | None = None,
) -> tuple[Value | None, list[Value], Value]:
    """(outputs (B, T, units) in processing order when return_sequences, final states,
    last output).

    With a ``mask`` (float32 (B, T) of 0/1), as Keras's backend ``rnn``: a masked step
    keeps the previous states, and outputs the previous h, or zeros with
    ``zero_output_for_mask``; the last output is the last step's output either way.
    """
    b = ctx.builder
    steps = t.shape[0]
    assert steps is not None  # output_types checked it
    units = layer.units
    # Built once: GRU's two bias rows come from one Split whose outputs must both be used.
    input_bias, recurrent_bias = layer.unrolled_biases(b, weights)
    projection = input_projection(layer, ctx, x, t, weights["kernel"], input_bias)
    axis0 = b.constant(ints([0]), np.int64, hint="axes")
    # Every time piece is consumed by its step, so the Split's gradient is sound.
    pieces = [b.op("Squeeze", p, axis0) for p in split(b, projection, [1] * steps, axis=0)]
    masks = []
    if layer.drops(layer.recurrent_dropout):
        # Distinct seeds, or a seeded layer's masks would repeat the input masks' draws.
        seed = None if layer.seed is None else layer.seed + layer.gates
        masks = dropout_masks(ctx, x, units, layer.recurrent_dropout, layer.gates, seed)
    recurrence = Recurrence.build(
        b,
        units,
        weights["recurrent_kernel"],
        layer.recurrent_groups(),
        masks,
        recurrent_bias,
    )
    # Keras starts from zeros; batch_fill keeps every later shape known (see there). Not
    # a broadcasting (1, units) constant: onnxruntime's MatMulAddFusion turns h0 R + x
    # into a Gemm whose C is larger than its output, and session creation crashed.
    states = [batch_fill(b, x, 0.0, units)] * layer.state_count
    kept = step_masks(b, mask, steps)
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    outputs = []
    for k in order:
        out, new_states = layer.step(b, pieces[k], states, recurrence)
        if kept is None:
            states = new_states
        else:
            keep, drop = kept[k]
            pairs = zip(new_states, states, strict=True)
            states = [select_by_mask(b, keep, drop, n, s) for n, s in pairs]
            # Keras: zeros, or the previous output, which is the (kept) state h.
            out = b.op("Mul", out, keep) if layer.zero_output_for_mask else states[0]
        outputs.append(out)
    if not layer.return_sequences:
        return None, states, outputs[-1]
    axis1 = b.constant(ints([1]), np.int64, hint="axes")
    stacked = b.op("Concat", *[b.op("Unsqueeze", o, axis1) for o in outputs], axis=1)
    return stacked, states, outputs[-1]
