"""Gradients of ONNX's fused recurrent ops LSTM, GRU and RNN: backpropagation through time
as an ONNX ``Scan`` over the steps in reverse.

Why rules for the fused ops, and not a training lowering to a ``Scan`` over a step function
whose body the core would differentiate: the forward pass stays the one op every runtime
runs fast, inference and training graphs keep one lowering (the layers are untouched), the
gradient is exact (the op's own equations, nothing approximated), and the core never has
to differentiate a subgraph. Nor would a step-function Scan be faster: forward it runs
about as fast as the fused op (onnxruntime 1.19 CPU, LSTM(128), 100 steps, batch 32), and
its differentiated body would hold the step's ops and their gradients (some 30 for an LSTM
step) where the loop below holds 7. Most of the work here runs outside any loop:

- The op's output Y holds every hidden state, so the state each step started from is Y
  shifted by one step (``previous``), and every gate's pre-activation, at every step,
  is one MatMul of the inputs and one of the shifted states. Only LSTM's cell states are
  not an output: a small ``Scan`` rebuilds them (c = f*c + i*g, elementwise). A plain
  forward LSTM (default activations, no clip) skips all that: its forward pass, in the
  graph being differentiated, is rebuilt as a Gemm and a ``Scan`` that also output the
  gates and the cell states' terms (``recurrent_forward``; M3's step ~17% less work).
- The one truly sequential part is the state's gradient flowing back from step to step:
  a ``Scan`` from the last step to the first whose body is a few elementwise ops and one
  MatMul by the recurrent weights (two for GRU with linear_before_reset=0). Each step
  emits the gradients of its gate pre-activations (``a``, (B, gates*H)).
- From those, every weight gradient is one MatMul over all steps and batch rows at once
  (``outer_sum``), the input's one MatMul, the biases one ReduceSum.

Measured (same setting, a shared 2-core machine, so +-30%): forward and backward together
take ~7x the forward op alone for LSTM, ~5x for GRU, ~2-3x for RNN; the floor of this
scheme is ~3x the forward's MatMul work (gate pre-activations recomputed, then the input,
weight and state gradients), the rest is elementwise passes and the Scan's per-step cost.
The standard backend's training graph keeps the fused ops at every length
(``LowerContext.fused_recurrence``): with these rules they train faster than the unrolled
plain ops (M3 of bench/train_throughput.py, onnxruntime 1.32: ~7%), which only
onnxruntime-training's graph still uses.

Every attribute of the ops is covered (direction forward/reverse/bidirectional, every
activation with its alpha/beta, clip, GRU's linear_before_reset, initial states, a gradient
on any of Y, Y_h, Y_c), except LSTM's peepholes P, input_forget and layout=1, which specc never
emits, and sequence_lens beyond a forward LSTM's (``recurrent_masked`` gives one to read
the cell state after each row's last kept step): they raise a ValueError naming the node.
"""

from __future__ import annotations

from specc.autodiff.core import Backward, vjp
from specc.autodiff.rules.recurrent_forward import coefficients, forward_gates
from specc.autodiff.rules.recurrent_lanes import (
    Lane,
    LaneGrads,
    carry,
    fused_rule,
    outer_sum,
    previous,
    project,
    scan,
    split,
    step_gradient,
    time_batch_sum,
)
from specc.autodiff.rules.recurrent_parts import Fused, activate
from specc.graph import GraphBuilder, Value

Grads = list[Value | None]


def _add(d: Backward, *values: Value | None) -> Value:
    present = [v for v in values if v is not None]
    return present[0] if len(present) == 1 else d.op("Sum", *present)


@vjp("RNN")
def _rnn(d: Backward, g: Grads) -> Grads:
    """H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)."""

    def lane_rule(d: Backward, cell: Fused, x: Value, lane: Lane) -> LaneGrads:
        pre = _add(d, project(d, x, lane.w, lane.w_bias), project(d, lane.prev_h, lane.r, None))
        pre = pre if lane.r_bias is None else d.op("Add", pre, lane.r_bias)
        _, slope = activate(d, cell, lane.activations[0], pre)
        g_y = [lane.g_y] if lane.g_y is not None else []

        def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
            a = b.op("Mul", step_gradient(b, step[1:], held[0]), step[0])
            return [b.op("MatMul", a, lane.r)], [a]

        (h0,), (a,) = scan(
            d, "backward", [carry(d, lane.g_h, lane)], [slope, *g_y], True ^ lane.reverse, body
        )
        return LaneGrads(a, lambda: outer_sum(d, a, lane.prev_h), lambda: time_batch_sum(d, a), h0)

    return fused_rule(d, g, lane_rule)


@vjp("GRU")
def _gru(d: Backward, g: Grads) -> Grads:
    """z, r = f(X W^T + H R^T + Wb + Rb), n = g(X W_n^T + r*(H R_n^T + Rb_n) + Wb_n), with
    linear_before_reset=0 n = g(X W_n^T + (r*H) R_n^T + Rb_n + Wb_n); H' = (1-z)*n + z*H."""

    def lane_rule(d: Backward, cell: Fused, x: Value, lane: Lane) -> LaneGrads:
        size, f, g_act = cell.hidden, *lane.activations
        x_z, x_r, x_n = split(d, project(d, x, lane.w, lane.w_bias), [size] * 3)
        prev = lane.prev_h
        r_bias = [None, None, None] if lane.r_bias is None else split(d, lane.r_bias, [size] * 3)
        if cell.linear_before_reset:
            h_z, h_r, h_n = split(d, project(d, prev, lane.r, lane.r_bias), [size] * 3)
        else:
            r_zr, r_n = split(d, lane.r, [2 * size, size], axis=0)
            zr_bias = None if lane.r_bias is None else d.op("Concat", *r_bias[:2], axis=0)
            h_z, h_r = split(d, project(d, prev, r_zr, zr_bias), [size] * 2)
        z, slope_z = activate(d, cell, f, d.op("Add", x_z, h_z))
        r, slope_r = activate(d, cell, f, d.op("Add", x_r, h_r))
        if cell.linear_before_reset:
            reset = d.op("Mul", r, h_n)
        else:
            reset_h = d.op("Mul", r, prev)
            reset = project(d, reset_h, r_n, r_bias[2])
        n, slope_n = activate(d, cell, g_act, d.op("Add", x_n, reset))
        # d/dz of H' is H - n, d/dn is 1 - z: each gate's pre-activation gradient is the
        # step's state gradient times a coefficient known before the loop.
        k_z = d.op("Mul", d.op("Sub", prev, n), slope_z)
        k_n = d.op("Mul", d.op("Sub", d.const(1.0), z), slope_n)
        g_y = [lane.g_y] if lane.g_y is not None else []
        carried = [carry(d, lane.g_h, lane)]
        direction = True ^ lane.reverse
        if cell.linear_before_reset:
            # a_r = a_n * (H R_n^T + Rb_n) * f'; the recurrent weights see r * a_n for n.
            k_r = d.op("Mul", d.op("Mul", k_n, h_n), slope_r)
            k = d.op("Concat", k_z, k_r, k_n, axis=-1)
            k_rec = d.op("Concat", k_z, k_r, d.op("Mul", k_n, r), axis=-1)

            def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
                g_h = step_gradient(b, step[3:], held[0])
                tiled = b.op("Concat", g_h, g_h, g_h, axis=-1)
                a, a_rec = b.op("Mul", tiled, step[1]), b.op("Mul", tiled, step[2])
                back = b.op("Add", b.op("Mul", g_h, step[0]), b.op("MatMul", a_rec, lane.r))
                return [back], [a, a_rec]

            (h0,), (a, a_rec) = scan(d, "backward", carried, [z, k, k_rec, *g_y], direction, body)
            return LaneGrads(
                a,
                lambda: outer_sum(d, a_rec, prev),
                lambda: time_batch_sum(d, a_rec),
                h0,
            )
        k_r = d.op("Mul", prev, slope_r)

        def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
            z_t, k_z_t, k_n_t, k_r_t, r_t = step[:5]
            g_h = step_gradient(b, step[5:], held[0])
            a_z, a_n = b.op("Mul", g_h, k_z_t), b.op("Mul", g_h, k_n_t)
            g_reset = b.op("MatMul", a_n, r_n)  # gradient of r*H
            a_r = b.op("Mul", g_reset, k_r_t)
            a_zr = b.op("Concat", a_z, a_r, axis=-1)
            back = b.op(
                "Sum", b.op("Mul", g_h, z_t), b.op("Mul", g_reset, r_t), b.op("MatMul", a_zr, r_zr)
            )
            return [back], [b.op("Concat", a_zr, a_n, axis=-1)]

        sequences = [z, k_z, k_n, k_r, r, *g_y]
        (h0,), (a,) = scan(d, "backward", carried, sequences, direction, body)

        def r_grad() -> Value:
            a_zr, a_n = split(d, a, [2 * size, size])
            return d.op("Concat", outer_sum(d, a_zr, prev), outer_sum(d, a_n, reset_h), axis=0)

        return LaneGrads(a, r_grad, lambda: time_batch_sum(d, a), h0)

    return fused_rule(d, g, lane_rule)


@vjp("LSTM")
def _lstm(d: Backward, g: Grads) -> Grads:
    """i, o, f = f(X W^T + H R^T + Wb + Rb), c~ = g(...), C' = f*C + i*c~, H' = o*h(C')
    (gate order i, o, f, c)."""

    def lane_rule(d: Backward, cell: Fused, x: Value, lane: Lane) -> LaneGrads:
        assert lane.c0 is not None
        given = forward_gates(d, cell)
        if given is not None:  # the forward pass now hands over its gates
            forget = given.forget
            k_c, k = coefficients(d, given)
        else:
            i, o, forget, c_new, c, slope_i, slope_o, slope_f, slope_c = _recomputed(
                d, cell, x, lane
            )
            prev_c = previous(d, c, lane.c0, lane.reverse)
            h_c, slope_h = activate(d, cell, lane.activations[2], c, clipped=False)
            # The state gradient dH reaches C through o * h'(C) and o's pre-activation
            # through h(C) f'; dC reaches i, f and c~ through c~ f', C_prev f' and i g'.
            k_c = d.op("Mul", o, slope_h)
            k = d.op(
                "Concat",
                d.op("Mul", c_new, slope_i),
                d.op("Mul", h_c, slope_o),
                d.op("Mul", prev_c, slope_f),
                d.op("Mul", i, slope_c),
                axis=-1,
            )
        g_y = [lane.g_y] if lane.g_y is not None else []
        carried = [carry(d, lane.g_h, lane), carry(d, lane.g_c, lane)]
        if lane.valid is not None:
            return _lstm_lengths(d, lane, k_c, k, forget, g_y, carried)

        def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
            k_c_t, k_t, forget_t = step[:3]
            g_h = step_gradient(b, step[3:], held[0])
            g_c = b.op("Add", held[1], b.op("Mul", g_h, k_c_t))
            a = b.op("Mul", b.op("Concat", g_c, g_h, g_c, g_c, axis=-1), k_t)
            return [b.op("MatMul", a, lane.r), b.op("Mul", g_c, forget_t)], [a]

        sequences = [k_c, k, forget, *g_y]
        (h0, c0), (a,) = scan(d, "backward", carried, sequences, True ^ lane.reverse, body)
        return LaneGrads(
            a, lambda: outer_sum(d, a, lane.prev_h), lambda: time_batch_sum(d, a), h0, c0
        )

    return fused_rule(d, g, lane_rule)


def _lstm_lengths(
    d: Backward,
    lane: Lane,
    k_c: Value,
    k: Value,
    forget: Value,
    g_y: list[Value],
    carried: list[Value],
) -> LaneGrads:
    """The LSTM lane's backward pass with sequence_lens (forward direction only): past a
    row's length the op keeps h and c and writes zeros to Y, so there a step's
    coefficients are zero (no gradient reaches its gates, Y's gradient is dropped) and the
    state gradients pass through unchanged, reaching the last step the row ran."""
    valid = lane.valid
    assert valid is not None
    skip = d.op("Sub", d.const(1.0), valid)
    k_c, k = d.op("Mul", k_c, valid), d.op("Mul", k, valid)
    # c's gradient is carried by forget: 1 at a skipped step.
    forget = d.op("Add", d.op("Mul", forget, valid), skip)
    g_y = [d.op("Mul", g, valid) for g in g_y]
    # A row of length 0 runs no step, and onnxruntime then gives zeros for Y_h and Y_c
    # (not the initial states): nothing reaches the initial states from them.
    ran = d.op("Squeeze", d.op("Gather", valid, d.ints([0], "first"), axis=0), d.ints([0], "axes"))
    carried = [d.op("Mul", g, ran) for g in carried]

    def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
        k_c_t, k_t, forget_t, skip_t = step[:4]
        g_h = step_gradient(b, step[4:], held[0])
        g_c = b.op("Add", held[1], b.op("Mul", g_h, k_c_t))
        a = b.op("Mul", b.op("Concat", g_c, g_h, g_c, g_c, axis=-1), k_t)
        back_h = b.op("Add", b.op("MatMul", a, lane.r), b.op("Mul", g_h, skip_t))
        return [back_h, b.op("Mul", g_c, forget_t)], [a]

    sequences = [k_c, k, forget, skip, *g_y]
    (h0, c0), (a,) = scan(d, "backward", carried, sequences, True, body)
    return LaneGrads(a, lambda: outer_sum(d, a, lane.prev_h), lambda: time_batch_sum(d, a), h0, c0)


def _recomputed(d: Backward, cell: Fused, x: Value, lane: Lane) -> tuple[Value, ...]:
    """LSTM's gates (i, o, f, c~), cell states and gate slopes recomputed from the inputs
    and the hidden states (the pre-activations), where the forward pass gives none."""
    size, f, g_act, _ = cell.hidden, *lane.activations
    pre = d.op(
        "Add",
        project(d, x, lane.w, lane.w_bias),
        project(d, lane.prev_h, lane.r, lane.r_bias),
    )
    a_i, a_o, a_f, a_c = split(d, pre, [size] * 4)
    i, slope_i = activate(d, cell, f, a_i)
    o, slope_o = activate(d, cell, f, a_o)
    forget, slope_f = activate(d, cell, f, a_f)
    c_new, slope_c = activate(d, cell, g_act, a_c)
    assert lane.c0 is not None

    def cells(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
        c = b.op("Add", b.op("Mul", step[0], held[0]), step[1])
        return [c], [c]

    written = d.op("Mul", i, c_new)
    _, (c,) = scan(d, "cells", [lane.c0], [forget, written], lane.reverse, cells)
    return i, o, forget, c_new, c, slope_i, slope_o, slope_f, slope_c
