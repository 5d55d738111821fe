"""Benchmark: data-parallel training on Ray (``specc train --workers``) for M1 (MLP
784-512-512-10, Adam; ``bench/train_throughput.py``), and what it says about more workers.

Measures, on an embedded Ray on this machine:

  throughput   samples/s of M1's training steps with 1 and 2 workers (global batch 128 and
               256), against the in-process standard backend at the same global batch (one
               thread each)
  all-reduce   ms per all-reduce of M1's gradients (one float32 vector of every trainable
               parameter) between 2 workers over Ray's gloo collective

then estimates the step time of N workers on a 10 Gb/s network, each worker on a batch of
128 (weak scaling) and the global batch 128 cut N ways (strong scaling), with the ring
all-reduce's time 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency.
Run: python bench/ray_scaling.py [--steps 30] [--latency-us 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime

from specc.distributed.ray_start import ray_started
from specc.optimizers import Adam
from specc.train.parallel import ParallelSession
from specc.train.run import prepare
from specc.train.standard import StandardSession

SPEC = Path(__file__).parent / "specs" / "m1_mlp.yaml"
BANDWIDTH = 10e9 / 8  # bytes/s of a 10 Gb/s network


def _batch(training: object, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    target = training.targets["y"][0]  # type: ignore[attr-defined]
    return {
        "x": rng.standard_normal((rows, 784), dtype=np.float32),
        target: rng.integers(0, 10, rows, dtype=np.int64),
    }


def _step_seconds(session: object, batch: dict[str, np.ndarray], steps: int) -> float:
    """Seconds of the fastest train_step + commit, after two warm-up steps: other
    processes on a shared machine only ever slow a step down."""
    times = []
    for k in range(steps + 2):
        start = time.perf_counter()
        session.train_step(batch)  # type: ignore[attr-defined]
        session.commit()  # type: ignore[attr-defined]
        if k >= 2:
            times.append(time.perf_counter() - start)
    return min(times)


def _allreduce_seconds(size: int, repeats: int) -> float:
    """Seconds of the fastest all-reduce of ``size`` float32 between 2 Ray actors."""
    import ray
    from ray.util import collective

    @ray.remote(num_cpus=1)
    class Reducer:
        def join(self, rank: int) -> None:
            collective.init_collective_group(2, rank, backend="gloo", group_name="bench")

        def run(self) -> list[float]:
            flat = np.ones(size, np.float32)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                collective.allreduce(flat, group_name="bench")
                times.append(time.perf_counter() - start)
            return times

    actors = [Reducer.remote() for _ in range(2)]
    ray.get([a.join.remote(k) for k, a in enumerate(actors)])
    times = ray.get([a.run.remote() for a in actors])
    for actor in actors:
        ray.kill(actor)
    return min(times[0][2:])


def ring_seconds(workers: int, size_bytes: int, latency: float) -> float:
    """A ring all-reduce of ``size_bytes`` among ``workers`` on a 10 Gb/s network."""
    if workers == 1:
        return 0.0
    return 2 * (workers - 1) / workers * size_bytes / BANDWIDTH + 2 * (workers - 1) * latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--latency-us", type=float, default=50.0)
    args = parser.parse_args()
    _, training = prepare(SPEC, None, 0)
    size = sum(int(np.prod(training.graph.initializers[n].shape)) for n in training.trainable)
    print(f"M1: {size} trainable parameters, {size * 4 / 1e6:.2f} MB of float32 gradients")

    measured: dict[tuple[str, int], float] = {}
    for rows in (128, 256):
        # One thread, as each worker has (a Ray actor of one CPU).
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        local = StandardSession(training, session_options=options)
        local.use_optimizer(Adam())
        measured[("in-process", rows)] = _step_seconds(local, _batch(training, rows), args.steps)
        for workers in (1, 2):
            session = ParallelSession(training, workers)
            try:
                session.use_optimizer(Adam())
                seconds = _step_seconds(session, _batch(training, rows), args.steps)
                measured[(f"{workers} worker{'s' if workers > 1 else ''}", rows)] = seconds
            finally:
                session.close()
    with ray_started(None, cpus=2):
        reduce_seconds = _allreduce_seconds(size, args.steps)
    print("\nthroughput (fastest step, samples/s):")
    for (kind, rows), seconds in measured.items():
        print(f"  {kind:11s} batch {rows:4d}: {seconds * 1e3:7.2f} ms  {rows / seconds:9.0f}/s")
    print(f"\nall-reduce of M1's gradients, 2 workers (gloo): {reduce_seconds * 1e3:.2f} ms")

    # The compute of a worker's step: the in-process step (no Ray, no all-reduce), per row.
    per_row = measured[("in-process", 128)] / 128
    latency = args.latency_us * 1e-6
    print(
        f"\nestimate on a 10 Gb/s network (compute {per_row * 1e6:.1f} us/row, "
        f"latency {args.latency_us:.0f} us per ring hop):"
    )
    print("  workers  weak: step ms  efficiency   strong (global 128): step ms  speed-up")
    single = per_row * 128
    for workers in (1, 2, 8, 32, 128):
        comm = ring_seconds(workers, size * 4, latency)
        weak = per_row * 128 + comm
        strong = per_row * 128 / workers + comm
        print(
            f"  {workers:7d}  {weak * 1e3:13.2f}  {single / weak:10.0%}"
            f"   {strong * 1e3:26.2f}  {single / strong:8.2f}"
        )


if __name__ == "__main__":
    main()
