"""A masked recurrence of any length through ONNX's fused recurrent op: the kept steps
are moved to the front of each sequence, the fused op runs over them, and each step's
output is read back from the last kept step at or before it.

Keras's backend ``rnn`` with a mask keeps the states at a masked step and repeats the
previous output (zeros with ``zero_output_for_mask``). The states after step t are thus
the states after the kept steps up to t run in order with nothing in between, which is
what the fused op computes on the compacted sequence; the fused op takes any length
(``None`` timesteps), where the unrolled lowering needs a known one. The steps moved
behind the kept ones are computed too but never read.

- order: TopK of the key ``mask * BIG - position`` (kept steps first, each group in time
  order), as indices; GatherElements moves the inputs (its gradient scatters back).
- read back: the output at step t is Y at index ``cumsum(mask)[t] - 1`` (the number of kept
  steps so far, less one), zeros before the first kept step.

- final states: h is the output at the last step. LSTM's cell state is no output of the
  op at each step, and its final one would have run over the moved steps too; so when it
  is returned (``return_state``) the op is given ``sequence_lens``, each row's number of
  kept steps, and stops there: its Y_h and Y_c are the states after the last kept step (the
  initial zeros for a row with none), and its Y past them zeros, which are never read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from specc.graph import GraphBuilder, Value
from specc.layers.base import LowerContext, ShapeError
from specc.layers.recurrent_ops import ints, reverse_time, unsqueeze
from specc.lazy_numpy import np
from specc.types import FLOAT, INT64, TensorType

INT32 = 6  # onnx.TensorProto.INT32: the type of the fused ops' sequence_lens

if TYPE_CHECKING:
    from specc.layers.recurrent import Recurrent

# Above any position: keys BIG - t (kept) and -t (masked) stay exact float32 integers and
# apart for sequences of up to 2**22 steps.
BIG = float(2**22)


def lower_compacted(
    layer: Recurrent,
    ctx: LowerContext,
    x: Value,
    t: TensorType,
    weights: dict[str, Value],
    mask: Value,
) -> tuple[Value | None, list[Value], Value]:
    """(outputs (B, T, units) in processing order when return_sequences, final states,
    last output), as ``recurrent_unrolled.lower_unrolled`` with a mask."""
    b = ctx.builder
    steps = t.shape[0]
    if layer.go_backwards:  # the processing order is the reversed sequence
        x = reverse_time(b, x, steps, axis=1)
        mask = reverse_time(b, mask, steps, axis=1)
    time_axis = b.constant(1, np.int64, hint="axis")
    kept_so_far = b.op("CumSum", mask, time_axis)
    # 0, 1, ..., T-1 along time: the running count of ones, less one.
    ones = b.op("Add", b.op("Mul", mask, b.constant(0.0)), b.constant(1.0))
    position = b.op("Sub", b.op("CumSum", ones, time_axis), b.constant(1.0))
    key = b.op("Sub", b.op("Mul", mask, b.constant(BIG)), position)
    length = b.op("Shape", x, start=1, end=2)
    _, order = b.op("TopK", key, length, axis=1, largest=1, sorted=1, outputs=2)
    compacted = _gather_steps(b, x, order)
    forward = layer.model_copy(update={"go_backwards": False, "return_sequences": True})
    lengths = None
    if layer.return_state and layer.state_count > 1:
        if ctx.for_training and not ctx.fused_recurrence:
            raise _engine_refusal(layer, t)
        kept = b.reduce_sum(mask, 1, keepdims=False)
        lengths = b.op("Cast", kept, to=INT32)
    sequence, finals = forward.lower_fused(ctx, compacted, t, weights, lengths)
    assert sequence is not None  # return_sequences
    # Y at the last kept step so far; zeros before the first one.
    started = b.op("Cast", b.op("Greater", kept_so_far, b.constant(0.0)), to=FLOAT)
    before = b.op("Max", b.op("Sub", kept_so_far, b.constant(1.0)), b.constant(0.0))
    index = b.op("Cast", before, to=INT64)
    carried = b.op("Mul", _gather_steps(b, sequence, index), unsqueeze(b, started, 2))
    outputs = b.op("Mul", carried, unsqueeze(b, mask, 2)) if layer.zero_output_for_mask else carried
    last = _last_step(b, outputs)
    states = finals if lengths is not None else [_last_step(b, carried)]
    return (outputs if layer.return_sequences else None), states, last


def _engine_refusal(layer: Recurrent, t: TensorType) -> ShapeError:
    """Why onnxruntime-training's graph (``LowerContext.fused_recurrence`` off) cannot
    hold this layer: its LSTMGrad refuses sequence_lens at run time."""
    steps = "a variable number of" if t.shape[0] is None else f"{t.shape[0]}"
    return ShapeError(
        f"{layer.type_name()} with return_state=true reading a mask (Embedding mask_zero or "
        f"Masking) over {steps} timesteps cannot train on onnxruntime-training (the "
        "ort-training backend, mobile training artifacts): its final cell state needs the "
        "fused LSTM's sequence_lens, which onnxruntime-training's LSTMGrad refuses; train "
        "with --backend standard, or give the input a fixed number of timesteps (at most "
        f"{layer.max_unrolled_steps})",
        field="return_state",
    )


def _gather_steps(b: GraphBuilder, x: Value, order: Value) -> Value:
    """x[b, order[b, t], :] for (B, T, F) ``x`` and (B, T) int64 ``order``."""
    indices = b.op("Expand", unsqueeze(b, order, 2), b.op("Shape", x))
    return b.op("GatherElements", x, indices, axis=1)


def _last_step(b: GraphBuilder, x: Value) -> Value:
    """x[:, -1, :] of a (B, T, F) tensor."""
    last = b.op(
        "Slice",
        x,
        b.constant(ints([-1]), np.int64, hint="starts"),
        b.constant(ints([2**62]), np.int64, hint="ends"),
        b.constant(ints([1]), np.int64, hint="axes"),
    )
    return b.op("Squeeze", last, b.constant(ints([1]), np.int64, hint="axes"))
