"""Benchmark: EinsumDense's contraction as specc lowers it (Transpose/Reshape around one
MatMul, specc.layers.einsum_plan.lower_einsum) against ONNX's own Einsum op.

For each of MultiHeadAttention's projection equations, on x of shape (batch, *input):

  matmul  lower_einsum's graph
  einsum  one Einsum node with the same equation and kernel

Timed round by round (interleaved) so that load from other processes hits them alike;
prints medians in ms per run and the largest difference between the two results.
Run: python bench/einsum_lowering.py [--rounds 7] [--runs 30] [--batch 32] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime
from onnx import helper, numpy_helper

from specc.graph import GraphBuilder
from specc.layers.einsum_plan import lower_einsum, plan_einsum
from specc.onnx_model import to_model_proto
from specc.types import TensorType

# (equation, input shape without the batch axis, output_shape) as MultiHeadAttention
# builds them for 128 steps of 256 features, 8 heads of 32.
CASES = [
    ("abc,cde->abde", (128, 256), [None, 8, 32]),  # query, key and value projections
    ("abcd,cde->abe", (128, 8, 32), [None, 256]),  # the output projection
]


def matmul_model(
    equation: str, shape: tuple[int, ...], output_shape: list, kernel: np.ndarray
) -> bytes:
    b = GraphBuilder("matmul")
    x_type = TensorType("float32", shape)
    plan = plan_einsum(equation, None, x_type, output_shape)
    x = b.input("x", x_type)
    y = lower_einsum(b, plan, x, b.parameter("kernel", kernel))
    b.output(y, "y", TensorType("float32", plan.output_shape[1:]))
    return to_model_proto(b.graph, 17).SerializeToString()


def einsum_model(equation: str, shape: tuple[int, ...], kernel: np.ndarray) -> bytes:
    node = helper.make_node("Einsum", ["x", "kernel"], ["y"], equation=equation)
    x = helper.make_tensor_value_info("x", 1, ["batch", *shape])
    y = helper.make_tensor_value_info("y", 1, None)
    graph = helper.make_graph(
        [node], "einsum", [x], [y], [numpy_helper.from_array(kernel, "kernel")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    rng = np.random.default_rng(0)
    for equation, shape, output_shape in CASES:
        plan = plan_einsum(equation, None, TensorType("float32", shape), output_shape)
        kernel = rng.normal(size=plan.kernel_shape).astype(np.float32)
        x = rng.normal(size=(args.batch, *shape)).astype(np.float32)
        sessions = {
            "matmul": matmul_model(equation, shape, output_shape, kernel),
            "einsum": einsum_model(equation, shape, kernel),
        }
        runs = {
            name: onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            for name, model in sessions.items()
        }
        results = {name: s.run(None, {"x": x})[0] for name, s in runs.items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, session in runs.items():
                start = time.perf_counter()
                for _ in range(args.runs):
                    session.run(None, {"x": x})
                times[name].append((time.perf_counter() - start) / args.runs * 1e3)
        gap = float(np.max(np.abs(results["matmul"] - results["einsum"])))
        medians = ", ".join(f"{n} {statistics.median(t):.2f} ms" for n, t in times.items())
        print(f"{equation} on {(args.batch, *shape)}: {medians}; max |difference| {gap:.2g}")


if __name__ == "__main__":
    main()
