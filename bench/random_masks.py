"""Benchmark: a training-mode dropout mask from specc's counter-based generator against one
from onnxruntime's own Dropout op (the previous lowering: Dropout applied to ones).

Each graph takes x (batch, features) and returns x times a rate-0.5 mask, in training mode:

  generator   specc.layers.base.dropout_mask: Squares over int64 lanes (specc.random_ops)
  ort-dropout Dropout(ones, 0.5, training_mode=True) (stock onnxruntime must not remove it)

and, for scale, a plain Mul of x by a fixed mask. Timed round by round (interleaved) so that
load from other processes hits them alike; prints medians in ms per run.
Run: python bench/random_masks.py [--rounds 7] [--runs 50] [--shape 128x512] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime
from onnx import TensorProto, helper

from specc.graph import GraphBuilder
from specc.layers.base import LowerContext, dropout_mask
from specc.onnx_model import to_model_proto
from specc.random_ops import RANDOM_STEP
from specc.types import TensorType


def generator_model(features: int) -> bytes:
    b = GraphBuilder("generator")
    x = b.input("x", TensorType("float32", (features,)))
    training = b.constant(True, np.bool_, hint="training")
    ctx = LowerContext(b, training, for_training=True)
    mask = dropout_mask(ctx, b.op("Shape", x), 2, 0.5, 7)
    b.output(b.op("Mul", x, mask), "y", TensorType("float32", (features,)))
    return to_model_proto(b.graph, 17).SerializeToString()


def ort_dropout_model(features: int) -> bytes:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Expand", ["one", "shape"], ["ones"]),
        helper.make_node("Dropout", ["ones", "ratio", "training"], ["mask", "kept"], seed=7),
        helper.make_node("Mul", ["x", "mask"], ["y"]),
    ]
    inits = [
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("training", TensorProto.BOOL, [], [True]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", features])
    graph = helper.make_graph(nodes, "ort_dropout", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def fixed_mask_model(features: int, mask: np.ndarray) -> bytes:
    node = helper.make_node("Mul", ["x", "mask"], ["y"])
    init = helper.make_tensor("mask", TensorProto.FLOAT, list(mask.shape), mask.ravel())
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(mask.shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(mask.shape))
    model = helper.make_model(
        helper.make_graph([node], "fixed", [x], [y], [init]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    return model.SerializeToString()


def session(model: bytes, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        model, options, providers=["CPUExecutionProvider"], disabled_optimizers=["EliminateDropout"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--shape", default="128x512")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    batch, features = (int(v) for v in args.shape.split("x"))
    x = np.random.default_rng(0).normal(size=(batch, features)).astype(np.float32)
    mask = (np.random.default_rng(1).random((batch, features)) < 0.5).astype(np.float32) * 2
    generator = session(generator_model(features), args.threads)
    routes: dict[str, Callable[[], object]] = {
        "generator": lambda: generator.run(None, {"x": x, RANDOM_STEP: np.array(3)}),
        "ort-dropout": (lambda s: lambda: s.run(None, {"x": x}))(
            session(ort_dropout_model(features), args.threads)
        ),
        "fixed-mask": (lambda s: lambda: s.run(None, {"x": x}))(
            session(fixed_mask_model(features, mask), args.threads)
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in routes}
    for run in routes.values():
        run()  # warm up
    for _ in range(args.rounds):
        for name, run in routes.items():
            start = time.perf_counter()
            for _ in range(args.runs):
                run()
            times[name].append((time.perf_counter() - start) / args.runs * 1e3)
    print(f"onnxruntime {onnxruntime.__version__}, x {batch}x{features}, {args.threads} thread(s)")
    for name, values in times.items():
        print(f"  {name:12s} {statistics.median(values):.3f} ms")


if __name__ == "__main__":
    main()
