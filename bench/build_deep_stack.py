"""Benchmark: `specc build` of a 1,000-layer Dense stack (target: under 2 s on 2 cores).

Prints medians of interleaved runs of
  cli        the whole `specc build` command in a fresh process (imports included),
  compile    the compiler in-process (load, validate, resolve, shapes, weights, lower, write),
  reference  the same ONNX model written directly with onnx.helper (the floor: weights drawn,
             nodes made, file saved, no validation),
and the ratios compile/reference and cli/target.
Run: python bench/build_deep_stack.py [--layers 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from specc.onnx_model import to_model_proto, write_model
from specc.pipeline import compile_spec

TARGET_SECONDS = 2.0
WIDTH = 32


def write_stack_spec(path: Path, layers: int) -> None:
    lines = ["specc: 1", "name: deep_stack", "layers:"]
    lines.append(f"  - {{type: Dense, units: {WIDTH}, activation: relu, input_shape: [{WIDTH}]}}")
    lines += [f"  - {{type: Dense, units: {WIDTH}, activation: relu}}"] * (layers - 1)
    path.write_text("\n".join(lines) + "\n")


def reference_build(path: Path, layers: int) -> None:
    rng = np.random.default_rng()
    limit = np.sqrt(6 / (2 * WIDTH))
    nodes, inits, prev = [], [], "input_layer"
    for i in range(layers):
        name = "dense" if i == 0 else f"dense_{i}"
        kernel = rng.uniform(-limit, limit, (WIDTH, WIDTH)).astype(np.float32)
        inits += [
            numpy_helper.from_array(kernel, f"{name}.kernel"),
            numpy_helper.from_array(np.zeros(WIDTH, np.float32), f"{name}.bias"),
        ]
        nodes += [
            helper.make_node("MatMul", [prev, f"{name}.kernel"], [f"{name}/mm"]),
            helper.make_node("Add", [f"{name}/mm", f"{name}.bias"], [f"{name}/add"]),
            helper.make_node("Relu", [f"{name}/add"], [name]),
        ]
        prev = name
    graph = helper.make_graph(
        nodes,
        "deep_stack",
        [helper.make_tensor_value_info("input_layer", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["batch", WIDTH])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save_model(model, str(path))


def in_process_build(spec: Path, out: Path) -> None:
    compiled = compile_spec(spec)
    write_model(to_model_proto(compiled.graph, 17, compiled.metadata), out)


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = Path(tmp) / "stack.yaml", Path(tmp) / "stack.onnx"
        write_stack_spec(spec, args.layers)
        specc_cli = [
            sys.executable,
            "-m",
            "specc.cli.app",
            "build",
            str(spec),
            "-o",
            str(out),
            "-q",
        ]
        runs: dict[str, list[float]] = {"cli": [], "compile": [], "reference": []}
        in_process_build(spec, out)  # warm imports and caches once
        for _ in range(args.runs):  # interleaved, so load on the shared machine hits all alike
            runs["cli"].append(timed(lambda: subprocess.run(specc_cli, check=True)))
            runs["compile"].append(timed(lambda: in_process_build(spec, out)))
            runs["reference"].append(
                timed(lambda: reference_build(Path(tmp) / "ref.onnx", args.layers))
            )
        onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"specc build of a {args.layers}-layer Dense stack ({args.runs} interleaved runs, medians)"
    )
    for name, seconds in median.items():
        print(f"  {name:<10} {seconds * 1000:8.1f} ms")
    print(f"  compile / reference = {median['compile'] / median['reference']:.2f}x")
    verdict = "within" if median["cli"] < TARGET_SECONDS else "OVER"
    ratio = median["cli"] / TARGET_SECONDS
    print(f"  cli / {TARGET_SECONDS:.0f} s target = {ratio:.2f} ({verdict} target)")


if __name__ == "__main__":
    main()
