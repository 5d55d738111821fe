"""One direction ("lane") of a fused recurrent node at a time: its weights and forward
values picked out, the per-direction gradients stacked back, and the ONNX ``Scan`` loops
that run a backward pass through time.

A ``Scan`` body is a graph of its own. It is built with a separate ``GraphBuilder`` whose
names sit under the rule's node (``grad/<node>/<tag>/...``), so they never collide with the
outer graph's, and it reads the loop-invariant tensors (the recurrent weights) from the
outer graph by name, as ONNX subgraphs may. No constant lives inside a body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from specc.autodiff.core import Backward
from specc.autodiff.rules.recurrent_parts import Activation, Fused
from specc.graph import GraphBuilder, Value
from specc.onnx_model import to_model_proto
from specc.types import TensorType

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
    # (T, B, 1): 1 at the steps a row runs (those before its sequence_lens), 0 past them,
    # where the op keeps the states and writes zeros to Y; None without sequence_lens.
    valid: Value | None = None


@dataclass
class LaneGrads:
    """What one direction's backward pass yields."""

    a: Value  # (T, B, gates*H): gradients of the input projections x W^T + Wb
    r: Callable[[], Value]  # d R (gates*H, H), built when asked for
    r_bias: Callable[[], Value]  # d Rb (gates*H,)
    h0: Value  # (B, H)
    c0: Value | None = None


def lanes(d: Backward, cell: Fused, g: Grads) -> list[Lane]:
    """The node's directions, each with its slices of the weights, states and gradients."""

    def pick(value: Value | None, axis: int, k: int) -> Value | None:
        if value is None or len(cell.reverse) == 1:  # one direction: the whole axis
            return value
        return d.op("Gather", value, d.ints([k], "dir"), axis=axis)

    def squeezed(value: Value | None, axis: int, k: int) -> Value | None:
        picked = pick(value, axis, k)
        return None if picked is None else d.op("Squeeze", picked, d.ints([axis], "axes"))

    def optional(index: int) -> Value | None:
        return d.x(index) if d.has_input(index) else None

    lanes = []
    g_y, g_h, g_c = (*g, None, None, None)[:3]
    valid = _valid_steps(d, d.x(0), d.x(4)) if d.has_input(4) else None
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
                valid,
            )
        )
    return lanes


def _valid_steps(d: Backward, x: Value, lengths: Value) -> Value:
    """(T, B, 1) float: 1 where the step index is below the row's ``lengths`` (B,)."""
    steps = d.op("Squeeze", d.op("Shape", x, start=0, end=1), d.ints([0], "axes"))
    start, delta = (d.b.constant(v, np.int64, hint=h) for v, h in ((0, "zero"), (1, "one")))
    index = d.op("Unsqueeze", d.op("Range", start, steps, delta), d.ints([1], "axes"))
    below = d.op("Less", index, d.cast_int64(lengths))  # (T, 1) against (B,): (T, B)
    return d.op("Unsqueeze", d.cast_float(below), d.ints([2], "axes"))


def project(d: Backward, x: Value, weight: Value, bias: Value | None) -> Value:
    """x W^T (+ bias) over a whole sequence: (T, B, K) -> (T, B, rows of W)."""
    y = d.op("MatMul", x, d.op("Transpose", weight, perm=[1, 0]))
    return y if bias is None else d.op("Add", y, bias)


def carry(d: Backward, given: Value | None, lane: Lane) -> Value:
    """The gradient reaching the final state from outside the sequence (Y_h, Y_c)."""
    return given if given is not None else d.zeros_like(lane.h0)


def fused_rule(d: Backward, g: Grads, lane_rule: Callable[..., LaneGrads]) -> Grads:
    """Every input gradient of a fused node: ``lane_rule(d, cell, x, lane)`` runs one
    direction's backward pass; the per-direction results are stacked on the direction axis
    (the input's gradient summed), and only what ``d.wants`` is built."""
    cell = Fused.read(d)
    x = d.x(0)
    pairs = [(lane_rule(d, cell, x, lane), lane) for lane in lanes(d, cell, g)]

    def stack(values: list[Value]) -> Value:
        axes = d.ints([0], "axes")
        parts = [d.op("Unsqueeze", v, axes) for v in values]
        return parts[0] if len(parts) == 1 else d.op("Concat", *parts, axis=0)

    result: Grads = [None] * len(d.node.inputs)
    if d.wants(0):
        parts = [d.op("MatMul", lg.a, lane.w) for lg, lane in pairs]
        result[0] = parts[0] if len(parts) == 1 else d.op("Add", *parts)
    if d.wants(1):
        result[1] = stack([outer_sum(d, lg.a, x) for lg, _ in pairs])
    if d.wants(2):
        result[2] = stack([lg.r() for lg, _ in pairs])
    if d.wants(3):
        both = [d.op("Concat", time_batch_sum(d, lg.a), lg.r_bias(), axis=0) for lg, _ in pairs]
        result[3] = stack(both)
    if d.wants(5):
        result[5] = stack([lg.h0 for lg, _ in pairs])
    if d.wants(6):
        result[6] = stack([lg.c0 for lg, _ in pairs if lg.c0 is not None])
    return result


def split(d: Backward, value: Value, sizes: list[int], axis: int = -1) -> list[Value]:
    """``value`` cut into ``sizes`` along ``axis``."""
    return list(d.op("Split", value, d.ints(sizes, "split"), axis=axis, outputs=len(sizes)))


def step_gradient(b: GraphBuilder, g_y: list[Value], carried: Value) -> Value:
    """The gradient of one step's output state: from Y at that step and from later steps."""
    return b.op("Add", g_y[0], carried) if g_y else carried


def previous(d: Backward, sequence: Value, first: Value, reverse: bool) -> Value:
    """The state each step starts from: ``first`` (B, H) then ``sequence`` (T, B, H) shifted
    by one step in the direction of processing."""
    head = d.op("Unsqueeze", first, d.ints([0], "axes"))
    axes = d.ints([0], "axes")
    if reverse:
        rest = d.op("Slice", sequence, d.ints([1], "starts"), d.ints([2**63 - 1], "ends"), axes)
        return d.op("Concat", rest, head, axis=0)
    rest = d.op("Slice", sequence, d.ints([0], "starts"), d.ints([-1], "ends"), axes)
    return d.op("Concat", head, rest, axis=0)


def outer_sum(d: Backward, a: Value, b: Value) -> Value:
    """sum over time and batch of a_tb^T b_tb: (T, B, G) and (T, B, K) -> (G, K)."""
    flat_a, flat_b = d.op("Flatten", a, axis=2), d.op("Flatten", b, axis=2)
    return d.op("MatMul", d.op("Transpose", flat_a, perm=[1, 0]), flat_b)


def time_batch_sum(d: Backward, a: Value) -> Value:
    """(T, B, G) summed to (G,)."""
    return d.sum_leading(a, 2, 3)


Body = Callable[[GraphBuilder, list[Value], list[Value]], tuple[list[Value], list[Value]]]


def scan(
    d: Backward,
    tag: str,
    states: list[Value],
    sequences: list[Value],
    reverse: bool,
    body: Body,
) -> tuple[list[Value], list[Value]]:
    """An ONNX Scan over axis 0 of ``sequences`` (each (T, B, *)), carrying ``states``
    (each (B, *)); from the last step to the first when ``reverse``, writing each scan
    output at its step's index. ``body(builder, states, slices)`` returns the new states
    and the per-step outputs; returns the final states and the stacked outputs."""
    # Bodies of one node (one per direction) get distinct names: ONNX wants every value
    # name unique across a model's graphs.
    made = sum(
        n.op_type == "Scan" and n.name.startswith(f"grad/{d.node.name}/") for n in d.b.graph.nodes
    )
    prefix = f"{d.node.name}/{tag}{made}"
    dtype = d.type_of(d.x(0)).dtype
    step = TensorType(dtype, (None, None), batched=False)
    inner = GraphBuilder(prefix)
    with inner.scope(f"grad/{prefix}"):
        held = [inner.input(f"grad/{prefix}/state{k}", step) for k in range(len(states))]
        sliced = [inner.input(f"grad/{prefix}/step{k}", step) for k in range(len(sequences))]
        new_states, outputs = body(inner, held, sliced)
        named = [(v, f"grad/{prefix}/next{k}") for k, v in enumerate(new_states)]
        named += [(v, f"grad/{prefix}/out{k}") for k, v in enumerate(outputs)]
        _name_outputs(inner, named, step)
    if inner.graph.initializers:
        raise AssertionError("a Scan body holds no constants; read them from outside")
    graph = to_model_proto(inner.graph).graph
    direction = [int(reverse)]
    results = d.op(
        "Scan",
        *states,
        *sequences,
        outputs=len(states) + len(outputs),
        body=graph,
        num_scan_inputs=len(sequences),
        scan_input_directions=direction * len(sequences),
        scan_output_directions=direction * len(outputs),
    )
    results = list(results) if isinstance(results, tuple) else [results]
    return results[: len(states)], results[len(states) :]


def _name_outputs(b: GraphBuilder, named: list[tuple[Value, str]], tensor_type: TensorType) -> None:
    """Make each value the body output of its name: its node's output is renamed where it
    can be (an Identity per output per step costs as much as a real op inside a Scan),
    else (a body input, or a value output twice) through an Identity."""
    renamed: dict[str, str] = {}
    for value, name in named:
        producers = [node for node in b.graph.nodes if value.name in node.outputs]
        if value.name in renamed or not producers:
            b.output(Value(renamed.get(value.name, value.name)), name, tensor_type)
            continue
        for node in b.graph.nodes:
            node.outputs = [name if n == value.name else n for n in node.outputs]
            node.inputs = [name if n == value.name else n for n in node.inputs]
        renamed[value.name] = name
        b.graph.outputs.append((name, tensor_type))
