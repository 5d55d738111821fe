"""Benchmark: the engine's fused AdamW kernel vs specc's NumPy updates on the parameter views.

Model: the 784-512-512-10 ReLU MLP of ``docs/engine-notes.md#optimizer-routes`` (0.67 M
parameters), softmax cross entropy, batch 128, float32. Routes, timed round by round
(interleaved) so that load from other processes hits them alike:

  kernel      module(x, y) + opt.step() + lazy_reset_grad(), artifacts with OptimType.AdamW
  numpy-X     module(x, y) + specc's update X on state.parameters[n].data/.grad + lazy_reset_grad()

and the update alone (opt.step() against update.step(), views fetched each step included).
Prints medians in ms and each route's ratio to the kernel.
Run: python bench/optimizer_routes.py [--rounds 7] [--steps 30] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from specc import optimizers as opt
from specc.train.engine import CheckpointState, Module, Optimizer, artifacts, quiet_stderr
from specc.train.updates import make_update

SIZES = [784, 512, 512, 10]
BATCH = 128


def mlp() -> tuple[object, list[str]]:
    rng = np.random.default_rng(0)
    nodes, inits, names, h = [], [], [], "x"
    for i, (n_in, n_out) in enumerate(pairwise(SIZES)):
        w, b = f"dense_{i}.kernel", f"dense_{i}.bias"
        limit = np.sqrt(6 / (n_in + n_out))
        inits += [
            numpy_helper.from_array(rng.uniform(-limit, limit, (n_in, n_out)).astype("f4"), w),
            numpy_helper.from_array(np.zeros(n_out, "f4"), b),
        ]
        names += [w, b]
        nodes.append(helper.make_node("Gemm", [h, w, b], [f"z{i}"]))
        h = f"z{i}"
        if i < len(SIZES) - 2:
            nodes.append(helper.make_node("Relu", [h], [f"h{i}"]))
            h = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", SIZES[0]])],
        [helper.make_tensor_value_info(h, TensorProto.FLOAT, ["n", SIZES[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, names


def build(directory: Path, optimizer: object) -> list[str]:
    model, names = mlp()
    directory.mkdir(parents=True, exist_ok=True)
    with quiet_stderr():
        artifacts.generate_artifacts(
            model,
            requires_grad=names,
            loss=artifacts.LossType.CrossEntropyLoss,
            optimizer=optimizer,
            artifact_directory=directory,
        )
    return names


def load(directory: Path, threads: int | None) -> tuple[CheckpointState, Module]:
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
    module = Module(
        str(directory / "training_model.onnx"),
        state,
        str(directory / "eval_model.onnx"),
        session_options=options,
    )
    module.train()
    return state, module


def per_step_ms(fn: Callable[[], None], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) * 1000 / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: default)")
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int64)
    configs = {
        "adam": opt.Adam(),
        "adamw": opt.AdamW(),
        "sgd-momentum": opt.SGD(momentum=0.9),
        "rmsprop": opt.RMSprop(),
        "nadam": opt.Nadam(),
        "adamw-clipnorm": opt.AdamW(clipnorm=1.0),
    }

    with tempfile.TemporaryDirectory() as tmp:
        kernel_dir, views_dir = Path(tmp, "kernel"), Path(tmp, "views")
        build(kernel_dir, artifacts.OptimType.AdamW)
        names = build(views_dir, None)

        _, k_module = load(kernel_dir, args.threads)
        k_opt = Optimizer(str(kernel_dir / "optimizer_model.onnx"), k_module)

        def kernel_step() -> None:
            k_module(x, y)
            k_opt.step()
            k_module.lazy_reset_grad()

        routes: dict[str, Callable[[], None]] = {"kernel": kernel_step}
        updates: dict[str, Callable[[], None]] = {"kernel": k_opt.step}
        for label, cfg in configs.items():
            state, module = load(views_dir, args.threads)
            update = make_update(cfg, {n: state.parameters[n].data for n in names})

            def apply(state: CheckpointState = state, update: object = update) -> None:
                params = {n: state.parameters[n].data for n in names}
                update.step(params, {n: state.parameters[n].grad for n in names})

            def step(module: Module = module, apply: Callable[[], None] = apply) -> None:
                module(x, y)
                apply()
                module.lazy_reset_grad()

            step()  # gradients exist from here on
            routes[f"numpy-{label}"] = step
            updates[f"numpy-{label}"] = apply

        timings: dict[str, list[float]] = {k: [] for k in routes}
        update_timings: dict[str, list[float]] = {k: [] for k in updates}
        for fn in routes.values():  # warm-up
            per_step_ms(fn, 10)
        for _ in range(args.rounds):
            for label, fn in routes.items():
                timings[label].append(per_step_ms(fn, args.steps))
            for label, fn in updates.items():
                update_timings[label].append(per_step_ms(fn, args.steps))

    base = statistics.median(timings["kernel"])
    base_update = statistics.median(update_timings["kernel"])
    params = sum(a * b + b for a, b in pairwise(SIZES))
    print(
        f"784-512-512-10 MLP ({params:,} parameters), batch {BATCH}, "
        f"threads={args.threads or 'default'}"
    )
    print(f"medians of {args.rounds} rounds x {args.steps} steps")
    print(f"{'route':24s} {'step ms':>8s} {'ratio':>6s} {'update ms':>10s} {'ratio':>6s}")
    for label in routes:
        s, u = statistics.median(timings[label]), statistics.median(update_timings[label])
        print(f"{label:24s} {s:8.2f} {s / base:6.2f} {u:10.3f} {u / base_update:6.2f}")


if __name__ == "__main__":
    main()
