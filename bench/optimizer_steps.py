"""Benchmark: a training step's time with each optimizer, on the default backend.

Model M1 of bench/train_throughput.py (784-512-512-10 ReLU MLP, softmax head, sparse
crossentropy, batch 128, 0.67 M parameters), trained with ``fit`` on specc's own step graph
(the default backend: forward, backward and the optimizer's Keras update in one graph on
stock onnxruntime). Each optimizer's update is in the graph; on onnxruntime-training all but
Adam, AdamW and SGD ran as NumPy on the host each step. One session per optimizer, runs
timed round-robin (the start rotates each round) so that load from other processes hits them
alike; prints each optimizer's median ms/step and its ratio to Adam's.
Run: python bench/optimizer_steps.py [--repeats 7] [--steps 40] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from specc.pipeline import compile_data
from specc.spec.compile import losses_by_output
from specc.spec.loader import load_spec
from specc.train.data import Dataset, targets_for
from specc.train.fit import FitOptions, fit
from specc.train.graph import build_training_graph
from specc.train.standard import StandardSession

SPEC = Path(__file__).parent / "specs" / "m1_mlp.yaml"
BATCH = 128
# Each optimizer as a spec's compile.optimizer writes it, with the options that add work.
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "Adam": {"type": "Adam"},
    "AdamW": {"type": "AdamW"},
    "SGD": {"type": "SGD", "momentum": 0.9, "nesterov": True},
    "RMSprop": {"type": "RMSprop", "momentum": 0.9, "centered": True},
    "Adadelta": {"type": "Adadelta"},
    "Adagrad": {"type": "Adagrad"},
    "Adamax": {"type": "Adamax"},
    "Nadam": {"type": "Nadam"},
    "Lion": {"type": "Lion"},
    "Adam+clipnorm+amsgrad": {"type": "Adam", "clipnorm": 1.0, "amsgrad": True},
}


def runner(name: str, threads: int, steps: int) -> Any:
    """One epoch of ``steps`` batches of fit with optimizer ``name`` per call."""
    data = copy.deepcopy(load_spec(SPEC).data)
    data["compile"]["optimizer"] = OPTIMIZERS[name]
    compiled = compile_data(data, seed=0, for_training=True)
    config = compiled.compile
    assert config is not None
    training = build_training_graph(compiled, config)
    rng = np.random.default_rng(0)
    arrays = {
        "x": rng.standard_normal((steps * BATCH, 784), dtype=np.float32),
        "y": rng.integers(0, 10, steps * BATCH, dtype=np.int64),
    }
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    dataset = Dataset.from_arrays(arrays, dict(compiled.typed.resolved.inputs), targets)
    options = None
    if threads:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
    session = StandardSession(training, session_options=options)
    rounds = iter(range(1, 1 << 30))

    def run() -> float:
        fit_options = FitOptions(1, BATCH, True, next(rounds))
        started = time.perf_counter()
        fit(compiled, training, session, dataset, None, config, fit_options)
        return time.perf_counter() - started

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per optimizer")
    parser.add_argument("--steps", type=int, default=40, help="steps per run")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: default)")
    args = parser.parse_args()
    runs = {name: runner(name, args.threads, args.steps) for name in OPTIMIZERS}
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(runs[name]())
    print(
        f"step time per optimizer, M1 (batch {BATCH}), default backend on onnxruntime "
        f"{onnxruntime.__version__}; medians of {args.repeats} runs x {args.steps} steps"
    )
    adam = statistics.median(times["Adam"])
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {name:<22} {median * 1000 / args.steps:7.2f} ms/step  {median / adam:5.2f}x Adam")


if __name__ == "__main__":
    main()
