"""Gradients of ONNX's fused recurrent ops LSTM, GRU and RNN: backpropagation through time
as an ONNX ``Scan`` over the steps in reverse.

Why rules for the fused ops, and not a training lowering to a ``Scan`` over a step function
whose body the core would differentiate: the forward pass stays the one op every runtime
runs fastest, inference and training graphs keep one lowering, the gradient is exact (the
same equations the op computes, no approximation), and the core stays free of subgraphs.
Most of the work runs outside any loop, as whole-sequence MatMuls:

- The op's output Y holds every hidden state, so the state each step started from is Y
  shifted by one step (``previous``), and every gate's pre-activation, at every step,
  is one MatMul of the inputs and one of the shifted states. Only LSTM's cell states are
  not an output: a small ``Scan`` rebuilds them (c = f*c + i*g, elementwise).
- The one truly sequential part is the state's gradient flowing back from step to step:
  a ``Scan`` from the last step to the first whose body is a few elementwise ops and one
  MatMul by the recurrent weights (two for GRU with linear_before_reset=0). Each step
  emits the gradients of its gate pre-activations (``a``, (B, gates*H)).
- From those, every weight gradient is one MatMul over all steps and batch rows at once
  (``outer_sum``), the input's one MatMul, the biases one ReduceSum.

Measured on onnxruntime 1.19 CPU (see tests/test_autodiff_recurrent.py for the check
against central differences): the backward pass costs about what the forward op costs.

Every attribute of the ops is covered (direction forward/reverse/bidirectional, every
activation with its alpha/beta, clip, GRU's linear_before_reset, initial states, a gradient
on any of Y, Y_h, Y_c), except sequence_lens, LSTM's peepholes P, input_forget and
layout=1, which specc never emits: they raise a ValueError naming the node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from specc.autodiff.core import Backward, vjp
from specc.autodiff.rules.recurrent_parts import (
    Activation,
    Fused,
    activate,
    outer_sum,
    previous,
    scan,
    time_batch_sum,
)
from specc.graph import GraphBuilder, Value

Grads = list[Value | None]


@dataclass
class Lane:
    """One direction of a fused node: its weights, forward values and output gradients,
    each without the direction axis."""

    reverse: bool
    activations: tuple[Activation, ...]
    w: Value  # (gates*H, I)
    r: Value  # (gates*H, H)
    w_bias: Value | None  # (gates*H,)
    r_bias: Value | None
    h0: Value  # (B, H), zeros when the op has no initial_h
    c0: Value | None  # LSTM's (B, H)
    y: Value  # (T, B, H)
    prev_h: Value  # (T, B, H): the state each step started from
    g_y: Value | None  # gradients of Y, Y_h, Y_c (None where none flows)
    g_h: Value | None
    g_c: Value | None


@dataclass
class LaneGrads:
    """What one direction's backward pass yields."""

    a: Value  # (T, B, gates*H): gradients of the input projections x W^T + Wb
    r: Callable[[], Value]  # d R (gates*H, H), built when asked for
    r_bias: Callable[[], Value]  # d Rb (gates*H,)
    h0: Value  # (B, H)
    c0: Value | None = None


def _lanes(d: Backward, cell: Fused, g: Grads) -> list[Lane]:
    def pick(value: Value | None, axis: int, k: int) -> Value | None:
        return None if value is None else d.op("Gather", value, d.ints([k], "dir"), axis=axis)

    def squeezed(value: Value | None, axis: int, k: int) -> Value | None:
        picked = pick(value, axis, k)
        return None if picked is None else d.op("Squeeze", picked, d.ints([axis], "axes"))

    def optional(index: int) -> Value | None:
        return d.x(index) if d.has_input(index) else None

    lanes = []
    g_y, g_h, g_c = (*g, None, None, None)[:3]
    for k, reverse in enumerate(cell.reverse):
        y = squeezed(d.y(0), 1, k)
        assert y is not None
        zero = d.zeros_like(d.op("Gather", y, d.ints([0], "first"), axis=0))
        zero = d.op("Squeeze", zero, d.ints([0], "axes"))
        h0 = squeezed(optional(5), 0, k) or zero
        c0 = (squeezed(optional(6), 0, k) or zero) if cell.op == "LSTM" else None
        w_bias = r_bias = None
        bias = squeezed(optional(3), 0, k)
        if bias is not None:
            size = d.ints([cell.gates * cell.hidden] * 2, "split")
            w_bias, r_bias = d.op("Split", bias, size, axis=0, outputs=2)
        w, r = squeezed(d.x(1), 0, k), squeezed(d.x(2), 0, k)
        assert w is not None and r is not None
        lanes.append(
            Lane(
                reverse,
                cell.activations[k],
                w,
                r,
                w_bias,
                r_bias,
                h0,
                c0,
                y,
                previous(d, y, h0, reverse),
                squeezed(g_y, 1, k),
                squeezed(g_h, 0, k),
                squeezed(g_c, 0, k),
            )
        )
    return lanes


def _project(d: Backward, x: Value, weight: Value, bias: Value | None) -> Value:
    """x W^T (+ bias) over a whole sequence: (T, B, K) -> (T, B, rows of W)."""
    y = d.op("MatMul", x, d.op("Transpose", weight, perm=[1, 0]))
    return y if bias is None else d.op("Add", y, bias)


def _carry(d: Backward, given: Value | None, lane: Lane) -> Value:
    """The gradient reaching the final state from outside the sequence (Y_h, Y_c)."""
    return given if given is not None else d.zeros_like(lane.h0)


def _fused_rule(d: Backward, g: Grads, lane_rule: Callable[..., LaneGrads]) -> Grads:
    cell = Fused.read(d)
    x = d.x(0)
    lanes = [(lane_rule(d, cell, x, lane), lane) for lane in _lanes(d, cell, g)]

    def stack(values: list[Value]) -> Value:
        axes = d.ints([0], "axes")
        parts = [d.op("Unsqueeze", v, axes) for v in values]
        return parts[0] if len(parts) == 1 else d.op("Concat", *parts, axis=0)

    result: Grads = [None] * len(d.node.inputs)
    if d.wants(0):
        parts = [d.op("MatMul", lg.a, lane.w) for lg, lane in lanes]
        result[0] = parts[0] if len(parts) == 1 else d.op("Add", *parts)
    if d.wants(1):
        result[1] = stack([outer_sum(d, lg.a, x) for lg, _ in lanes])
    if d.wants(2):
        result[2] = stack([lg.r() for lg, _ in lanes])
    if d.wants(3):
        both = [d.op("Concat", time_batch_sum(d, lg.a), lg.r_bias(), axis=0) for lg, _ in lanes]
        result[3] = stack(both)
    if d.wants(5):
        result[5] = stack([lg.h0 for lg, _ in lanes])
    if d.wants(6):
        result[6] = stack([lg.c0 for lg, _ in lanes if lg.c0 is not None])
    return result


def _split(d: Backward, value: Value, sizes: list[int], axis: int = -1) -> list[Value]:
    return list(d.op("Split", value, d.ints(sizes, "split"), axis=axis, outputs=len(sizes)))


def _add(d: Backward, *values: Value | None) -> Value:
    present = [v for v in values if v is not None]
    return present[0] if len(present) == 1 else d.op("Sum", *present)


def _step_gradient(b: GraphBuilder, g_y: list[Value], carried: Value) -> Value:
    """The gradient of one step's output state: from Y at that step and from later steps."""
    return b.op("Add", g_y[0], carried) if g_y else carried


@vjp("RNN")
def _rnn(d: Backward, g: Grads) -> Grads:
    """H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)."""

    def lane_rule(d: Backward, cell: Fused, x: Value, lane: Lane) -> LaneGrads:
        pre = _add(d, _project(d, x, lane.w, lane.w_bias), _project(d, lane.prev_h, lane.r, None))
        pre = pre if lane.r_bias is None else d.op("Add", pre, lane.r_bias)
        _, slope = activate(d, cell, lane.activations[0], pre)
        g_y = [lane.g_y] if lane.g_y is not None else []

        def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
            a = b.op("Mul", _step_gradient(b, step[1:], held[0]), step[0])
            return [b.op("MatMul", a, lane.r)], [a]

        (h0,), (a,) = scan(
            d, "backward", [_carry(d, lane.g_h, lane)], [slope, *g_y], True ^ lane.reverse, body
        )
        return LaneGrads(a, lambda: outer_sum(d, a, lane.prev_h), lambda: time_batch_sum(d, a), h0)

    return _fused_rule(d, g, lane_rule)


@vjp("GRU")
def _gru(d: Backward, g: Grads) -> Grads:
    """z, r = f(X W^T + H R^T + Wb + Rb), n = g(X W_n^T + r*(H R_n^T + Rb_n) + Wb_n), with
    linear_before_reset=0 n = g(X W_n^T + (r*H) R_n^T + Rb_n + Wb_n); H' = (1-z)*n + z*H."""

    def lane_rule(d: Backward, cell: Fused, x: Value, lane: Lane) -> LaneGrads:
        size, f, g_act = cell.hidden, *lane.activations
        x_z, x_r, x_n = _split(d, _project(d, x, lane.w, lane.w_bias), [size] * 3)
        prev = lane.prev_h
        r_bias = [None, None, None] if lane.r_bias is None else _split(d, lane.r_bias, [size] * 3)
        if cell.linear_before_reset:
            h_z, h_r, h_n = _split(d, _project(d, prev, lane.r, lane.r_bias), [size] * 3)
        else:
            r_zr, r_n = _split(d, lane.r, [2 * size, size], axis=0)
            zr_bias = None if lane.r_bias is None else d.op("Concat", *r_bias[:2], axis=0)
            h_z, h_r = _split(d, _project(d, prev, r_zr, zr_bias), [size] * 2)
        z, slope_z = activate(d, cell, f, d.op("Add", x_z, h_z))
        r, slope_r = activate(d, cell, f, d.op("Add", x_r, h_r))
        if cell.linear_before_reset:
            reset = d.op("Mul", r, h_n)
        else:
            reset_h = d.op("Mul", r, prev)
            reset = _project(d, reset_h, r_n, r_bias[2])
        n, slope_n = activate(d, cell, g_act, d.op("Add", x_n, reset))
        # d/dz of H' is H - n, d/dn is 1 - z: each gate's pre-activation gradient is the
        # step's state gradient times a coefficient known before the loop.
        k_z = d.op("Mul", d.op("Sub", prev, n), slope_z)
        k_n = d.op("Mul", d.op("Sub", d.const(1.0), z), slope_n)
        g_y = [lane.g_y] if lane.g_y is not None else []
        carry = [_carry(d, lane.g_h, lane)]
        direction = True ^ lane.reverse
        if cell.linear_before_reset:
            # a_r = a_n * (H R_n^T + Rb_n) * f'; the recurrent weights see r * a_n for n.
            k_r = d.op("Mul", d.op("Mul", k_n, h_n), slope_r)
            k = d.op("Concat", k_z, k_r, k_n, axis=-1)
            k_rec = d.op("Concat", k_z, k_r, d.op("Mul", k_n, r), axis=-1)

            def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
                g_h = _step_gradient(b, step[3:], held[0])
                tiled = b.op("Concat", g_h, g_h, g_h, axis=-1)
                a, a_rec = b.op("Mul", tiled, step[1]), b.op("Mul", tiled, step[2])
                back = b.op("Add", b.op("Mul", g_h, step[0]), b.op("MatMul", a_rec, lane.r))
                return [back], [a, a_rec]

            (h0,), (a, a_rec) = scan(d, "backward", carry, [z, k, k_rec, *g_y], direction, body)
            return LaneGrads(
                a,
                lambda: outer_sum(d, a_rec, prev),
                lambda: time_batch_sum(d, a_rec),
                h0,
            )
        k_r = d.op("Mul", prev, slope_r)

        def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
            z_t, k_z_t, k_n_t, k_r_t, r_t = step[:5]
            g_h = _step_gradient(b, step[5:], held[0])
            a_z, a_n = b.op("Mul", g_h, k_z_t), b.op("Mul", g_h, k_n_t)
            g_reset = b.op("MatMul", a_n, r_n)  # gradient of r*H
            a_r = b.op("Mul", g_reset, k_r_t)
            a_zr = b.op("Concat", a_z, a_r, axis=-1)
            back = b.op(
                "Sum", b.op("Mul", g_h, z_t), b.op("Mul", g_reset, r_t), b.op("MatMul", a_zr, r_zr)
            )
            return [back], [b.op("Concat", a_zr, a_n, axis=-1)]

        sequences = [z, k_z, k_n, k_r, r, *g_y]
        (h0,), (a,) = scan(d, "backward", carry, sequences, direction, body)

        def r_grad() -> Value:
            a_zr, a_n = _split(d, a, [2 * size, size])
            return d.op("Concat", outer_sum(d, a_zr, prev), outer_sum(d, a_n, reset_h), axis=0)

        return LaneGrads(a, r_grad, lambda: time_batch_sum(d, a), h0)

    return _fused_rule(d, g, lane_rule)


@vjp("LSTM")
def _lstm(d: Backward, g: Grads) -> Grads:
    """i, o, f = f(X W^T + H R^T + Wb + Rb), c~ = g(...), C' = f*C + i*c~, H' = o*h(C')
    (gate order i, o, f, c)."""

    def lane_rule(d: Backward, cell: Fused, x: Value, lane: Lane) -> LaneGrads:
        size, f, g_act, h_act = cell.hidden, *lane.activations
        pre = d.op(
            "Add",
            _project(d, x, lane.w, lane.w_bias),
            _project(d, lane.prev_h, lane.r, lane.r_bias),
        )
        a_i, a_o, a_f, a_c = _split(d, pre, [size] * 4)
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
        prev_c = previous(d, c, lane.c0, lane.reverse)
        h_c, slope_h = activate(d, cell, h_act, c, clipped=False)
        # The state gradient dH reaches C through o * h'(C) and o's pre-activation through
        # h(C) f'; dC reaches i, f and c~ through c~ f', C_prev f' and i g'.
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

        def body(b: GraphBuilder, held: list[Value], step: list[Value]) -> tuple[list, list]:
            k_c_t, k_t, forget_t = step[:3]
            g_h = _step_gradient(b, step[3:], held[0])
            g_c = b.op("Add", held[1], b.op("Mul", g_h, k_c_t))
            a = b.op("Mul", b.op("Concat", g_c, g_h, g_c, g_c, axis=-1), k_t)
            return [b.op("MatMul", a, lane.r), b.op("Mul", g_c, forget_t)], [a]

        carry = [_carry(d, lane.g_h, lane), _carry(d, lane.g_c, lane)]
        sequences = [k_c, k, forget, *g_y]
        (h0, c0), (a,) = scan(d, "backward", carry, sequences, True ^ lane.reverse, body)
        return LaneGrads(
            a, lambda: outer_sum(d, a, lane.prev_h), lambda: time_batch_sum(d, a), h0, c0
        )

    return _fused_rule(d, g, lane_rule)
