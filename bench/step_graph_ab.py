"""Benchmark: two builds of one spec's training step graph, timed against each other.

A whole-model bench on a shared machine is too noisy to see a few per cent; this times the
step graph alone (onnxruntime's run, every input and output bound once as OrtValues, the
same batch every run) for two saved builds, interleaved run by run in one process, and
prints the medians per thread count (wall time, and this process's CPU time, which load
distorts less), the median of the ratios of runs timed next to each other, and each graph's
node count (subgraphs included) and session creation time.

  save SPEC OUT    build SPEC's step graph with the specc on the path (as `specc train`
                   builds it: fused recurrent ops, the spec's optimizer) and write OUT.onnx
                   and OUT.npz (the state and a seeded random batch)
  compare A B      time A.onnx against B.onnx (each with its .npz); --repeats, --runs per
                   repeat, --threads (a comma list; 0 is onnxruntime's default)

Typical use: `save` with PYTHONPATH at the code before a change and again after, then
`compare` the two files.
Run: python bench/step_graph_ab.py save bench/specs/m3_lstm.yaml /tmp/before
     python bench/step_graph_ab.py compare /tmp/before /tmp/after [--threads 1,0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

SEED = 0


def save(spec: Path, out: Path) -> None:
    """Write ``spec``'s step graph and a feed for it."""
    import onnx

    from specc.onnx_model import to_model_proto
    from specc.train.run import prepare
    from specc.train.step_graph import build_step_graphs

    compiled, training = prepare(spec, None, SEED, fused_recurrence=True)
    config = compiled.typed.resolved.spec.compile
    graphs = build_step_graphs(training, config.optimizer, {})
    model = to_model_proto(graphs.step, 17)
    onnx.save(model, str(out.with_suffix(".onnx")))
    batch = int(compiled.typed.resolved.spec.train.batch_size)
    inputs = dict(graphs.step.inputs)
    rng = np.random.default_rng(SEED)
    feeds = {name: np.array(value) for name, value in graphs.state.items()}
    for name in graphs.batch_inputs:
        tensor = inputs[name]
        shape = tuple(batch if d is None else d for d in tensor.shape)
        if tensor.batched and (not shape or shape[0] != batch):
            shape = (batch, *shape)
        if tensor.dtype == "int64":
            feeds[name] = rng.integers(0, 2, shape).astype(np.int64)
        else:
            feeds[name] = rng.integers(0, 2, shape).astype(np.float32)
    np.savez(out.with_suffix(".npz"), **feeds)
    print(f"{out.with_suffix('.onnx')}: {_nodes(model)} nodes")


def _nodes(model: object) -> int:
    """Nodes in the graph and in every subgraph."""

    def count(graph: object) -> int:
        total = 0
        for node in graph.node:  # type: ignore[attr-defined]
            total += 1
            for attr in node.attribute:
                if attr.HasField("g"):
                    total += count(attr.g)
        return total

    return count(model.graph)  # type: ignore[attr-defined]


class Bound:
    """One step graph in a session, its inputs and outputs bound once."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnx
        import onnxruntime

        self.model = onnx.load(str(path.with_suffix(".onnx")))
        feeds = dict(np.load(path.with_suffix(".npz")))
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        start = time.perf_counter()
        self.session = onnxruntime.InferenceSession(
            self.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.created = time.perf_counter() - start
        self.binding = self.session.io_binding()
        self.values = []
        for i in self.session.get_inputs():
            value = onnxruntime.OrtValue.ortvalue_from_numpy(feeds[i.name])
            self.values.append(value)
            self.binding.bind_ortvalue_input(i.name, value)
        for o in self.session.get_outputs():
            self.binding.bind_output(o.name, "cpu")
        self.session.run_with_iobinding(self.binding)  # learn the output shapes
        for o, got in zip(self.session.get_outputs(), self.binding.get_outputs(), strict=True):
            value = onnxruntime.OrtValue.ortvalue_from_numpy(np.array(got.numpy()))
            self.values.append(value)
            self.binding.bind_ortvalue_output(o.name, value)

    def time(self, runs: int) -> tuple[float, float]:
        """Wall and CPU seconds (this process's) per run, over ``runs`` runs."""
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(runs):
            self.session.run_with_iobinding(self.binding)
        return (time.perf_counter() - wall) / runs, (time.process_time() - cpu) / runs


def compare(a: Path, b: Path, repeats: int, runs: int, threads: list[int]) -> None:
    """Time ``a`` and ``b`` interleaved, per thread count."""
    for count in threads:
        sides = [Bound(a, count), Bound(b, count)]
        for side in sides:
            side.time(5)
        times: list[list[tuple[float, float]]] = [[], []]
        for k in range(repeats):
            order = [0, 1] if k % 2 == 0 else [1, 0]
            for j in order:
                times[j].append(sides[j].time(runs))
        wall = [statistics.median(w for w, _ in t) * 1000 for t in times]
        cpu = [statistics.median(c for _, c in t) * 1000 for t in times]
        label = f"threads={count or 'default'}"
        for path, side, w, c in zip((a, b), sides, wall, cpu, strict=True):
            print(
                f"{label}: {path.name}: wall {w:.3f} ms/step, CPU {c:.3f} ms/step (medians "
                f"of {repeats}x{runs}), {_nodes(side.model)} nodes, "
                f"session {side.created * 1000:.0f} ms"
            )
        # Each repeat's ratio against the run next to it: load that drifts between
        # repeats cancels out.
        paired = [
            statistics.median(tb[n] / ta[n] for ta, tb in zip(times[0], times[1], strict=True))
            for n in (0, 1)
        ]
        print(
            f"{label}: {b.name} / {a.name}: wall {wall[1] / wall[0]:.3f}, CPU "
            f"{cpu[1] / cpu[0]:.3f}; median of paired ratios: wall {paired[0]:.3f}, "
            f"CPU {paired[1]:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    saving = sub.add_parser("save")
    saving.add_argument("spec", type=Path)
    saving.add_argument("out", type=Path)
    comparing = sub.add_parser("compare")
    comparing.add_argument("a", type=Path)
    comparing.add_argument("b", type=Path)
    comparing.add_argument("--repeats", type=int, default=21)
    comparing.add_argument("--runs", type=int, default=10)
    comparing.add_argument("--threads", default="1,0")
    args = parser.parse_args()
    if args.command == "save":
        save(args.spec, args.out)
    else:
        threads = [int(t) for t in args.threads.split(",")]
        compare(args.a, args.b, args.repeats, args.runs, threads)


if __name__ == "__main__":
    main()
