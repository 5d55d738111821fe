"""Benchmark: M2's step graph (bench/specs/m2_cnn.yaml) with alternative gradient forms.

Builds the step graph once per form of the Conv and MaxPool gradients, then times one
onnxruntime session per form, interleaved (the start rotates each round, so load from
other processes hits them alike), and prints per form the median wall and CPU ms per step
on 1 and 2 intra-op threads, and the largest difference of its updated state from the
first form's (every form computes the same step). Forms:
  add          MaxPool's gradient scattered with reduction "add" (as for overlapping windows)
  none         the rules as they stand (2x2 pooling: a plain write)
  by_conv      Conv weight gradients as one Conv with the batch as channels
Run: python bench/conv_gradient_forms.py [--repeats 40] [--forms add,none] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnxruntime

from specc.autodiff.rules import conv_weight, pool
from specc.onnx_model import to_model_proto
from specc.train.run import prepare
from specc.train.step_graph import build_step_graphs

SPEC = Path(__file__).parent / "specs" / "m2_cnn.yaml"
BATCH = 64


@contextlib.contextmanager
def _patched(owner: object, name: str, value: object) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _form(name: str) -> contextlib.AbstractContextManager[None]:
    if name == "add":
        return _patched(pool, "windows_are_disjoint", lambda d: False)
    if name == "by_conv":
        return _patched(conv_weight, "matmul_is_faster", lambda d, w, group: False)
    return contextlib.nullcontext()


def _step_models(forms: list[str]) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    compiled, training = prepare(SPEC, None, 0, fused_recurrence=True)
    optimizer = compiled.typed.resolved.spec.compile.optimizer
    models, feeds = {}, {}
    for form in forms:
        with _form(form):
            graphs = build_step_graphs(training, optimizer, {})
        models[form] = to_model_proto(graphs.step, 17).SerializeToString()
        feeds = dict(graphs.state)
    rng = np.random.default_rng(0)
    feeds["x"] = rng.random((BATCH, 28, 28, 1), np.float32)
    inputs = dict(graphs.step.inputs)
    for name in graphs.batch_inputs:
        if name != "x":
            feeds[name] = rng.integers(0, 10, (BATCH, *inputs[name].shape[1:])).astype(
                np.int64 if inputs[name].dtype == "int64" else np.int32
            )
    return models, feeds


def _timed(run: Callable[[], list[np.ndarray]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--forms", default="add,none,by_conv")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    forms = args.forms.split(",")
    models, feeds = _step_models(forms)
    for threads in [int(t) for t in args.threads.split(",")]:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        sessions = {
            f: onnxruntime.InferenceSession(m, options, providers=["CPUExecutionProvider"])
            for f, m in models.items()
        }
        names = [o.name for o in sessions[forms[0]].get_outputs()]
        first = sessions[forms[0]].run(names, feeds)
        spread = {}
        for form, session in sessions.items():
            found = session.run(names, feeds)
            spread[form] = max(
                float(np.max(np.abs(np.asarray(a, np.float64) - b), initial=0.0))
                for a, b in zip(found, first, strict=True)
            )
        times: dict[str, list[tuple[float, float]]] = {f: [] for f in forms}
        for r in range(args.repeats):
            for form in forms[r % len(forms) :] + forms[: r % len(forms)]:
                times[form].append(_timed(lambda s=sessions[form], n=names: s.run(n, feeds)))
        print(f"{threads} thread(s), {args.repeats} steps per form, ms per step (wall, cpu):")
        for form in forms:
            wall = statistics.median(t[0] for t in times[form])
            cpu = statistics.median(t[1] for t in times[form])
            print(
                f"  {form:<11} {wall:7.2f} {cpu:7.2f}   max |state - {forms[0]}| {spread[form]:.1e}"
            )


if __name__ == "__main__":
    main()
