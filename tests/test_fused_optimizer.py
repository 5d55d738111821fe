"""The engine's fused optimizer kernel (specc.train.fused) against Keras's formulas.

A linear model y = x W + b with a mean squared error trains for 6 steps through ``fit``
three ways: the fused route (the engine's AdamWOptimizer / SGDOptimizerV2 kernel), the
NumPy route (specc's Keras updates on the parameter buffers) and an independent float64
reference written here from Keras 3's documented update rules, with the MSE gradient
written out by hand. All three must agree element-wise at rtol 1e-5; the session must
report the route it took, and optimizers the kernel cannot express exactly must take the
NumPy route.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.spec.compile import losses_by_output
from specc.train.data import Dataset
from specc.train.data_targets import targets_for
from specc.train.fit import FitOptions, fit
from specc.train.run import prepare
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import write_spec

# The fused kernel is onnxruntime-training's optimizer model (the ort-training backend).
pytestmark = pytest.mark.ort_training
if HAVE_ORT_TRAINING:
    from specc.train.fused import FUSED, NUMPY, NUMPY_UPDATES_ENV
    from specc.train.session import TrainingSession

IN, OUT, BATCH, STEPS = 5, 3, 8, 6
KERNEL, BIAS = "dense.kernel", "dense.bias"

Params = dict[str, np.ndarray]


def _data() -> tuple[Params, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240917)
    p0 = {
        KERNEL: rng.standard_normal((IN, OUT)).astype(np.float32),
        BIAS: rng.standard_normal(OUT).astype(np.float32),
    }
    x = rng.standard_normal((BATCH * STEPS, IN)).astype(np.float32)
    t = rng.standard_normal((BATCH * STEPS, OUT)).astype(np.float32)
    return p0, x, t


P0, X, T = _data()


def _spec(directory: Path, optimizer: Any, constraint: str | None = None) -> Path:
    layer: dict[str, Any] = {"name": "dense", "type": "Dense", "units": OUT}
    if constraint is not None:
        layer["kernel_constraint"] = constraint
    return write_spec(
        directory,
        {
            "specc": 1,
            "name": "linear",
            "inputs": {"x": {"shape": [IN]}},
            "layers": [layer],
            "compile": {"optimizer": optimizer, "loss": "mse"},
        },
    )


def _train(
    spec: Path, numpy_updates: bool = False, epochs: int = 1, fits: int = 1
) -> tuple[TrainingSession, Params]:
    """``fits`` calls of ``fit`` over the 6 batches in order, from P0, on one session.

    Returns the session (closed) and the trained weights.
    """
    compiled, training = prepare(spec, None, 0)
    for name, value in P0.items():
        training.graph.initializers[name] = value.copy()
    config = compiled.typed.resolved.spec.compile
    assert config is not None
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    data = Dataset.from_arrays({"x": X, "dense": T}, dict(compiled.typed.resolved.inputs), targets)
    session = TrainingSession(training)
    try:
        options = FitOptions(epochs, BATCH, shuffle=False, numpy_updates=numpy_updates)
        for _ in range(fits):
            fit(compiled, training, session, data, None, config, options)
        weights = session.snapshot()
    finally:
        session.close()
    return session, weights


# -- the independent reference (float64, Keras 3's formulas) --------------------------------


def _gradients(p: Params, k: int) -> Params:
    """d/dW, d/db of Keras's MSE, mean((x W + b - t)^2) over the batch and the outputs."""
    x = X[k * BATCH : (k + 1) * BATCH].astype(np.float64)
    t = T[k * BATCH : (k + 1) * BATCH].astype(np.float64)
    d_y = 2.0 * (x @ p[KERNEL] + p[BIAS] - t) / t.size
    return {KERNEL: x.T @ d_y, BIAS: d_y.sum(axis=0)}


def _lr(cfg: dict[str, Any], step: int) -> float:
    rate = cfg.get("learning_rate", 0.01 if cfg["type"] == "SGD" else 0.001)
    if isinstance(rate, dict):  # ExponentialDecay, the only schedule used here
        return rate["initial_learning_rate"] * rate["decay_rate"] ** (step / rate["decay_steps"])
    return float(rate)


def _clip(cfg: dict[str, Any], g: Params) -> Params:
    if "clipnorm" in cfg:  # per variable: g * c / max(||g||, c)
        c = cfg["clipnorm"]
        return {n: v * c / max(math.sqrt(float(np.sum(v * v))), c) for n, v in g.items()}
    if "global_clipnorm" in cfg:
        c = cfg["global_clipnorm"]
        norm = math.sqrt(sum(float(np.sum(v * v)) for v in g.values()))
        return {n: v * min(1.0, c / norm) for n, v in g.items()}
    if "clipvalue" in cfg:
        c = cfg["clipvalue"]
        return {n: np.clip(v, -c, c) for n, v in g.items()}
    return g


def reference(cfg: dict[str, Any], epochs: int = 1) -> Params:
    """Keras 3's ``fit`` from P0 over the batches in order, in float64."""
    p = {n: v.astype(np.float64) for n, v in P0.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v2 = {n: np.zeros_like(v) for n, v in p.items()}
    for it in range(epochs * STEPS):
        lr, t = _lr(cfg, it), it + 1
        g = _clip(cfg, _gradients(p, it % STEPS))
        wd = cfg.get("weight_decay") or 0.0
        for n in p:
            p[n] = p[n] - p[n] * wd * lr  # decoupled decay, before the update
            if cfg["type"] in ("Adam", "AdamW"):
                b1, b2 = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999)
                eps = cfg.get("epsilon", 1e-7)
                m[n] = b1 * m[n] + (1 - b1) * g[n]
                v2[n] = b2 * v2[n] + (1 - b2) * g[n] ** 2
                alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                p[n] = p[n] - alpha * m[n] / (np.sqrt(v2[n]) + eps)
            else:  # SGD: velocity = momentum * velocity - lr * g; p += velocity
                m[n] = cfg.get("momentum", 0.0) * m[n] - lr * g[n]
                p[n] = p[n] + m[n]
    return p


def _close(got: Params, want: Params) -> None:
    # atol: a floor for elements that end near zero (about one float32 ulp at 1); the
    # largest difference seen on this data is 7e-6 relative, 8e-8 absolute.
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-7, err_msg=name)


SCHEDULE = {
    "type": "ExponentialDecay",
    "initial_learning_rate": 0.05,
    "decay_steps": 2,
    "decay_rate": 0.5,
}
EXACT: dict[str, dict[str, Any]] = {
    "adam-default": {"type": "Adam"},
    "adam-betas-eps-lr": {
        "type": "Adam",
        "learning_rate": 0.03,
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-3,
    },
    "adam-schedule": {"type": "Adam", "learning_rate": SCHEDULE},
    "adam-weight-decay-0": {"type": "Adam", "learning_rate": 0.02, "weight_decay": 0},
    "adamw-weight-decay-0": {"type": "AdamW", "weight_decay": 0, "learning_rate": 0.02},
    "adamw-weight-decay-0-betas-schedule": {
        "type": "AdamW",
        "weight_decay": 0,
        "learning_rate": SCHEDULE,
        "beta_1": 0.5,
        "beta_2": 0.9,
    },
    "sgd": {"type": "SGD", "learning_rate": 0.1},
    "sgd-schedule": {"type": "SGD", "learning_rate": SCHEDULE},
}


@pytest.mark.parametrize("cfg", EXACT.values(), ids=EXACT.keys())
def test_fused_route_matches_numpy_route_and_keras(tmp_path: Path, cfg: dict[str, Any]) -> None:
    spec = _spec(tmp_path, cfg)
    fused_session, fused = _train(spec)
    numpy_session, numpy_route = _train(spec, numpy_updates=True)
    assert fused_session.route == FUSED, fused_session.route_reason
    assert numpy_session.route == NUMPY
    assert fused_session.iterations == numpy_session.iterations == STEPS
    want = reference(cfg)
    moved = max(float(np.abs(want[n] - P0[n]).max()) for n in want)
    assert moved > 1e-3  # the steps did something
    _close(fused, want)
    _close(numpy_route, want)
    _close(fused, {n: v.astype(np.float64) for n, v in numpy_route.items()})


def test_kernel_is_configured_as_keras(tmp_path: Path) -> None:
    import onnx

    cfg = EXACT["adam-betas-eps-lr"]
    compiled, training = prepare(_spec(tmp_path, cfg), None, 0)
    session = TrainingSession(training, optimizer=compiled.typed.resolved.spec.compile.optimizer)
    try:
        assert session.route == FUSED
        model = onnx.load(str(session.workdir / "optimizer_model.onnx"))
        (kernel,) = [n for n in model.graph.node if n.domain == "com.microsoft"]
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in kernel.attribute}
        assert kernel.op_type == "AdamWOptimizer"
        assert attributes["alpha"] == pytest.approx(0.8)
        assert attributes["beta"] == pytest.approx(0.99)
        assert attributes["epsilon"] == pytest.approx(1e-3)
        assert attributes["weight_decay"] == 0
        assert attributes["correct_bias"] == 1 and attributes["adam_mode"] == 1
        names = [i.name for i in model.graph.input]
        assert names[:4] == ["learning_rate", "step", "params", "gradients"]
    finally:
        session.close()


def test_constraints_apply_after_the_fused_step(tmp_path: Path) -> None:
    cfg = {"type": "Adam", "learning_rate": 0.05}
    spec = _spec(tmp_path, cfg, constraint="non_neg")
    fused_session, fused = _train(spec)
    _, numpy_route = _train(spec, numpy_updates=True)
    assert fused_session.route == FUSED
    assert (fused[KERNEL] >= 0).all() and (fused[KERNEL] == 0).any()
    np.testing.assert_allclose(fused[KERNEL], numpy_route[KERNEL], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fused[BIAS], numpy_route[BIAS], rtol=1e-5)


@pytest.mark.parametrize("numpy_updates", [False, True], ids=["fused", "numpy"])
@pytest.mark.parametrize(("epochs", "fits"), [(2, 1), (1, 2)], ids=["one-fit", "two-fits"])
def test_state_goes_on_across_epochs_and_fit_calls(
    tmp_path: Path, numpy_updates: bool, epochs: int, fits: int
) -> None:
    # Keras's optimizer keeps its moments and iterations (hence its place in the learning
    # rate schedule) across epochs and across fit calls on one model.
    cfg = {"type": "Adam", "learning_rate": SCHEDULE}
    session, weights = _train(_spec(tmp_path, cfg), numpy_updates, epochs, fits)
    assert session.route == (NUMPY if numpy_updates else FUSED)
    assert session.iterations == 2 * STEPS
    _close(weights, reference(cfg, epochs=2))


def test_environment_variable_forces_numpy(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv(NUMPY_UPDATES_ENV, "1")
    session, weights = _train(_spec(tmp_path, {"type": "Adam"}))
    assert session.route == NUMPY
    assert NUMPY_UPDATES_ENV in session.route_reason
    _close(weights, reference({"type": "Adam"}))


# Exact in the engine only with ONNX ops before the kernel, or momentum through the AdamW
# kernel: measured slower than NumPy, so NumPy's route, which must match Keras as well.
SLOWER_FUSED: dict[str, dict[str, Any]] = {
    "adam-clipnorm": {"type": "Adam", "learning_rate": 0.02, "clipnorm": 0.05},
    "adamw-weight-decay-0-global-clipnorm": {
        "type": "AdamW",
        "weight_decay": 0,
        "learning_rate": 0.02,
        "global_clipnorm": 0.1,
    },
    "sgd-schedule-clipvalue": {"type": "SGD", "learning_rate": SCHEDULE, "clipvalue": 0.05},
    "sgd-weight-decay": {"type": "SGD", "learning_rate": 0.1, "weight_decay": 0.05},
    "sgd-momentum": {"type": "SGD", "learning_rate": 0.05, "momentum": 0.9},
}


@pytest.mark.parametrize("cfg", SLOWER_FUSED.values(), ids=SLOWER_FUSED.keys())
def test_kernel_with_extra_steps_takes_the_numpy_route(tmp_path: Path, cfg: dict[str, Any]) -> None:
    session, weights = _train(_spec(tmp_path, cfg))
    assert session.route == NUMPY
    assert "measured slower than the NumPy update" in session.route_reason
    _close(weights, reference(cfg))


NOT_EXACT = {
    "adam-amsgrad": ({"type": "Adam", "amsgrad": True}, "AMSGrad"),
    "adam-weight-decay": ({"type": "Adam", "weight_decay": 0.01}, "before the Adam step"),
    "adamw-default-decay": ({"type": "AdamW"}, "weight_decay=0.004"),
    "rmsprop": ({"type": "RMSprop"}, "sqrt(v + epsilon)"),
    "sgd-nesterov": ({"type": "SGD", "momentum": 0.9, "nesterov": True}, "Nesterov"),
    "sgd-momentum-schedule": (
        {"type": "SGD", "momentum": 0.9, "learning_rate": SCHEDULE},
        "constant learning_rate",
    ),
    "nadam": ({"type": "Nadam"}, "no fused kernel"),
    "lion": ({"type": "Lion"}, "sign of its state"),
}


@pytest.mark.parametrize(("cfg", "reason"), NOT_EXACT.values(), ids=NOT_EXACT.keys())
def test_inexact_optimizers_take_the_numpy_route(
    tmp_path: Path, cfg: dict[str, Any], reason: str
) -> None:
    session, weights = _train(_spec(tmp_path, cfg))
    assert session.route == NUMPY
    assert reason in session.route_reason
    assert session.iterations == STEPS
    assert all(np.isfinite(w).all() for w in weights.values())


def test_one_session_one_optimizer(tmp_path: Path) -> None:
    from specc.optimizers import SGD, Adam

    _, training = prepare(_spec(tmp_path, {"type": "Adam"}), None, 0)
    session = TrainingSession(training)
    try:
        assert session.route is None and session.iterations == 0
        with pytest.raises(RuntimeError, match="use_optimizer"):
            session.apply_update()
        assert session.use_optimizer(Adam()) == FUSED
        assert session.use_optimizer(Adam()) == FUSED  # the same one again: kept
        with pytest.raises(ValueError, match="another optimizer"):
            session.use_optimizer(SGD())
        with pytest.raises(ValueError, match="another optimizer"):
            session.use_optimizer(Adam(), numpy_updates=True)
    finally:
        session.close()
