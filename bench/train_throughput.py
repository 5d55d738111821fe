"""Benchmark: training throughput (samples/s) of `specc train` against its engine and two peers.

Models, each a spec in bench/specs/ (random data from a seeded generator):
  M1  MLP 784-512-512-10, ReLU, softmax head, sparse CE, Adam, batch 128   (m1_mlp.yaml)
  M2  CNN 28x28x1: Conv2D 32, Conv2D 64, MaxPool 2, Dense 128, Dense 10,
      sparse CE from logits, Adam, batch 64                                 (m2_cnn.yaml)
  M3  Embedding(10000, 64), LSTM(128) over 40 steps, Dense(1),
      BCE from logits, Adam, batch 64                                       (m3_lstm.yaml)

Variants, timed round-robin (the start rotates each round) so that load from other processes
on the shared machine hits them alike:
  specc       specc.train.fit.fit (the loop `specc train` runs: batches, train_step, loss and
              metric averages) on the default backend: specc's own step graph (forward,
              backward and Keras's update in one standard-ONNX graph) on stock onnxruntime,
              state in OrtValues; one epoch of --steps batches per run
  ort-training      fit on `--backend ort-training`: onnxruntime-training's gradients, Keras
              Adam through the engine's fused AdamWOptimizer kernel
  ort-training-np   the same with FitOptions(numpy_updates=True): Keras Adam in NumPy on the
              engine's parameter views (the engine's route for optimizers its kernel cannot
              express exactly)
  engine      the same training graph through the same generate_artifacts, driven directly:
              Module(x, y) + the engine's fused AdamWOptimizer kernel configured as Keras's
              Adam (onnxblock.optim.AdamW(eps=1e-7, weight_decay=0)) + lazy_reset_grad, on
              the same shuffled fancy-indexed batches
  engine-np   the same Module, with specc's NumPy Adam (make_update) instead of the kernel
  torch       PyTorch, same architecture/batch/Adam(eps=1e-7), a plain loop with
              zero_grad/forward/backward/step/loss.item(), torch.set_num_threads = ORT's
              (NCHW images for M2: torch's native layout)
  keras       Keras 3 on JAX, model.fit(epochs=1, shuffle=True) over the same samples; the
              first fit (XLA compilation) is warm-up and not timed
onnxruntime-training ships its own build of the `onnxruntime` module, so one interpreter
cannot hold both it and the current stock onnxruntime that `pip install specc` gives.
--python PATH runs specc in a worker process under that interpreter (an
environment with the base install: `.venv-base/bin/python` in CI's layout), timed in turn
with the variants this process runs; the report names each side's onnxruntime.
Every run is one epoch of exactly --steps full batches (no smaller last batch, so no
recompilation in JAX). Prints medians of --repeats runs per variant, the ratios of specc to
every other variant, specc's host overhead (the share of its time spent outside
onnxruntime's run of the step graph: batching, binding, fit's loop), and final lines: is
specc at least as fast as the ort-training backend, and as the faster peer, per model.
Peers not installed are skipped with a note, as are the engine variants where
onnxruntime-training is not installed, and a model whose spec does not build.
Per variant also: "others", the median number of cores other processes used during its runs
(from /proc/stat minus this process's CPU time), and the median over the quiet runs only
(others < 0.3 cores); ratios from quiet runs are added when every variant had two.
--profile adds, per model, a cProfile of specc's fit and the step graph's per-op-type kernel
times (in this process).
Run: python bench/train_throughput.py [--models M1,M3] [--steps N] [--repeats 7] [--profile]
     [--threads N] [--warmup 3] [--python .venv-base/bin/python]
     [--variants specc,ort-training,ort-training-np,engine,engine-np,torch,keras]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

SPECS = Path(__file__).parent / "specs"
SEED = 0
# The variants on specc's default backend: the ones --python runs in a worker process.
STANDARD_VARIANTS = ("specc",)
ENGINE_VARIANTS = ("ort-training", "ort-training-np", "engine", "engine-np")
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


class Timing(NamedTuple):
    """One timed run: its seconds, the cores other processes used meanwhile, and the
    seconds spent inside onnxruntime's run of a bound graph (NaN where none ran)."""

    seconds: float
    others: float
    engine: float


# Seconds spent in InferenceSession.run_with_iobinding so far (``count_engine_time``).
_ENGINE_SECONDS = [0.0]


def count_engine_time() -> None:
    """Time every run_with_iobinding in this process, so a run's host overhead (its time
    outside onnxruntime) can be told apart from the step graph's own time."""
    import onnxruntime

    original = onnxruntime.InferenceSession.run_with_iobinding
    if getattr(original, "counted", False):
        return

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _ENGINE_SECONDS[0] += time.perf_counter() - start

    counted.counted = True  # type: ignore[attr-defined]
    onnxruntime.InferenceSession.run_with_iobinding = counted  # type: ignore[method-assign]


@dataclass
class Runner:
    """A variant ready to train: ``run(steps)`` does one epoch of ``steps`` batches."""

    name: str
    run: Callable[[int], None]
    close: Callable[[], None] = lambda: None
    times: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # cores used by other processes
    # Seconds of each run inside onnxruntime's run_with_iobinding (specc's variant only).
    engine: list[float] = field(default_factory=list)
    # One timed run of ``steps``; a worker process's runner is timed there, not here.
    measure: Callable[[int], Timing] | None = None

    def timed(self, steps: int) -> Timing:
        return self.measure(steps) if self.measure is not None else timed(self.run, steps)

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

    @functools.cached_property
    def standard_training(self) -> Any:
        """The standard backend's own lowering (fused recurrent ops, as `specc train`),
        built only where a variant on that backend runs."""
        from specc.train.run import prepare

        return prepare(SPECS / self.case.spec, None, SEED, fused_recurrence=True)[1]

    def session_options(self) -> object | None:
        import onnxruntime

        if not self.threads:
            return None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        return options

    def ort_training_runner(self, numpy_updates: bool, name: str) -> Runner:
        """fit on ``--backend ort-training``."""
        _need_training_engine()
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

    def standard_session(self) -> Any:
        """A session on specc's own step graph (the default backend), optimizer loaded."""
        from specc.train.standard import StandardSession

        options = self.session_options()
        session = StandardSession(self.standard_training, session_options=options)
        session.use_optimizer(self.config.optimizer)
        return session

    def specc_runner(self) -> Runner:
        """fit on the default backend, as ``specc train`` runs it."""
        count_engine_time()
        return self.fit_runner(self.standard_session(), "specc")

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
            # The session's own training graph: the two backends lower recurrences apart.
            training = session.training
            fitted = fit(self.compiled, training, session, data, None, self.config, fit_options)
            if not np.isfinite(fitted.history["loss"][-1]):
                raise RuntimeError("specc: the loss is not finite")

        return Runner(name, run, session.close)

    def engine_runners(self) -> list[Runner]:
        """Module + fused AdamW kernel, and Module + specc's NumPy Adam, on one set of artifacts."""
        _need_training_engine()
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


def _need_training_engine() -> None:
    from specc.train.ort_training import training_engine_problem

    problem = training_engine_problem()
    if problem is not None:
        raise Skip(problem.split(";")[0])


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


def timed(run: Callable[[int], None], steps: int) -> Timing:
    """One run of ``steps`` steps, timed (see ``Timing``)."""
    engine = _ENGINE_SECONDS[0]
    busy, cpu, start = _busy_seconds(), time.process_time(), time.perf_counter()
    run(steps)
    elapsed = time.perf_counter() - start
    cpu, after = time.process_time() - cpu, _busy_seconds()
    engine = _ENGINE_SECONDS[0] - engine
    inside = engine if engine > 0 else float("nan")
    if busy is None or after is None:
        return Timing(elapsed, float("nan"), inside)
    return Timing(elapsed, max(0.0, (after - busy - cpu) / elapsed), inside)


def _make_runners(
    case: Case, model: SpeccModel, args: argparse.Namespace, names: list[str]
) -> list[Runner]:
    """The runners of ``names`` that can run in this process (a skipped one says why)."""
    makers: dict[str, Callable[[], list[Runner]]] = {
        "specc": lambda: [model.specc_runner()],
        "ort-training": lambda: [model.ort_training_runner(False, "ort-training")],
        "ort-training-np": lambda: [model.ort_training_runner(True, "ort-training-np")],
        "engine": model.engine_runners,
        "torch": lambda: [torch_runner(case, model.arrays, args.threads_torch)],
        "keras": lambda: [keras_runner(case, model.arrays)],
    }
    runners: list[Runner] = []
    for name, make in makers.items():
        wanted = [name, "engine-np"] if name == "engine" else [name]
        if not any(w in names for w in wanted):
            continue
        try:
            made = [r for r in make() if r.name in names]
        except Skip as why:
            print(f"  {name}: skipped, {why}", flush=True)
            continue
        runners.extend(made)
    return runners


def _warm(runners: list[Runner], warmup: int) -> None:
    for runner in runners:
        started = time.perf_counter()
        runner.run(warmup)  # warm-up: allocations, JIT/XLA compilation, caches
        print(f"  {runner.name:<15} ready (warm-up {time.perf_counter() - started:5.1f} s)")


class Worker:
    """The default-backend variants in a process of another interpreter (``--python``).

    Protocol, one JSON object a line: the worker prints ``{"ready": [names], "onnxruntime":
    version}`` (or ``{"skip": why}``) once its runners are warm, then answers each
    ``{"run": name, "steps": n}`` on its stdin with ``{"seconds": s, "others": cores}``.
    """

    def __init__(self, python: str, case: Case, args: argparse.Namespace, names: list[str]):
        root = str(Path(__file__).resolve().parents[1])
        command = [
            python, __file__, "--worker", case.key, "--variants", ",".join(names),
            "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--threads", str(args.threads),
        ]  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": root}
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )
        hello = self._receive()
        if "skip" in hello:
            self.close()
            raise Skip(hello["skip"])
        self.names: list[str] = hello["ready"]
        self.onnxruntime: str = hello["onnxruntime"]

    def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise Skip(f"the worker process ended (exit {self.process.wait()})")
        return json.loads(line)

    def runner(self, name: str) -> Runner:
        def measure(steps: int) -> Timing:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"run": name, "steps": steps}) + "\n")
            self.process.stdin.flush()
            return Timing(*self._receive()["timing"])

        def unused(steps: int) -> None:
            raise RuntimeError("a worker's runner is only timed, through measure")

        return Runner(name, unused, measure=measure)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def worker_main(key: str, args: argparse.Namespace) -> None:
    """``--worker``: build and warm the default-backend runners, then time runs on request."""
    import onnxruntime

    case = CASES[key]
    steps = args.steps or case.steps
    warmup = max(args.warmup, 1)
    names = [n for n in STANDARD_VARIANTS if n in args.variants]
    try:
        model = SpeccModel(case, max(steps, warmup) * case.batch, args.threads)
        runners = {r.name: r for r in _make_runners(case, model, args, names)}
        for runner in runners.values():
            runner.run(warmup)
    except Skip as why:
        print(json.dumps({"skip": str(why)}), flush=True)
        return
    hello = {"ready": list(runners), "onnxruntime": onnxruntime.__version__}
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        timing = timed(runners[request["run"]].run, request["steps"])
        print(json.dumps({"timing": list(timing)}), flush=True)


def bench_model(case: Case, args: argparse.Namespace) -> dict[str, float] | None:
    steps = args.steps or case.steps
    warmup = max(args.warmup, 1)
    print(f"\n{case.key}: {case.describe}; {args.repeats} runs x {steps} steps per variant")
    try:
        model = SpeccModel(case, max(steps, warmup) * case.batch, args.threads)
    except Skip as why:
        print(f"  SKIPPED {case.key}: {why}")
        return None
    import onnxruntime

    here = onnxruntime.__version__
    remote = [n for n in STANDARD_VARIANTS if n in args.variants] if args.python else []
    local = [n for n in (*STANDARD_VARIANTS, *ENGINE_VARIANTS, *PEERS) if n in args.variants]
    local = [n for n in local if n not in remote]
    runners = _make_runners(case, model, args, local)
    _warm(runners, warmup)
    worker = None
    if remote:
        try:
            worker = Worker(args.python, case, args, remote)
        except Skip as why:
            print(f"  {', '.join(remote)} under {args.python}: skipped, {why}")
        else:
            runners.extend(worker.runner(name) for name in worker.names)
            print(f"  {', '.join(worker.names)} ready in a worker: {args.python}")
    if not runners:
        return None
    for name in (n for n in STANDARD_VARIANTS if any(r.name == n for r in runners)):
        side = worker.onnxruntime if worker is not None and name in worker.names else here
        print(f"  {name} runs on onnxruntime {side}")
    if any(r.name in ENGINE_VARIANTS for r in runners):
        print(f"  {', '.join(r.name for r in runners if r.name in ENGINE_VARIANTS)} run on {here}")
    for r in range(args.repeats):
        shift = r % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            timing = runner.timed(steps)
            runner.times.append(timing.seconds)
            runner.others.append(timing.others)
            runner.engine.append(timing.engine)
    rates = _report(runners, steps * case.batch, steps)
    if args.profile and "specc" in rates:
        profile(model, steps)
    for runner in runners:
        runner.close()
    if worker is not None:
        worker.close()
    others = statistics.median(o for r in runners for o in r.others)
    if others >= QUIET_CORES:
        print(
            f"  NOISY: other processes used a median {others:.2f} cores during these runs; "
            "thread pools (torch's most) slow down unevenly under contention: rerun when "
            "quiet, or with --threads 1"
        )
    return {**rates, "_others": others}


def _report(runners: list[Runner], samples: int, steps: int) -> dict[str, float]:
    """Print the table and specc's ratios to the others; return samples/s per variant."""
    rates = {r.name: samples / statistics.median(r.times) for r in runners}
    quiet = {r.name: r.quiet_times() for r in runners}
    print(
        f"  {'variant':<15} {'samples/s':>9} {'ms/step':>8}  {'runs (min-max)':>14}  "
        f"{'others':>6}  quiet runs (others < {QUIET_CORES} cores)"
    )
    for runner in runners:
        per_run = sorted(samples / t for t in runner.times)
        ms = statistics.median(runner.times) * 1000 / steps
        calm = quiet[runner.name]
        calm_text = f"{len(calm)}: {samples / statistics.median(calm):6.0f}/s" if calm else "0"
        print(
            f"  {runner.name:<15} {rates[runner.name]:9.0f} {ms:8.2f}  "
            f"{per_run[0]:6.0f}-{per_run[-1]:<7.0f}  {statistics.median(runner.others):6.2f}  "
            f"{calm_text}"
        )
    # ratios from quiet runs too, when every variant had at least two
    calm_rates = (
        {k: samples / statistics.median(v) for k, v in quiet.items()}
        if all(len(v) >= 2 for v in quiet.values())
        else None
    )
    if "specc" not in rates:
        return rates
    for other in (n for n in rates if n != "specc"):
        text = f"{rates['specc'] / rates[other]:.2f}"
        if calm_rates is not None:
            text += f"  (quiet runs: {calm_rates['specc'] / calm_rates[other]:.2f})"
        print(f"  specc/{other:<15} = {text}")
    specc = next(r for r in runners if r.name == "specc")
    shares = [1 - e / t for e, t in zip(specc.engine, specc.times, strict=True) if e == e]
    if shares:
        overhead = statistics.median(shares)
        verdict = "within" if overhead < 0.05 else "OVER"
        print(
            f"  specc's host overhead: {overhead:.1%} of its time outside onnxruntime's run "
            f"of the step graph, {verdict} the 5% target"
        )
    return rates


def profile(model: SpeccModel, steps: int) -> None:
    """Where specc's time goes: cProfile of fit, and the step graph's kernel time per op."""
    runner = model.specc_runner()
    runner.run(2)
    profiler = cProfile.Profile()
    started, engine = time.perf_counter(), _ENGINE_SECONDS[0]
    profiler.enable()
    runner.run(steps)
    profiler.disable()
    # Timed around the run: on Python 3.12 and later cProfile may record no entry for fit
    # itself (sys.monitoring), only for what it calls.
    total, engine = time.perf_counter() - started, _ENGINE_SECONDS[0] - engine
    runner.close()
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, _)

    def cumulative(match: Callable[[str, str], bool]) -> float:
        return sum(v[3] for (file, _, name), v in table.items() if match(file, name))

    parts = {
        "step graph (in onnxruntime)": engine,
        "loss and metric averages": cumulative(lambda f, n: f.endswith("fit.py") and n == "update"),
    }
    parts["rest of fit"] = total - sum(parts.values())
    # Cut on the batch thread while the steps run: beside the others, not part of them.
    parts["batches (background thread)"] = cumulative(
        lambda f, n: f.endswith("data.py") and n == "batches"
    )
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
    _step_graph_op_profile(model, steps)


def _short_path(line: str) -> str:
    for prefix in (
        str(Path(__file__).resolve().parents[1]) + "/",
        str(Path(np.__file__).parents[1]) + "/",
    ):
        line = line.replace(prefix, "")
    return line


def _step_graph_op_profile(model: SpeccModel, steps: int) -> None:
    """onnxruntime's kernel times per op type over ``steps`` steps of the step graph."""
    import onnxruntime

    from specc.train.standard import StandardSession

    with tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp:
        options = onnxruntime.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        if model.threads:
            options.intra_op_num_threads = model.threads
        session = StandardSession(model.standard_training, session_options=options)
        session.use_optimizer(model.config.optimizer)
        targets = model.standard_training.targets
        data = model.dataset.take(slice(0, steps * model.case.batch))
        for batch in data.batches(model.case.batch, False, None):
            feeds = {n: batch.targets[o] for o, (n, _) in targets.items()}
            session.commit(session.train_step({**batch.inputs, **feeds}))
        file = session.end_profiling()
        by_op: dict[str, float] = {}
        for event in json.loads(Path(file).read_text()):
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                op = event.get("args", {}).get("op_name", "?")
                by_op[op] = by_op.get(op, 0.0) + event["dur"] / 1000
    total = sum(by_op.values())
    if not total:
        print("  profile: the step graph wrote no kernel times")
        return
    print(f"  profile: step graph kernels, {steps} steps, ms per step by op type")
    top = sorted(by_op.items(), key=lambda kv: -kv[1])[:10]
    print("    " + ", ".join(f"{op} {ms / steps:.2f} ({ms / total:.0%})" for op, ms in top))
    print(f"    all kernels: {total / steps:.2f} ms/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="M1,M2,M3", help="comma list of M1,M2,M3")
    parser.add_argument("--steps", type=int, default=0, help="steps per run (0: per model)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps per variant")
    parser.add_argument(
        "--variants",
        default=",".join((*STANDARD_VARIANTS, *ENGINE_VARIANTS, *PEERS)),
        help="comma list",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads for all (0: ORT's default)"
    )
    parser.add_argument(
        "--python",
        default="",
        help="interpreter to run specc under (a base install: stock onnxruntime)",
    )
    parser.add_argument("--profile", action="store_true", help="profile specc on each model")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.variants = set(args.variants.split(","))
    # ORT's default intra-op pool is one thread per core; torch gets the same count.
    args.threads_torch = args.threads or os.cpu_count() or 1
    if args.worker:
        worker_main(args.worker, args)
        return
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
    print("specc at least as fast as ort-training: " + _verdicts(results, ("ort-training",)))
    print("specc at least as fast as the faster peer: " + _verdicts(results, PEERS))


def _verdicts(results: dict[str, dict[str, float] | None], others: tuple[str, ...]) -> str:
    verdicts = []
    for key, rates in results.items():
        if rates is None or "specc" not in rates:
            verdicts.append(f"{key} not run")
            continue
        present = {p: rates[p] for p in others if p in rates}
        if not present:
            verdicts.append(f"{key} none ran")
            continue
        best = max(present, key=lambda p: present[p])
        ratio = rates["specc"] / present[best]
        noisy = ", noisy" if rates["_others"] >= QUIET_CORES else ""
        verdicts.append(f"{key} {'yes' if ratio >= 1 else 'NO'} ({ratio:.2f}x {best}{noisy})")
    return "; ".join(verdicts)


if __name__ == "__main__":
    main()
