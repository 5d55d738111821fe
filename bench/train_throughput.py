"""Benchmark: training throughput (samples/s) of `specc train` against its engine and two peers.

Models, each a spec in bench/specs/ (random data from a seeded generator):
  M1  MLP 784-512-512-10, ReLU, softmax head, sparse CE, Adam, batch 128   (m1_mlp.yaml)
  M2  CNN 28x28x1: Conv2D 32, Conv2D 64, MaxPool 2, Dense 128, Dense 10,
      sparse CE from logits, Adam, batch 64                                 (m2_cnn.yaml)
  M3  Embedding(10000, 64), LSTM(128) over 40 steps, Dense(1),
      BCE from logits, Adam, batch 64                                       (m3_lstm.yaml)

Variants, timed round-robin (the start rotates each round) so that load from other processes
on the shared machine hits them alike:
  specc       specc.train.fit.fit (the loop `specc train` runs: batches, train_step, Keras
              Adam through the engine's fused AdamWOptimizer kernel, loss averages, grad
              reset) on a TrainingSession, one epoch of --steps batches per run
  standard    the same loop on specc's own step graph (forward, backward and Keras's update in
              one standard-ONNX graph, `--backend standard`) on onnxruntime, state in OrtValues
  specc-np    the same as specc, with FitOptions(numpy_updates=True): Keras Adam in NumPy on the
              engine's parameter views (specc's route for optimizers the kernel cannot
              express exactly); --numpy-updates makes "specc" take this route too
  engine      the same training graph through the same generate_artifacts, driven directly:
              Module(x, y) + the engine's fused AdamWOptimizer kernel configured as Keras's
              Adam (onnxblock.optim.AdamW(eps=1e-7, weight_decay=0)) + lazy_reset_grad, on
              the same shuffled fancy-indexed batches: the floor for specc on this engine
  engine-np   the same Module, with specc's NumPy Adam (make_update) instead of the kernel
              but none of fit's other work: splits specc's overhead into update and loop
  torch       PyTorch, same architecture/batch/Adam(eps=1e-7), a plain loop with
              zero_grad/forward/backward/step/loss.item(), torch.set_num_threads = ORT's
              (NCHW images for M2: torch's native layout)
  keras       Keras 3 on JAX, model.fit(epochs=1, shuffle=True) over the same samples; the
              first fit (XLA compilation) is warm-up and not timed
Every run is one epoch of exactly --steps full batches (no smaller last batch, so no
recompilation in JAX). Prints medians of --repeats runs per variant and the ratios
specc/engine (and the overhead it implies), specc/torch and specc/keras, and a final line:
is specc at least as fast as the faster peer, per model. Peers not installed are skipped with
a note, as is a model whose spec does not build yet (e.g. a layer not written yet).
Per variant also: "others", the median number of cores other processes used during its runs
(from /proc/stat minus this process's CPU time), and the median over the quiet runs only
(others < 0.3 cores); ratios from quiet runs are added when every variant had two.
--profile adds, per model, a cProfile of specc's fit and the engine's per-op-type kernel times.
Run: python bench/train_throughput.py [--models M1,M3] [--steps N] [--repeats 7] [--profile]
     [--threads N] [--variants specc,specc-np,standard,engine,engine-np,torch,keras]
     [--warmup 3]
     [--numpy-updates]
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import io
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPECS = Path(__file__).parent / "specs"
SEED = 0
ENGINE_VARIANTS = ("specc", "specc-np", "standard", "engine", "engine-np")
PEERS = ("torch", "keras")
# A run is "quiet" when other processes used less than this many cores during it.
QUIET_CORES = 0.3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Case:
    """One benchmark model: its spec, batch size, default steps per run and data."""

    key: str
    spec: str
    batch: int
    steps: int  # default steps per timed run
    describe: str
    data: Callable[[np.random.Generator, int], dict[str, np.ndarray]]


def _m1_data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "x": rng.standard_normal((n, 784), dtype=np.float32),
        "y": rng.integers(0, 10, n, dtype=np.int64),
    }


def _m2_data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "x": rng.random((n, 28, 28, 1), dtype=np.float32),
        "y": rng.integers(0, 10, n, dtype=np.int64),
    }


def _m3_data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "tokens": rng.integers(0, 10000, (n, 40), dtype=np.int64),
        "y": rng.integers(0, 2, (n, 1)).astype(np.float32),
    }


CASES = {
    "M1": Case("M1", "m1_mlp.yaml", 128, 60, "MLP 784-512-512-10, batch 128", _m1_data),
    "M2": Case(
        "M2", "m2_cnn.yaml", 64, 6, "CNN 28x28x1 conv32-conv64-pool-128-10, batch 64", _m2_data
    ),
    "M3": Case(
        "M3",
        "m3_lstm.yaml",
        64,
        10,
        "Embedding 10000x64, LSTM 128 x40, Dense 1, batch 64",
        _m3_data,
    ),
}


class Skip(Exception):
    """A variant or model that cannot run here; the message says why."""


@dataclass
class Runner:
    """A variant ready to train: ``run(steps)`` does one epoch of ``steps`` batches."""

    name: str
    run: Callable[[int], None]
    close: Callable[[], None] = lambda: None
    times: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # cores used by other processes

    def quiet_times(self) -> list[float]:
        return [t for t, o in zip(self.times, self.others, strict=True) if o < QUIET_CORES]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:160]


# -- specc and the engine --------------------------------------------------------------------


class SpeccModel:
    """A compiled spec, its training graph and a checked dataset of ``n`` samples."""

    def __init__(self, case: Case, n: int, threads: int) -> None:
        from specc.diagnostics import SpecError
        from specc.spec.compile import losses_by_output
        from specc.train.data import Dataset, targets_for
        from specc.train.run import prepare

        try:
            self.compiled, self.training = prepare(SPECS / case.spec, None, SEED)
        except SpecError as error:
            raise Skip(f"spec does not build: {_first_line(error)}") from None
        except Exception as error:  # a layer being written may still raise anything
            raise Skip(
                f"spec does not build: {type(error).__name__}: {_first_line(error)}"
            ) from None
        self.case, self.threads = case, threads
        self.config = self.compiled.typed.resolved.spec.compile
        predictions = dict(self.compiled.graph.outputs)
        targets = targets_for(losses_by_output(self.config, list(predictions)), predictions)
        self.arrays = case.data(np.random.default_rng(SEED), n)
        inputs = dict(self.compiled.typed.resolved.inputs)
        self.dataset = Dataset.from_arrays(self.arrays, inputs, targets)

    def session_options(self) -> object | None:
        import onnxruntime

        if not self.threads:
            return None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        return options

    def specc_runner(self, numpy_updates: bool = False, name: str = "specc") -> Runner:
        import specc.train.session as session_module

        options = self.session_options()
        if options is not None:  # TrainingSession takes no session options: hand them over
            original = session_module.Module
            session_module.Module = lambda *a, **k: original(*a, session_options=options, **k)
        try:
            session = session_module.TrainingSession(self.training)
        finally:
            if options is not None:
                session_module.Module = original
        return self.fit_runner(session, name, numpy_updates)

    def standard_runner(self) -> Runner:
        """specc's own step graph on stock onnxruntime (``--backend standard``)."""
        from specc.train.standard import StandardSession

        session = StandardSession(self.training, session_options=self.session_options())
        return self.fit_runner(session, "standard")

    def fit_runner(self, session: Any, name: str, numpy_updates: bool = False) -> Runner:
        """``fit`` on ``session``, one epoch of the run's steps per call."""
        from specc.train.fit import FitOptions, fit

        rounds = iter(range(1, 1 << 30))
        subsets = {len(self.dataset): self.dataset}

        def run(steps: int) -> None:
            n = steps * self.case.batch
            if n not in subsets:  # only for warm-up: timed runs use the whole set
                subsets[n] = self.dataset.take(slice(0, n))
            data = subsets[n]
            fit_options = FitOptions(1, self.case.batch, True, next(rounds), numpy_updates)
            fitted = fit(
                self.compiled, self.training, session, data, None, self.config, fit_options
            )
            if not np.isfinite(fitted.history["loss"][-1]):
                raise RuntimeError("specc: the loss is not finite")

        return Runner(name, run, session.close)

    def engine_runners(self) -> list[Runner]:
        """Module + fused AdamW kernel, and Module + specc's NumPy Adam, on one set of artifacts."""
        from specc.onnx_model import DEFAULT_OPSET, to_model_proto
        from specc.train.engine import (
            CheckpointState,
            Module,
            Optimizer,
            artifacts,
            onnxblock,
            quiet_stderr,
        )
        from specc.train.updates import make_update

        tmp = tempfile.TemporaryDirectory(prefix="bench-engine-")
        directory = Path(tmp.name)
        adam = self.config.optimizer
        kernel = onnxblock.optim.AdamW(
            betas=(adam.beta_1, adam.beta_2), eps=adam.epsilon, weight_decay=0.0
        )
        with quiet_stderr():
            artifacts.generate_artifacts(
                to_model_proto(self.training.graph, DEFAULT_OPSET),
                requires_grad=self.training.trainable,
                frozen_params=self.training.frozen,
                loss=None,
                optimizer=kernel,
                artifact_directory=str(directory),
            )
        self.artifacts = directory

        def load() -> tuple[object, object]:
            state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
            module = Module(
                str(directory / "training_model.onnx"),
                state,
                str(directory / "eval_model.onnx"),
                session_options=self.session_options(),
            )
            module.train()
            return state, module

        rng = np.random.default_rng(SEED + 1)
        batch = self.case.batch

        def batches(steps: int) -> list[np.ndarray]:
            order = rng.permutation(steps * batch)
            return [order[i * batch : (i + 1) * batch] for i in range(steps)]

        _, module = load()  # the module keeps its state
        columns = self.feed_columns(list(module.input_names()))
        optimizer = Optimizer(str(directory / "optimizer_model.onnx"), module)
        optimizer.set_learning_rate(float(self.config.optimizer.learning_rate))

        def run_kernel(steps: int) -> None:
            for index in batches(steps):
                module(*[column[index] for column in columns])
                optimizer.step()
                module.lazy_reset_grad()

        np_state, np_module = load()
        names = self.training.trainable
        update = make_update(adam, {n: np_state.parameters[n].data for n in names})

        def run_numpy(steps: int) -> None:
            for index in batches(steps):
                np_module(*[column[index] for column in columns])
                params = {n: np_state.parameters[n].data for n in names}
                update.step(params, {n: np_state.parameters[n].grad for n in names})
                np_module.lazy_reset_grad()

        return [
            Runner("engine", run_kernel, tmp.cleanup),
            Runner("engine-np", run_numpy),
        ]

    def feed_columns(self, input_names: list[str]) -> list[np.ndarray]:
        """The whole data set's arrays in the module's input order and dtypes."""
        by_input = dict(self.dataset.inputs)
        for output, (name, _) in self.training.targets.items():
            by_input[name] = self.dataset.targets[output]
        if self.training.flag in input_names:
            raise Skip("engine-direct runners do not feed a training flag")
        return [np.ascontiguousarray(by_input[name]) for name in input_names]


# -- peers -----------------------------------------------------------------------------------


def torch_runner(case: Case, arrays: dict[str, np.ndarray], threads: int) -> Runner:
    try:
        import torch
        from torch import nn
    except ImportError as error:
        raise Skip(f"PyTorch not installed ({_first_line(error)})") from None
    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    if case.key == "M1":
        model: nn.Module = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )
        x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"])
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    elif case.key == "M2":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(12 * 12 * 64, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip
        x = torch.from_numpy(np.ascontiguousarray(arrays["x"].transpose(0, 3, 1, 2)))
        y = torch.from_numpy(arrays["y"])
        loss_fn = nn.CrossEntropyLoss()
    else:

        class Recurrent(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embedding = nn.Embedding(10000, 64)
                self.lstm = nn.LSTM(64, 128, batch_first=True)
                self.head = nn.Linear(128, 1)

            def forward(self, tokens: torch.Tensor) -> torch.Tensor:
                _, (h, _) = self.lstm(self.embedding(tokens))
                return self.head(h[-1])

        model = Recurrent()
        x, y = torch.from_numpy(arrays["tokens"]), torch.from_numpy(arrays["y"])
        loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    generator = torch.Generator().manual_seed(SEED)
    model.train()

    def run(steps: int) -> None:
        order = torch.randperm(steps * case.batch, generator=generator)
        for i in range(steps):
            index = order[i * case.batch : (i + 1) * case.batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            loss.item()

    return Runner("torch", run)


def keras_runner(case: Case, arrays: dict[str, np.ndarray]) -> Runner:
    os.environ["KERAS_BACKEND"] = "jax"  # read when keras is first imported
    try:
        import jax  # noqa: F401  (keras would fall back silently without it)
        import keras
        from keras import layers
    except ImportError as error:
        raise Skip(f"Keras 3 / JAX not installed ({_first_line(error)})") from None
    if keras.backend.backend() != "jax":
        raise Skip(f"Keras was imported earlier on {keras.backend.backend()}, not JAX")
    keras.utils.set_random_seed(SEED)
    if case.key == "M1":
        model = keras.Sequential([
            keras.Input((784,)), layers.Dense(512, activation="relu"),
            layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax"),
        ])  # fmt: skip
        loss: object = "sparse_categorical_crossentropy"
        x, y = arrays["x"], arrays["y"].astype(np.int32)
    elif case.key == "M2":
        model = keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dense(10),
        ])  # fmt: skip
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        x, y = arrays["x"], arrays["y"].astype(np.int32)
    else:
        model = keras.Sequential([
            keras.Input((40,), dtype="int32"), layers.Embedding(10000, 64), layers.LSTM(128),
            layers.Dense(1),
        ])  # fmt: skip
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        x, y = arrays["tokens"].astype(np.int32), arrays["y"]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)

    def run(steps: int) -> None:
        n = steps * case.batch
        model.fit(x[:n], y[:n], batch_size=case.batch, epochs=1, shuffle=True, verbose=0)

    return Runner("keras", run)


# -- timing and report -----------------------------------------------------------------------


def _busy_seconds() -> float | None:
    """CPU seconds all processes have used so far (from /proc/stat), or None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _, _, irq, softirq, *rest = fields
    return (user + nice + system + irq + softirq + (rest[0] if rest else 0)) / CLOCK_TICKS


def timed(run: Callable[[int], None], steps: int) -> tuple[float, float]:
    """(seconds, cores used by OTHER processes meanwhile) for one run of ``steps`` steps."""
    busy, cpu, start = _busy_seconds(), time.process_time(), time.perf_counter()
    run(steps)
    elapsed = time.perf_counter() - start
    cpu, after = time.process_time() - cpu, _busy_seconds()
    if busy is None or after is None:
        return elapsed, float("nan")
    return elapsed, max(0.0, (after - busy - cpu) / elapsed)


def bench_model(case: Case, args: argparse.Namespace) -> dict[str, float] | None:
    steps = args.steps or case.steps
    warmup = max(args.warmup, 1)
    print(f"\n{case.key}: {case.describe}; {args.repeats} runs x {steps} steps per variant")
    try:
        model = SpeccModel(case, max(steps, warmup) * case.batch, args.threads)
    except Skip as why:
        print(f"  SKIPPED {case.key}: {why}")
        return None
    runners: list[Runner] = []
    makers: list[tuple[str, Callable[[], list[Runner]]]] = [
        ("specc", lambda: [model.specc_runner(args.numpy_updates)]),
        ("specc-np", lambda: [model.specc_runner(True, "specc-np")]),
        ("standard", lambda: [model.standard_runner()]),
        ("engine", model.engine_runners),
        ("torch", lambda: [torch_runner(case, model.arrays, args.threads_torch)]),
        ("keras", lambda: [keras_runner(case, model.arrays)]),
    ]
    for name, make in makers:
        if name not in args.variants:
            continue
        try:
            made = [r for r in make() if r.name in args.variants]
        except Skip as why:
            print(f"  {name}: skipped, {why}")
            continue
        for runner in made:
            started = time.perf_counter()
            runner.run(warmup)  # warm-up: allocations, JIT/XLA compilation, caches
            print(f"  {runner.name:<9} ready (warm-up {time.perf_counter() - started:5.1f} s)")
        runners.extend(made)
    if not runners:
        return None
    for r in range(args.repeats):
        shift = r % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            seconds, others = timed(runner.run, steps)
            runner.times.append(seconds)
            runner.others.append(others)
    samples = steps * case.batch
    rates = {r.name: samples / statistics.median(r.times) for r in runners}
    quiet = {r.name: r.quiet_times() for r in runners}
    print(
        f"  {'variant':<9} {'samples/s':>9} {'ms/step':>8}  {'runs (min-max)':>14}  "
        f"{'others':>6}  quiet runs (others < {QUIET_CORES} cores)"
    )
    for runner in runners:
        per_run = sorted(samples / t for t in runner.times)
        ms = statistics.median(runner.times) * 1000 / steps
        calm = quiet[runner.name]
        calm_text = f"{len(calm)}: {samples / statistics.median(calm):6.0f}/s" if calm else "0"
        print(
            f"  {runner.name:<9} {rates[runner.name]:9.0f} {ms:8.2f}  "
            f"{per_run[0]:6.0f}-{per_run[-1]:<7.0f}  {statistics.median(runner.others):6.2f}  "
            f"{calm_text}"
        )
    # ratios from quiet runs too, when every variant had at least two
    calm_rates = (
        {k: samples / statistics.median(v) for k, v in quiet.items()}
        if all(len(v) >= 2 for v in quiet.values())
        else None
    )

    def ratio(other: str) -> str:
        text = f"{rates['specc'] / rates[other]:.2f}"
        if calm_rates is not None:
            text += f"  (quiet runs: {calm_rates['specc'] / calm_rates[other]:.2f})"
        return text

    if "specc" in rates:
        if "engine" in rates:
            overhead = rates["engine"] / rates["specc"] - 1
            verdict = "within" if overhead < 0.10 else "OVER"
            print(
                f"  specc/engine    = {ratio('engine')}; loop overhead {overhead:+.1%}, "
                f"{verdict} the 10% target"
            )
        for other in ("specc-np", "standard", "engine-np", *PEERS):
            if other in rates:
                print(f"  specc/{other:<9} = {ratio(other)}")
    if "standard" in rates:
        for other in ("engine", *PEERS):
            if other in rates:
                print(f"  standard/{other:<6} = {rates['standard'] / rates[other]:.2f}")
    if args.profile and "specc" in rates:
        profile(model, steps, args.numpy_updates)
    for runner in runners:
        runner.close()
    others = statistics.median(o for r in runners for o in r.others)
    if others >= QUIET_CORES:
        print(
            f"  NOISY: other processes used a median {others:.2f} cores during these runs; "
            "thread pools (torch's most) slow down unevenly under contention: rerun when "
            "quiet, or with --threads 1"
        )
    return {**rates, "_others": others}


def profile(model: SpeccModel, steps: int, numpy_updates: bool = False) -> None:
    """Where specc's time goes: cProfile of fit, and the engine's kernel time per op type."""
    runner = model.specc_runner(numpy_updates)
    runner.run(2)
    profiler = cProfile.Profile()
    profiler.enable()
    runner.run(steps)
    profiler.disable()
    runner.close()
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, _)

    def cumulative(match: Callable[[str, str], bool]) -> float:
        return sum(v[3] for (file, _, name), v in table.items() if match(file, name))

    total = cumulative(lambda f, n: f.endswith("fit.py") and n == "fit")
    parts = {
        "engine train_step": cumulative(lambda f, n: "train_step" in n and f == "~"),
        "NumPy Adam update": cumulative(lambda f, n: f.endswith("/update.py") and n == "step"),
        "fused Adam update": cumulative(lambda f, n: f.endswith("fused.py") and n == "step"),
        "parameter/grad views": cumulative(
            lambda f, n: f.endswith("session.py") and n in ("parameters", "gradients")
        ),
        "batches (indexing)": cumulative(lambda f, n: f.endswith("data.py") and n == "batches"),
        "loss averages": cumulative(lambda f, n: f.endswith("fit.py") and n == "update"),
    }
    parts["rest of fit"] = total - sum(parts.values())
    print(f"  profile: specc fit, {steps} steps, {total * 1000 / steps:.2f} ms/step under cProfile")
    print(
        "    "
        + ", ".join(f"{k} {v * 1000 / steps:.2f} ({v / total:.0%})" for k, v in parts.items())
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(6)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("    top functions by own time:")
    for line in lines[start : start + 7]:
        print("    " + _short_path(line)[:130])
    _engine_op_profile(model, steps)


def _short_path(line: str) -> str:
    for prefix in (
        str(Path(__file__).resolve().parents[1]) + "/",
        str(Path(np.__file__).parents[1]) + "/",
    ):
        line = line.replace(prefix, "")
    return line


def _engine_op_profile(model: SpeccModel, steps: int) -> None:
    import onnxruntime

    from specc.train.engine import CheckpointState, Module

    if getattr(model, "artifacts", None) is None:
        return
    with tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp:
        options = onnxruntime.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        if model.threads:
            options.intra_op_num_threads = model.threads
        directory = model.artifacts
        state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
        module = Module(
            str(directory / "training_model.onnx"),
            state,
            str(directory / "eval_model.onnx"),
            session_options=options,
        )
        module.train()
        columns = model.feed_columns(list(module.input_names()))
        batch = model.case.batch
        for i in range(steps):
            module(*[c[i * batch : (i + 1) * batch] for c in columns])
            module.lazy_reset_grad()
        del module, state  # the sessions write their profiles when destroyed
        by_op: dict[str, float] = {}
        for file in glob.glob(str(Path(tmp) / "ort*.json")):
            for event in json.loads(Path(file).read_text()):
                if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                    op = event.get("args", {}).get("op_name", "?")
                    by_op[op] = by_op.get(op, 0.0) + event["dur"] / 1000
    total = sum(by_op.values())
    if not total:
        print("  profile: the engine wrote no kernel times")
        return
    print(f"  profile: engine kernels, {steps} forward+backward steps, ms per step by op type")
    top = sorted(by_op.items(), key=lambda kv: -kv[1])[:8]
    print("    " + ", ".join(f"{op} {ms / steps:.2f} ({ms / total:.0%})" for op, ms in top))
    print(f"    all kernels: {total / steps:.2f} ms/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="M1,M2,M3", help="comma list of M1,M2,M3")
    parser.add_argument("--steps", type=int, default=0, help="steps per run (0: per model)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps per variant")
    parser.add_argument(
        "--variants", default=",".join((*ENGINE_VARIANTS, *PEERS)), help="comma list"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads for all (0: ORT's default)"
    )
    parser.add_argument("--profile", action="store_true", help="profile specc on each model")
    parser.add_argument(
        "--numpy-updates",
        action="store_true",
        help="specc updates in NumPy even where the fused kernel is exact (as specc-np)",
    )
    args = parser.parse_args()
    args.variants = set(args.variants.split(","))
    # ORT's default intra-op pool is one thread per core; torch gets the same count.
    args.threads_torch = args.threads or os.cpu_count() or 1
    keys = [k.strip().upper() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(CASES)}")
    threads = args.threads or "default"
    print(
        f"training throughput, samples/s (medians of interleaved runs); {os.cpu_count()} CPUs, "
        f"ORT threads {threads}, torch threads {args.threads_torch}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    results = {key: bench_model(CASES[key], args) for key in keys}
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    verdicts = []
    for key, rates in results.items():
        if rates is None or "specc" not in rates:
            verdicts.append(f"{key} not run")
            continue
        peers = {p: rates[p] for p in PEERS if p in rates}
        if not peers:
            verdicts.append(f"{key} no peer ran")
            continue
        best = max(peers, key=lambda p: peers[p])
        ratio = rates["specc"] / peers[best]
        noisy = ", noisy" if rates["_others"] >= QUIET_CORES else ""
        verdicts.append(f"{key} {'yes' if ratio >= 1 else 'NO'} ({ratio:.2f}x {best}{noisy})")
    print("specc at least as fast as the faster peer: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
