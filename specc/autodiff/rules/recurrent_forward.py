"""A forward LSTM rebuilt in the graph being differentiated, so that it hands its gates to
the backward pass instead of the backward recomputing them.

The fused LSTM op outputs the hidden states only, so its gradient rule recomputes every
gate's pre-activation (two MatMuls over the whole sequence, three full-size Adds, the four
activations) and the cell states (a ``Scan``) from them: a quarter of the step's
arithmetic in M3 of ``bench/train_throughput.py``. Where the node is the plain case (one
forward direction, the default activations, no clip, sequence_lens or peepholes),
``forward_gates`` puts in its place the input projection as one Gemm over all steps and a
``Scan`` running the recurrence, which writes the node's Y, Y_h and Y_c and, besides,
every step's activated gates, tanh of its cell state and f * C_{t-1} (the cell state's
terms the gradient reads: no shifted copy of the states, no tanh recomputed). On
onnxruntime 1.32 that forward costs ~2.5 ms more than the fused op (LSTM 128 over 40
steps, batch 64, one thread), the recomputation it saves several times that. The loop's
body is 10 ops: one Gemm adds the step's input projection to h R^T, and every per-step
output is a value the step computes anyway (M3's step graph: ~5% less CPU time than with
a MatMul and an Add, and h and C given out as per-step outputs through Identities).

The inference model is untouched: only the copy of the graph that ``differentiate`` builds
changes, and its values agree with the fused op's to float32 rounding.
"""

from __future__ import annotations

from typing import NamedTuple

from specc.autodiff.core import Backward
from specc.autodiff.rules.recurrent_lanes import scan
from specc.autodiff.rules.recurrent_parts import Fused
from specc.graph import GraphBuilder, Value

# The activations of the plain case: ONNX's defaults (f, g, h).
PLAIN = ("sigmoid", "tanh", "tanh")


class Gates(NamedTuple):
    """What the forward pass hands the gradient: every step's activated gates and values
    the step computed from them, each (T, B, H) but ``gates``."""

    gates: Value  # (T, B, 3H): i, o and f side by side
    input: Value
    output: Value
    forget: Value
    cell: Value  # the candidate c~
    squashed: Value  # tanh(C_t), of the cell state after the step
    kept: Value  # f * C_{t-1}, what the step kept of the state it started from
    written: Value  # i * c~, what it wrote
    hidden: Value  # H_t = o * tanh(C_t)


def coefficients(d: Backward, g: Gates) -> tuple[Value, Value]:
    """The backward loop's per-step coefficients: k_c (T, B, H), by which the state
    gradient dH reaches C (o tanh'(C)), and k (T, B, 4H), by which dC (dH for o) reaches
    each gate's pre-activation (c~ i', tanh(C) o', C_{t-1} f', i c~'). Each is a product
    the forward computed times a factor of the sigmoid's s (1 - s) or tanh's 1 - t^2:
    (i c~)(1 - i), H (1 - o), (f C_{t-1})(1 - f), i - (i c~) c~ and o - H tanh(C), so
    i, o and f take their three in one pass over ``gates``."""
    complement = d.op("Sub", d.const(1.0), g.gates)
    k_iof = d.op("Mul", complement, d.op("Concat", g.written, g.hidden, g.kept, axis=-1))
    k_cell = d.op("Sub", g.input, d.op("Mul", g.written, g.cell))
    k_c = d.op("Sub", g.output, d.op("Mul", g.hidden, g.squashed))
    return k_c, d.op("Concat", k_iof, k_cell, axis=-1)


def forward_gates(d: Backward, cell: Fused) -> Gates | None:
    """Replace ``d``'s LSTM node, in the graph being built, by a forward pass that also
    outputs its gates (see the module's docs); None, and nothing changed, where the node
    is not the plain case."""
    plain = (
        cell.op == "LSTM"
        and cell.reverse == (False,)
        and tuple(a.name for a in cell.activations[0]) == PLAIN
        and cell.clip is None
        and not d.has_input(4)  # sequence_lens: rows that stop early keep their states
        and not d.has_input(7)  # peepholes
    )
    graph = d.b.graph
    at = [k for k, node in enumerate(graph.nodes) if node.name == d.node.name]
    if not plain or len(at) != 1:
        return None
    start = len(graph.nodes)
    gates = _build(d, cell.hidden)
    # The new nodes take the fused node's place: they read only its inputs.
    block = graph.nodes[start:]
    del graph.nodes[start:]
    graph.nodes[at[0] : at[0] + 1] = block
    return gates


def _build(d: Backward, hidden: int) -> Gates:
    """The forward pass; its last nodes write the fused node's outputs."""
    x = d.x(0)
    first = d.ints([0], "axes")
    w = d.op("Squeeze", d.x(1), first)  # (4H, I)
    r_t = d.op("Transpose", d.op("Squeeze", d.x(2), first), perm=[1, 0])  # (H, 4H)
    bias = None
    if d.has_input(3):  # Wb and Rb side by side: their sum, once
        both = d.op("Squeeze", d.x(3), first)
        bias = d.op("Add", *d.op("Split", both, d.ints([4 * hidden] * 2, "split"), outputs=2))
    flat = d.op("Gemm", d.op("Flatten", x, axis=2), w, bias, transB=1)
    steps_batch = d.op("Shape", x, start=0, end=2)
    projected = d.op("Reshape", flat, d.op("Concat", steps_batch, d.ints([-1], "shape"), axis=0))
    batch = d.op("Shape", x, start=1, end=2)
    zero = d.zeros(d.op("Concat", batch, d.ints([hidden], "units"), axis=0))
    h0 = d.op("Squeeze", d.x(5), first) if d.has_input(5) else zero
    c0 = d.op("Squeeze", d.x(6), first) if d.has_input(6) else zero
    # Constants a Scan body reads from the outer graph.
    parts = d.ints([3 * hidden, hidden], "split")
    thirds = d.ints([hidden] * 3, "split")

    def step(b: GraphBuilder, held: list[Value], sliced: list[Value]) -> tuple[list, list]:
        # Every per-step output is a value the step computes anyway: a state given out as
        # a per-step output too would cost an Identity (a copy) per step, and the hidden
        # states are o * tanh(C), one Mul over all steps after the loop.
        h, c = held
        pre = b.op("Gemm", h, r_t, sliced[0])  # h R^T + the step's input projection
        a_iof, a_c = b.op("Split", pre, parts, axis=1, outputs=2)
        iof, candidate = b.op("Sigmoid", a_iof), b.op("Tanh", a_c)
        i, o, f = b.op("Split", iof, thirds, axis=1, outputs=3)
        kept, written = b.op("Mul", f, c), b.op("Mul", i, candidate)
        c_new = b.op("Add", kept, written)
        squashed = b.op("Tanh", c_new)
        return [b.op("Mul", o, squashed), c_new], [squashed, kept, written, iof, candidate]

    (h_last, c_last), (squashed, kept, written, iof, candidate) = scan(
        d, "forward", [h0, c0], [projected], False, step
    )
    i, o, f = d.op("Split", iof, thirds, axis=2, outputs=3)
    hs = d.op("Mul", o, squashed)
    # The fused node's Y (T, 1, B, H), Y_h and Y_c (1, B, H), under its own names.
    for k, (value, axis) in enumerate([(hs, 1), (h_last, 0), (c_last, 0)]):
        if k < len(d.node.outputs) and d.node.outputs[k]:
            d.op("Unsqueeze", value, d.ints([axis], "axes"))
            d.b.graph.nodes[-1].outputs = [d.node.outputs[k]]
    return Gates(iof, i, o, f, candidate, squashed, kept, written, hs)
