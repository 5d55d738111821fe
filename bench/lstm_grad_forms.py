"""Benchmark: forms of an LSTM training step's parts that the gradient rules could take,
each against the form they take, at M3's sizes (bench/train_throughput.py: 40 steps,
batch 64, 64 inputs, 128 units, a 10000-row embedding table).

  loop      the forward recurrence as a Scan (its body a MatMul and an Add, or one Gemm)
            against the 40 steps unrolled into plain ops: run time, node count and
            session creation time
  weights   the kernel, recurrent kernel and bias gradients as two MatMuls and a
            ReduceSum against one MatMul over [x, h_prev, 1] side by side, split after
  embedding the embedding table's gradient (2560 rows of 64 added into 10000x64) as
            ScatterND with reduction add, ScatterElements with reduction add, and a
            one-hot matrix times the rows

Each form runs in one session with one thread (this process's CPU time, which load on a
shared machine distorts least), the forms interleaved; prints medians and the largest
difference of each form's result from the first form's.
Run: python bench/lstm_grad_forms.py [--repeats 21] [--parts loop,weights,embedding]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

T, B, IN, H = 40, 64, 64, 128
G = 4 * H
ROWS = 10000
OPSET = [helper.make_opsetid("", 17)]
Nodes = list[onnx.NodeProto]


def _float(name: str, shape: list[int] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def _model(nodes: Nodes, inputs: list, outputs: list[str], constants: list) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "form", inputs, [_float(o, None) for o in outputs], constants)
    return helper.make_model(graph, opset_imports=OPSET)


# -- the forward loop ------------------------------------------------------------------


def _step(p: str, h: str, c: str, x: str, h_new: str, c_new: str, gemm: bool) -> Nodes:
    """One LSTM step: gates from h R^T + x, then the cell and hidden states."""
    nodes = (
        [helper.make_node("Gemm", [h, "R", x], [p + "pre"])]
        if gemm
        else [
            helper.make_node("MatMul", [h, "R"], [p + "hr"]),
            helper.make_node("Add", [x, p + "hr"], [p + "pre"]),
        ]
    )
    return [
        *nodes,
        helper.make_node("Split", [p + "pre", "parts"], [p + "a_iof", p + "a_c"], axis=-1),
        helper.make_node("Sigmoid", [p + "a_iof"], [p + "iof"]),
        helper.make_node("Tanh", [p + "a_c"], [p + "cand"]),
        helper.make_node("Split", [p + "iof", "thirds"], [p + "i", p + "o", p + "f"], axis=-1),
        helper.make_node("Mul", [p + "f", c], [p + "kept"]),
        helper.make_node("Mul", [p + "i", p + "cand"], [p + "written"]),
        helper.make_node("Add", [p + "kept", p + "written"], [c_new]),
        helper.make_node("Tanh", [c_new], [p + "squashed"]),
        helper.make_node("Mul", [p + "o", p + "squashed"], [h_new]),
    ]


def _loop_constants() -> list[onnx.TensorProto]:
    r = (np.random.default_rng(1).standard_normal((H, G)) * 0.1).astype(np.float32)
    weights = helper.make_tensor("R", TensorProto.FLOAT, list(r.shape), r.ravel())
    return [weights, _ints("parts", [3 * H, H]), _ints("thirds", [H] * 3), _ints("zero", [0])]


def _scan(gemm: bool) -> onnx.ModelProto:
    body_nodes = _step("b/", "h", "c", "x", "h_new", "c_new", gemm)
    body_nodes.append(helper.make_node("Mul", ["b/o", "b/squashed"], ["h_out"]))
    body = helper.make_graph(
        body_nodes,
        "body",
        [_float(n, [None, None]) for n in ("h", "c", "x")],
        [_float(n, None) for n in ("h_new", "c_new", "h_out", "b/kept")],
    )
    outputs = ["h_last", "c_last", "Y", "kept"]
    scan = helper.make_node("Scan", ["h0", "c0", "X"], outputs, body=body, num_scan_inputs=1)
    return _model([scan], _loop_inputs(), ["Y", "kept"], _loop_constants())


def _unrolled() -> onnx.ModelProto:
    nodes = [helper.make_node("Split", ["X"], [f"x{t}" for t in range(T)], axis=0)]
    nodes += [helper.make_node("Unsqueeze", [f"{s}0", "zero"], [f"{s}_0"]) for s in "hc"]
    for t in range(T):
        nodes += _step(f"s{t}/", f"h_{t}", f"c_{t}", f"x{t}", f"h_{t + 1}", f"c_{t + 1}", False)
    nodes.append(helper.make_node("Concat", [f"h_{t + 1}" for t in range(T)], ["Y"], axis=0))
    kept = [f"s{t}/kept" for t in range(T)]
    nodes.append(helper.make_node("Concat", kept, ["kept"], axis=0))
    return _model(nodes, _loop_inputs(), ["Y", "kept"], _loop_constants())


def _loop_inputs() -> list[onnx.ValueInfoProto]:
    return [_float("h0", [B, H]), _float("c0", [B, H]), _float("X", [T, B, G])]


def _loop_feeds(rng: np.random.Generator) -> dict[str, np.ndarray]:
    zeros = np.zeros((B, H), np.float32)
    return {"h0": zeros, "c0": zeros, "X": rng.standard_normal((T, B, G)).astype(np.float32)}


# -- the weight gradients --------------------------------------------------------------


def _weights(one: bool) -> onnx.ModelProto:
    flat = [helper.make_node("Flatten", [n], [n + "_flat"], axis=2) for n in ("a", "x", "p")]
    flat.append(helper.make_node("Transpose", ["a_flat"], ["a_t"], perm=[1, 0]))
    if one:
        rest = [
            helper.make_node("Expand", ["one", "column"], ["ones"]),
            helper.make_node("Concat", ["x_flat", "p_flat", "ones"], ["side"], axis=1),
            helper.make_node("MatMul", ["a_t", "side"], ["all"]),
            helper.make_node("Split", ["all", "sizes"], ["dW", "dR", "db_column"], axis=1),
            helper.make_node("Flatten", ["db_column"], ["db"], axis=0),
        ]
    else:
        rest = [
            helper.make_node("MatMul", ["a_t", "x_flat"], ["dW"]),
            helper.make_node("MatMul", ["a_t", "p_flat"], ["dR"]),
            helper.make_node("ReduceSum", ["a", "time_batch"], ["db"], keepdims=0),
        ]
    constants = [
        _ints("time_batch", [0, 1]),
        _ints("sizes", [IN, H, 1]),
        _ints("column", [T * B, 1]),
        helper.make_tensor("one", TensorProto.FLOAT, [1, 1], [1.0]),
    ]
    inputs = [_float("a", [T, B, G]), _float("x", [T, B, IN]), _float("p", [T, B, H])]
    used = {i for node in flat + rest for i in node.input}
    return _model(flat + rest, inputs, ["dW", "dR", "db"], [c for c in constants if c.name in used])


def _weights_feeds(rng: np.random.Generator) -> dict[str, np.ndarray]:
    shapes = {"a": (T, B, G), "x": (T, B, IN), "p": (T, B, H)}
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}


# -- the embedding table's gradient ----------------------------------------------------


def _embedding(form: str) -> onnx.ModelProto:
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    table = helper.make_node("ConstantOfShape", ["table"], ["zeros"], value=zero)
    if form == "ScatterND":
        nodes = [
            table,
            helper.make_node("Reshape", ["index", "column"], ["where"]),
            helper.make_node("ScatterND", ["zeros", "where", "g"], ["out"], reduction="add"),
        ]
    elif form == "ScatterElements":
        nodes = [
            table,
            helper.make_node("Unsqueeze", ["index", "last"], ["index_column"]),
            helper.make_node("Expand", ["index_column", "rows"], ["where"]),
            helper.make_node(
                "ScatterElements", ["zeros", "where", "g"], ["out"], axis=0, reduction="add"
            ),
        ]
    else:
        nodes = [
            helper.make_node("OneHot", ["index", "depth", "off_on"], ["hot"], axis=0),
            helper.make_node("MatMul", ["hot", "g"], ["out"]),
        ]
    constants = [
        _ints("table", [ROWS, IN]),
        _ints("column", [T * B, 1]),
        _ints("rows", [T * B, IN]),
        _ints("last", [1]),
        _ints("depth", [ROWS]),
        helper.make_tensor("off_on", TensorProto.FLOAT, [2], [0.0, 1.0]),
    ]
    used = {i for node in nodes for i in node.input}
    index = helper.make_tensor_value_info("index", TensorProto.INT64, [T * B])
    inputs = [index, _float("g", [T * B, IN])]
    return _model(nodes, inputs, ["out"], [c for c in constants if c.name in used])


def _embedding_feeds(rng: np.random.Generator) -> dict[str, np.ndarray]:
    rows = rng.standard_normal((T * B, IN)).astype(np.float32)
    return {"index": rng.integers(0, ROWS, T * B).astype(np.int64), "g": rows}


PARTS: dict[str, tuple[dict[str, Callable[[], onnx.ModelProto]], Callable]] = {
    "loop": (
        {
            "Scan, MatMul + Add": lambda: _scan(False),
            "Scan, Gemm": lambda: _scan(True),
            "unrolled": _unrolled,
        },
        _loop_feeds,
    ),
    "weights": (
        {"two MatMuls + ReduceSum": lambda: _weights(False), "one MatMul": lambda: _weights(True)},
        _weights_feeds,
    ),
    "embedding": (
        {
            "ScatterND": lambda: _embedding("ScatterND"),
            "ScatterElements": lambda: _embedding("ScatterElements"),
            "one-hot MatMul": lambda: _embedding("OneHot"),
        },
        _embedding_feeds,
    ),
}


def compare(part: str, repeats: int) -> None:
    """Time ``part``'s forms against each other."""
    import onnxruntime

    forms, make_feeds = PARTS[part]
    feeds = make_feeds(np.random.default_rng(0))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    sessions, created, sizes = {}, {}, {}
    for name, build in forms.items():
        model = build()
        # Nodes, a loop's body included.
        bodies = [a.g for node in model.graph.node for a in node.attribute if a.HasField("g")]
        sizes[name] = len(model.graph.node) + sum(len(body.node) for body in bodies)
        start = time.perf_counter()
        sessions[name] = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        created[name] = time.perf_counter() - start
    first = None
    times: dict[str, list[float]] = {name: [] for name in forms}
    for k in range(repeats):
        names = list(forms) if k % 2 == 0 else list(forms)[::-1]
        for name in names:
            start = time.process_time()
            result = sessions[name].run(None, feeds)
            times[name].append(time.process_time() - start)
            if first is None:
                first = result
    assert first is not None
    for name, session in sessions.items():
        got = session.run(None, feeds)
        gap = max(float(np.abs(a - b).max()) for a, b in zip(got, first, strict=True))
        cpu_ms = statistics.median(times[name]) * 1000
        facts = [f"CPU {cpu_ms:.3f} ms", f"{sizes[name]} nodes"]
        facts += [f"session {created[name] * 1000:.0f} ms", f"largest difference {gap:.2g}"]
        print(f"{part}: {name}: " + ", ".join(facts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--parts", default=",".join(PARTS))
    args = parser.parse_args()
    for part in args.parts.split(","):
        compare(part, args.repeats)


if __name__ == "__main__":
    main()
