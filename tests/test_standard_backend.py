"""The standard backend: the whole step in one graph, state on the device, same results.

- nothing runs on the host between steps: no NumPy optimizer rule, no constraint, no
  moving-statistics update (each is made to fail if called);
- the two backends give the same history and weights on every example model with a
  compile section (where onnxruntime-training is installed);
- a step whose loss is not finite leaves the state as it was.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from specc.constraints import MaxNorm
from specc.diagnostics import SpecError
from specc.optimizers import update as optimizer_update
from specc.train import fit as fit_module
from specc.train import updates as train_updates
from specc.train.run import TrainOptions, train_spec
from specc.train.standard import StandardSession, check_standard_device
from tests.spec_helpers import ROOT
from tests.test_examples_train import DIGITS, TRAINABLE, generate

DIGITS_MLP = ROOT / "models" / "digits_mlp.yaml"
DIGITS_CNN = ROOT / "models" / "digits_cnn.yaml"

BN_NADAM = """
specc: 1
inputs: {x: {shape: [6]}}
layers:
  - {name: h, type: Dense, units: 8, kernel_constraint: {type: MaxNorm, max_value: 0.5}}
  - {name: bn, type: BatchNormalization, momentum: 0.8}
  - {name: drop, type: Dropout, rate: 0.2, seed: 3}
  - {name: y, type: Dense, units: 3, activation: softmax}
compile:
  optimizer:
    type: Nadam
    clipnorm: 1.0
    learning_rate:
      {type: ExponentialDecay, initial_learning_rate: 0.05, decay_steps: 3, decay_rate: 0.5}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
"""


def _data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    return path


def _no_host_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every host-side update fail if called: the NumPy optimizer rules, the NumPy
    constraints, the onnxruntime-training session's commit."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a host-side update ran")

    rules = [optimizer_update.OptimizerUpdate]
    while rules:
        rule = rules.pop()
        rules += rule.__subclasses__()
        if "step" in vars(rule):
            monkeypatch.setattr(rule, "step", refuse)
    for name in ("make_update", "apply_constraints"):
        monkeypatch.setattr(train_updates, name, refuse)
    session = sys.modules.get("specc.train.session")
    if session is not None:  # its names were bound when it was imported
        monkeypatch.setattr(session, "apply_constraints", refuse)
        monkeypatch.setattr(session.TrainingSession, "commit", refuse)
    assert not hasattr(fit_module, "apply_constraints")


def test_a_step_runs_nothing_on_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(BN_NADAM)
    _no_host_updates(monkeypatch)
    options = TrainOptions(epochs=3, batch_size=16, shuffle=True, seed=0)
    result = train_spec(spec, _data(tmp_path), options)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert all(np.isfinite(v) for v in result.history["loss"])
    # The constraint held after every update, computed inside the step graph.
    kernel = result.weights["h/kernel"]
    norms = np.sqrt((kernel**2).sum(axis=0))
    assert norms.max() <= 0.5 + 1e-6
    projected = MaxNorm(type="MaxNorm", max_value=0.5).apply(kernel)
    np.testing.assert_allclose(projected, kernel, rtol=1e-5)
    # The moving statistics moved (computed inside the step graph too).
    assert not np.allclose(result.weights["bn/moving_mean"], 0)


def _data_for(spec: Path, tmp_path: Path) -> Path:
    """128 samples of the example's data: from the digits file, or from what the repo's
    generator makes for it. Few steps: two float32 computations of the same step differ in
    rounding, and training magnifies such differences step after step."""
    if spec.name.startswith("digits_"):
        with np.load(DIGITS) as digits:
            arrays = {key: digits[key][:128] for key in digits.files}
    else:
        arrays = generate.make_dataset(spec, samples=128, seed=0)
    data = tmp_path / "data.npz"
    np.savez(data, **arrays)
    return data


@pytest.mark.slow
@pytest.mark.ort_training
@pytest.mark.parametrize("spec", [*TRAINABLE, DIGITS_MLP, DIGITS_CNN], ids=lambda p: p.name)
def test_both_backends_agree_on_every_example(spec: Path, tmp_path: Path) -> None:
    data = _data_for(spec, tmp_path)
    results = {}
    for backend in ("standard", "ort-training"):
        options = TrainOptions(epochs=2, batch_size=32, seed=0, backend=backend)
        results[backend] = train_spec(spec, data, options)
    standard, engine = results["standard"], results["ort-training"]
    assert standard.history.keys() == engine.history.keys()
    for key in standard.history:
        np.testing.assert_allclose(
            np.asarray(standard.history[key], np.float64),
            np.asarray(engine.history[key], np.float64),
            rtol=1e-4,
            atol=1e-6,
            err_msg=key,
        )
    tolerance = CHAOTIC_WEIGHTS.get(spec.name, 1e-4)
    for key, array in standard.weights.items():
        scale = float(np.abs(engine.weights[key]).max())
        np.testing.assert_allclose(
            array, engine.weights[key], rtol=0, atol=tolerance * scale + 1e-7, err_msg=key
        )


# Examples whose weights the two backends' float32 rounding can move apart by more than
# 1e-4 of their size in a few steps, while the histories still agree: in mnist_cnn a
# pooling window whose two largest values nearly tie sends its gradient to either, and
# Adam's normalised steps carry that into the channel's weights (with dropout the channels
# whose gradients nearly cancel differ from seed to seed; measured up to 9e-3 over seeds
# 0 to 3, 1e-5 where no window tied).
CHAOTIC_WEIGHTS = {"mnist_cnn.yaml": 2e-2}

NOISY = """
specc: 1
inputs: {x: {shape: [6, 4]}}
layers:
  - {name: h, type: Dense, units: 8}
  - {name: drop, type: Dropout, rate: 0.3}
  - {name: noise, type: GaussianNoise, stddev: 0.2}
  - {name: spread, type: GaussianDropout, rate: 0.2, seed: 4}
  - {name: alpha, type: AlphaDropout, rate: 0.1}
  - {name: channels, type: SpatialDropout1D, rate: 0.2}
  - {name: rnn, type: LSTM, units: 5, dropout: 0.2, recurrent_dropout: 0.3}
  - {name: y, type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
"""


@pytest.mark.ort_training
def test_both_backends_draw_the_same_noise(tmp_path: Path) -> None:
    """Every random layer, recurrent dropout included: the step graph's counter is
    optimizer.iterations, the other backend feeds its own count, and the histories and
    weights agree as closely as without noise."""
    spec = tmp_path / "noisy.yaml"
    spec.write_text(NOISY)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0, 0] > 0).astype(np.int64) + (x[:, 1, 1] > 1))
    results = {}
    for backend in ("standard", "ort-training"):
        options = TrainOptions(epochs=3, batch_size=16, seed=0, backend=backend)
        results[backend] = train_spec(spec, tmp_path / "d.npz", options)
    standard, engine = results["standard"], results["ort-training"]
    for key in standard.history:
        np.testing.assert_allclose(
            standard.history[key], engine.history[key], rtol=1e-4, atol=1e-6, err_msg=key
        )
    for key, array in standard.weights.items():
        scale = float(np.abs(engine.weights[key]).max())
        np.testing.assert_allclose(
            array, engine.weights[key], rtol=0, atol=1e-4 * scale, err_msg=key
        )
    # The noise was on: a run without the random layers ends elsewhere.
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "\n".join(
            line
            for line in NOISY.splitlines()
            if not any(word in line for word in ("Dropout,", "Noise", "SpatialDropout"))
        ).replace("dropout: 0.2, recurrent_dropout: 0.3", "")
    )
    options = TrainOptions(epochs=3, batch_size=16, seed=0, backend="standard")
    quiet = train_spec(plain, tmp_path / "d.npz", options)
    assert not np.allclose(quiet.history["loss"], standard.history["loss"], rtol=1e-3)


def test_a_step_is_committed_only_when_asked(tmp_path: Path) -> None:
    from specc.train.run import prepare

    spec = tmp_path / "s.yaml"
    spec.write_text(BN_NADAM)
    compiled, training = prepare(spec, None, 0)
    session = StandardSession(training)
    assert compiled.compile is not None
    session.use_optimizer(compiled.compile.optimizer)
    before = session.snapshot()
    rng = np.random.default_rng(1)
    feeds = {
        "x": rng.normal(size=(8, 6)).astype(np.float32),
        "y.target": rng.integers(0, 3, size=(8,)),
    }
    session.train_step(feeds)
    uncommitted = session.snapshot()
    for name, array in before.items():
        np.testing.assert_array_equal(uncommitted[name], array)
    assert session.iterations == 0
    session.commit()
    after = session.snapshot()
    assert session.iterations == 1
    assert not np.allclose(after["h.kernel"], before["h.kernel"])


@pytest.mark.parametrize("split", [False, True])
def test_step_graphs_are_in_topological_order(split: bool) -> None:
    # ONNX asks for each node after those it reads from; a reader of an exported step graph
    # (the web and mobile bundles) may not sort it as onnxruntime does.
    from specc.train.fit import constraints_of
    from specc.train.run import prepare
    from specc.train.step_graph import build_step_graphs

    # digits_mlp has Dropout: its random ops read the step counter.
    spec = ROOT / "models" / "digits_mlp.yaml"
    compiled, training = prepare(spec, None, 0, fused_recurrence=True)
    assert compiled.compile is not None
    graphs = build_step_graphs(
        training, compiled.compile.optimizer, constraints_of(compiled), split=split
    )
    built = [graphs.step, graphs.evaluation]
    if graphs.split is not None:
        built += [graphs.split.gradient, graphs.split.update]
    for graph in built:
        known = {name for name, _ in graph.inputs} | set(graph.initializers)
        for node in graph.nodes:
            assert all(not name or name in known for name in node.inputs), (node, graph.name)
            known.update(node.outputs)


HAS_CUDA = "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.skipif(
    not HAS_CUDA,
    reason="this onnxruntime has no CUDA execution provider (a GPU machine with "
    'pip install "specc[cuda]" runs this test)',
)
def test_trains_on_cuda_as_on_the_cpu(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(BN_NADAM)
    data = _data(tmp_path)
    histories = {}
    for device in ("cpu", "cuda"):
        options = TrainOptions(epochs=2, batch_size=16, seed=0, device=device)
        histories[device] = train_spec(spec, data, options).history
    for key, values in histories["cpu"].items():
        np.testing.assert_allclose(histories["cuda"][key], values, rtol=1e-3, err_msg=key)


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has the CUDA execution provider")
def test_cuda_without_its_provider_says_what_to_install() -> None:
    with pytest.raises(SpecError) as raised:
        check_standard_device("cuda", "s.yaml")
    (problem,) = raised.value.diagnostics
    assert problem.code == "SPC503-device"
    assert 'pip install "specc[cuda]"' in problem.message


def test_dropout_is_applied_in_the_step(tmp_path: Path) -> None:
    """Two steps from the same state on the same batch draw the same masks (the same
    optimizer.iterations), which are on in training and off in evaluation; the evaluation
    graph is deterministic."""
    from specc.train.run import prepare

    spec = tmp_path / "s.yaml"
    spec.write_text(BN_NADAM.replace("rate: 0.2", "rate: 0.5"))
    compiled, training = prepare(spec, None, 0)
    session = StandardSession(training)
    assert compiled.compile is not None
    session.use_optimizer(compiled.compile.optimizer)
    rng = np.random.default_rng(1)
    feeds = {
        "x": rng.normal(size=(32, 6)).astype(np.float32),
        "y.target": rng.integers(0, 3, size=(32,)),
    }
    first = session.train_step(feeds)["loss"]
    second = session.train_step(feeds)["loss"]  # nothing committed: the same state
    assert first == second
    evaluation = session.eval_step(feeds)["loss"]
    assert evaluation == session.eval_step(feeds)["loss"]
    assert abs(first - evaluation) > 1e-4


def test_a_provider_that_cannot_load_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider listed but unloadable (onnxruntime's CUDA build without CUDA's libraries)
    fails when the session starts: one line, not an internal error."""
    from specc.train.backend import EngineError
    from specc.train.run import prepare

    def unloadable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : CUDA Provider not available")

    spec = tmp_path / "s.yaml"
    spec.write_text(BN_NADAM)
    compiled, training = prepare(spec, None, 0)
    assert compiled.compile is not None
    monkeypatch.setattr("specc.train.standard.onnxruntime.InferenceSession", unloadable)
    with pytest.raises(EngineError, match=r"^cannot start onnxruntime on cpu: CUDA Provider"):
        StandardSession(training).use_optimizer(compiled.compile.optimizer)
