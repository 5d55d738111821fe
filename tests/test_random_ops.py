"""specc's counter-based generator: its statistics, its ONNX form against its NumPy twin on
this onnxruntime, and what it buys training: the random numbers of a step depend on the
step counter alone, so a step repeats exactly, the next one draws new numbers, and a run
resumed from saved state (parameters, slots, iterations) goes on as if never stopped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from specc.graph import GraphBuilder
from specc.onnx_model import to_model_proto
from specc.random_ops import RANDOM_STEP, normal, normal_np, stream_key, uniform, uniform_np
from specc.train.run import prepare
from specc.train.step_graph import ITERATIONS, StepGraphs, build_step_graphs, next_name
from specc.types import TensorType, scalar
from tests.spec_helpers import ROOT, quiet_session

N = 1 << 20  # draws per statistical check: a standard error of 1/1024 for correlations


def _generator() -> onnx.ModelProto:
    """Uniforms ``u`` and normals ``n`` of stream 12345 in ``shape`` at ``step``."""
    b = GraphBuilder("generator")
    shape = b.input("shape", TensorType("int64", (2,), batched=False))
    step = b.input("step", scalar("int64"))
    matrix = TensorType("float32", (None, None), batched=False)
    b.output(uniform(b, shape, step, 12345), "u", matrix)
    b.output(normal(b, shape, step, 12345), "n", matrix)
    return to_model_proto(b.graph, 17)


@pytest.mark.parametrize("step", [0, 1, 2**31 + 5, 2**40 + 7])
def test_the_graph_computes_the_numpy_twin(step: int) -> None:
    u, n = quiet_session(_generator()).run(
        None, {"shape": np.array([37, 53]), "step": np.array(step)}
    )
    # Integer maths: bit for bit on every onnxruntime.
    np.testing.assert_array_equal(u, uniform_np((37, 53), step, 12345))
    # The float maths of Box-Muller (log, cos) rounds within a few ulps of NumPy's.
    np.testing.assert_allclose(n, normal_np((37, 53), step, 12345), rtol=1e-5, atol=2e-6)


def test_uniforms_are_24_bit_and_in_the_unit_interval() -> None:
    u = uniform_np((N,), 3, 7)
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    np.testing.assert_array_equal(u * 2**24, np.floor(u * 2**24))


@pytest.mark.parametrize("stream", [0, 1, 2**31 - 1, 2**32 - 1])
def test_uniform_moments_and_no_correlation(stream: int) -> None:
    u, following = uniform_np((N,), 0, stream), uniform_np((N,), 1, stream)
    # Mean 1/2 (standard error 0.00028), variance 1/12 (standard error 0.00007).
    assert abs(u.mean() - 0.5) < 0.0017 and abs(u.var() - 1 / 12) < 0.0005
    # Adjacent elements, the same element at the next step, the next stream: independent
    # (|r| under 6 standard errors).
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 6 / 1024
    assert abs(np.corrcoef(u, following)[0, 1]) < 6 / 1024
    assert abs(np.corrcoef(u, uniform_np((N,), 0, stream + 1))[0, 1]) < 6 / 1024
    # Every 1/64 bin holds its share (chi-squared, 63 degrees of freedom, far tail at 120).
    counts = np.bincount((u * 64).astype(np.int64), minlength=64)
    assert ((counts - N / 64) ** 2 / (N / 64)).sum() < 120


def test_normal_moments() -> None:
    z = normal_np((N,), 2, 99).astype(np.float64)
    # Standard errors: mean 0.001, variance 0.0014, skewness 0.0024, kurtosis 0.0048.
    assert abs(z.mean()) < 0.006 and abs(z.var() - 1) < 0.008
    assert abs((z**3).mean()) < 0.015 and abs((z**4).mean() - 3) < 0.03
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 6 / 1024
    assert np.isfinite(z).all()


def test_streams_have_distinct_odd_keys() -> None:
    keys = {stream_key(s, lane) for s in range(500) for lane in (0, 1)}
    assert len(keys) == 1000 and all(k & 1 for k in keys)


# -- in training --------------------------------------------------------------------------

NOISY = """
specc: 1
inputs: {x: {shape: [12]}}
layers:
  - {name: h, type: Dense, units: 16}
  - {name: drop, type: Dropout, rate: 0.4}
  - {name: noise, type: GaussianNoise, stddev: 0.3}
  - {name: spread, type: GaussianDropout, rate: 0.2}
  - {name: alpha, type: AlphaDropout, rate: 0.1}
  - {name: y, type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: LR}
  loss: sparse_categorical_crossentropy
"""


def _step_graphs(tmp_path: Path, learning_rate: float = 0.01, seed: int = 0) -> StepGraphs:
    spec = tmp_path / "noisy.yaml"
    spec.write_text(NOISY.replace("LR", str(learning_rate)))
    compiled, training = prepare(spec, None, seed, predictions=True)
    assert compiled.compile is not None
    return build_step_graphs(training, compiled.compile.optimizer, {})


class _Stepper:
    """The step graph run by hand: the state goes in, its next value comes out."""

    def __init__(self, graphs: StepGraphs) -> None:
        self.graphs = graphs
        self.session = quiet_session(to_model_proto(graphs.step, 17))
        self.outputs = [o.name for o in self.session.get_outputs()]

    def step(self, state: dict[str, np.ndarray], batch: dict) -> tuple[dict, dict]:
        results = dict(zip(self.outputs, self.session.run(None, {**state, **batch}), strict=True))
        following = {name: results[next_name(name)] for name in state}
        return {name: results[name] for name in self.graphs.step_outputs}, following


def _batches(count: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    return [
        {
            "x": rng.normal(size=(32, 12)).astype(np.float32),
            "y.target": rng.integers(0, 3, size=(32,)),
        }
        for _ in range(count)
    ]


def test_the_step_counter_is_optimizer_iterations(tmp_path: Path) -> None:
    graphs = _step_graphs(tmp_path, learning_rate=1e-30)  # the weights cannot move
    assert RANDOM_STEP not in [name for name, _ in graphs.step.inputs]
    stepper = _Stepper(graphs)
    (batch,) = _batches(1)
    state = dict(graphs.state)
    first, following = stepper.step(state, batch)
    again, _ = stepper.step(state, batch)
    # The same step from the same state: the same masks and noise, to the bit.
    np.testing.assert_array_equal(first["y"], again["y"])
    assert int(following[ITERATIONS]) == 1
    for name in graphs.state:
        if name != ITERATIONS and not name.startswith("optimizer/"):
            np.testing.assert_allclose(following[name], state[name], rtol=1e-7, atol=1e-20)
    # The next step: only the counter changed, and every draw with it.
    after, _ = stepper.step(following, batch)
    assert not np.allclose(after["y"], first["y"], atol=1e-3)
    # Evaluation draws nothing: deterministic, and no random step to feed.
    evaluation = quiet_session(to_model_proto(graphs.evaluation, 17))
    names = {i.name for i in evaluation.get_inputs()}
    assert RANDOM_STEP not in names
    feeds = {k: v for k, v in {**state, **batch}.items() if k in names}
    np.testing.assert_array_equal(evaluation.run(None, feeds)[0], evaluation.run(None, feeds)[0])


def test_a_resumed_run_continues_the_random_sequence(tmp_path: Path) -> None:
    batches = _batches(6)
    straight = _step_graphs(tmp_path)
    stepper = _Stepper(straight)
    state = dict(straight.state)
    for batch in batches:
        _, state = stepper.step(state, batch)

    first = _Stepper(_step_graphs(tmp_path))
    half = dict(first.graphs.state)
    for batch in batches[:3]:
        _, half = first.step(half, batch)
    saved = tmp_path / "state.npz"
    np.savez(saved, **{name.replace("/", "|"): value for name, value in half.items()})

    # A new compile and a new session, from the saved state alone.
    resumed = _Stepper(_step_graphs(tmp_path))
    with np.load(saved) as loaded:
        restored = {name.replace("|", "/"): loaded[name] for name in loaded.files}
    assert int(restored[ITERATIONS]) == 3
    again = dict(restored)
    for batch in batches[3:]:
        _, again = resumed.step(again, batch)
    for name, value in state.items():
        np.testing.assert_allclose(again[name], value, rtol=1e-6, atol=1e-7, err_msg=name)

    # The counter is what carries the sequence: resumed at step 0, the draws repeat those
    # of the first steps and the weights come out different.
    wrong = {**restored, ITERATIONS: np.array(0, np.int64)}
    for batch in batches[3:]:
        _, wrong = resumed.step(wrong, batch)
    assert not np.allclose(wrong["h.kernel"], state["h.kernel"], rtol=1e-4, atol=1e-6)


def test_unseeded_layers_draw_different_streams_and_runs_differ(tmp_path: Path) -> None:
    """Each unseeded op draws its own stream from the run's seed; the same seed gives the
    same streams, and an unseeded run draws a seed of its own."""

    def drawn(seed: int | None) -> list[int]:
        graphs = _step_graphs(tmp_path, seed=seed) if seed is not None else None
        if graphs is None:
            spec = tmp_path / "noisy.yaml"
            spec.write_text(NOISY.replace("LR", "0.01"))
            _, training = prepare(spec, None, None)
            initializers = training.graph.initializers
        else:
            initializers = graphs.step.initializers
        return sorted(int(v) for k, v in initializers.items() if re.search(r"/key(_[0-9]+)?$", k))

    assert len(set(drawn(0))) == len(drawn(0)) >= 5  # every op, and both normal lanes
    assert drawn(0) == drawn(0)
    assert drawn(0) != drawn(1)
    assert drawn(None) != drawn(None)


WEB_CHECK = """
import * as ort from "%s";
import fs from "node:fs";
const [model, reference] = process.argv.slice(2);
const want = JSON.parse(fs.readFileSync(reference));
ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(fs.readFileSync(model));
const results = {};
for (const step of Object.keys(want)) {
  const out = await session.run({
    shape: new ort.Tensor("int64", BigInt64Array.from([30n, 40n]), [2]),
    step: new ort.Tensor("int64", BigInt64Array.from([BigInt(step)]), []),
  });
  results[step] = { u: Array.from(out.u.data), n: Array.from(out.n.data) };
}
console.log(JSON.stringify(results));
"""


def test_onnxruntime_web_draws_the_same_numbers(tmp_path: Path) -> None:
    """onnxruntime-web's WebAssembly build (what the browser and the web bundles run),
    through node: the same bits as NumPy for the uniforms."""
    runtime = ROOT / "tests" / "browser" / "node_modules" / "onnxruntime-web" / "dist"
    node = shutil.which("node")
    if node is None or not (runtime / "ort.node.min.mjs").is_file():
        pytest.skip("needs node and tests/browser/node_modules (npm ci in tests/browser)")
    (tmp_path / "generator.onnx").write_bytes(_generator().SerializeToString())
    steps = [0, 7, 2**31 + 3]
    (tmp_path / "steps.json").write_text(json.dumps({str(s): None for s in steps}))
    (tmp_path / "check.mjs").write_text(WEB_CHECK % (runtime / "ort.node.min.mjs").as_uri())
    run = subprocess.run(
        [node, "check.mjs", "generator.onnx", "steps.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(run.stdout)
    for s in steps:
        got = results[str(s)]
        np.testing.assert_array_equal(np.float32(got["u"]), uniform_np((30, 40), s, 12345).ravel())
        np.testing.assert_allclose(got["n"], normal_np((30, 40), s, 12345).ravel(), atol=2e-6)
