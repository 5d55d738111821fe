"""Every optimizer, learning-rate schedule and weight constraint trains in onnxruntime-web as
``specc train`` trains it.

Each case is a small MLP exported with ``specc export --target web --with-training``; one
Node.js process (tests/browser/run_node_training_jobs.mjs, onnxruntime-web's wasm kernels, the
browser's) takes ``STEPS`` ``trainStep``s on fixed batches in every bundle, then
``saveWeights``. Python drives ``StandardSession`` from the bundle's state over the same
batches: each step's loss and accuracy, and the saved weights read back with specc's weights
loader, must be its values. The starting weights are fixed, so every run checks the same
numbers.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.constraints import CONSTRAINTS
from specc.optimizers import OPTIMIZERS
from specc.schedules import SCHEDULES
from specc.weights import load_weights, save_weights
from tests.spec_helpers import write_spec
from tests.test_export_web import BROWSER, NODE_MODULES, export
from tests.test_web_training import as_job, python_steps

STEPS = 5
BATCH = 8
FEATURES = 6
CLASSES = 3

OPTIMIZER_CASES: dict[str, dict[str, Any]] = {
    "adam-amsgrad-clipnorm": {
        "type": "Adam",
        "learning_rate": 0.02,
        "amsgrad": True,
        "clipnorm": 1,
    },
    "adamw-global-clipnorm": {
        "type": "AdamW",
        "learning_rate": 0.02,
        "weight_decay": 0.05,
        "global_clipnorm": 0.5,
    },
    "sgd-nesterov-clipvalue": {
        "type": "SGD",
        "learning_rate": 0.1,
        "momentum": 0.9,
        "nesterov": True,
        "clipvalue": 0.05,
    },
    "rmsprop-centered-momentum": {
        "type": "RMSprop",
        "learning_rate": 0.01,
        "centered": True,
        "momentum": 0.5,
        "weight_decay": 0.01,
        # Not Keras's 1e-7: an element whose gradient is ~0 moves by lr/sqrt(epsilon) times
        # that gradient's rounding, and wasm's MatMul sums in another order than the CPU's
        # (2e-6 apart after 5 steps with 1e-7, 1e-7 apart with 1e-4).
        "epsilon": 1e-4,
    },
    "adadelta-clipnorm": {"type": "Adadelta", "learning_rate": 1.0, "clipnorm": 1},
    "adagrad-clipvalue": {"type": "Adagrad", "learning_rate": 0.1, "clipvalue": 0.1},
    "adamax-global-clipnorm": {"type": "Adamax", "learning_rate": 0.02, "global_clipnorm": 1},
    "nadam-weight-decay": {"type": "Nadam", "learning_rate": 0.02, "weight_decay": 0.01},
    "lion-clipnorm": {"type": "Lion", "learning_rate": 0.005, "clipnorm": 1},
}
SCHEDULE_CASES: dict[str, dict[str, Any]] = {
    "exponential-staircase": {
        "type": "ExponentialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 2,
        "decay_rate": 0.5,
        "staircase": True,
    },
    "piecewise": {"type": "PiecewiseConstantDecay", "boundaries": [2], "values": [0.1, 0.02]},
    "polynomial-cycle": {
        "type": "PolynomialDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 2,
        "power": 2.0,
        "cycle": True,
    },
    "inverse-time": {
        "type": "InverseTimeDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 1,
        "decay_rate": 0.5,
    },
    "cosine-warmup": {
        "type": "CosineDecay",
        "initial_learning_rate": 0.02,
        "decay_steps": 3,
        "alpha": 0.1,
        "warmup_target": 0.1,
        "warmup_steps": 2,
    },
    "cosine-restarts": {
        "type": "CosineDecayRestarts",
        "initial_learning_rate": 0.1,
        "first_decay_steps": 2,
        "t_mul": 1.5,
        "m_mul": 0.8,
    },
}
# On the hidden layer's kernel (norms over its input axis) and, for some, its bias.
CONSTRAINT_CASES: dict[str, dict[str, Any]] = {
    "max-norm": {"kernel_constraint": {"type": "MaxNorm", "max_value": 0.5}},
    "min-max-norm": {
        "kernel_constraint": {
            "type": "MinMaxNorm",
            "min_value": 0.6,
            "max_value": 0.8,
            "rate": 0.5,
        }
    },
    "non-neg": {"kernel_constraint": {"type": "NonNeg"}, "bias_constraint": {"type": "NonNeg"}},
    "unit-norm": {"kernel_constraint": {"type": "UnitNorm"}},
}


def _spec(optimizer: dict[str, Any], hidden: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "specc": 1,
        "name": "web_optimizer",
        "inputs": {"x": {"shape": [FEATURES]}},
        "layers": [
            {"name": "hidden", "type": "Dense", "units": 8, "activation": "tanh", **(hidden or {})},
            {"name": "digit", "type": "Dense", "units": CLASSES, "activation": "softmax"},
        ],
        "compile": {
            "optimizer": optimizer,
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
    }


CASES: dict[str, dict[str, Any]] = {
    **{name: _spec(optimizer) for name, optimizer in OPTIMIZER_CASES.items()},
    **{
        f"schedule-{name}": _spec({"type": "SGD", "learning_rate": schedule, "momentum": 0.5})
        for name, schedule in SCHEDULE_CASES.items()
    },
    **{
        f"constraint-{name}": _spec({"type": "Adam", "learning_rate": 0.05}, hidden)
        for name, hidden in CONSTRAINT_CASES.items()
    },
}


def _weights(path: Path) -> Path:
    """Fixed starting weights (an export without weights draws fresh ones each time)."""
    rng = np.random.default_rng(1)
    shapes = {
        "hidden/kernel": (FEATURES, 8),
        "hidden/bias": (8,),
        "digit/kernel": (8, CLASSES),
        "digit/bias": (CLASSES,),
    }
    save_weights(path, {k: rng.normal(0, 0.5, s).astype(np.float32) for k, s in shapes.items()})
    return path


def _batches() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        {
            "x": rng.standard_normal((BATCH, FEATURES)).astype(np.float32),
            "digit": rng.integers(0, CLASSES, BATCH).astype(np.int64),
        }
        for _ in range(STEPS)
    ]


@dataclass
class Trained:
    """One case as trained in Node.js, and as specc train trains it."""

    bundle: Path
    result: dict[str, Any]
    # specc train's default backend from the bundle's state: each step's loss and accuracy,
    # and the weights at the end by weights-file key.
    reference: list[dict[str, float]]
    weights: dict[str, np.ndarray]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    """Every case exported and trained in one Node.js process."""
    if shutil.which("node") is None or not (NODE_MODULES / "onnxruntime-web").is_dir():
        pytest.skip("needs node and `npm ci --prefix tests/browser`")
    root = tmp_path_factory.mktemp("web-optimizers")
    (root / "node_modules").symlink_to(NODE_MODULES)
    batches = _batches()
    job = {"batches": [as_job(b) for b in batches], "predict": as_job({"x": batches[0]["x"]})}
    weights = _weights(root / "weights.npz")
    bundles = {}
    for name, spec_data in CASES.items():
        (root / name).mkdir()
        spec = write_spec(root / name, spec_data)
        bundle = root / name / "bundle"
        result = export(
            spec, "--target", "web", "--with-training", "-w", weights, "-o", bundle, "-q"
        )
        assert result.exit_code == 0, (name, result.output)
        bundles[name] = (spec, bundle)
    jobs = root / "jobs.json"
    jobs.write_text(json.dumps([{"bundle": str(b), "job": job} for _, b in bundles.values()]))
    command = ["node", str(BROWSER / "run_node_training_jobs.mjs"), str(jobs)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    runs = {}
    for (name, (spec, bundle)), result in zip(bundles.items(), results, strict=True):
        steps, _, weights = python_steps(spec, bundle, batches)
        runs[name] = Trained(bundle, result, steps, weights)
    return runs


def test_the_cases_cover_every_optimizer_schedule_and_constraint() -> None:
    assert {o["type"] for o in OPTIMIZER_CASES.values()} == {c.__name__ for c in OPTIMIZERS}
    assert {s["type"] for s in SCHEDULE_CASES.values()} == {c.__name__ for c in SCHEDULES}
    constrained = {c["type"] for case in CONSTRAINT_CASES.values() for c in case.values()}
    assert constrained == {c.__name__ for c in CONSTRAINTS}
    options = {key for o in OPTIMIZER_CASES.values() for key in o}
    assert {"clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "amsgrad"} <= options


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_node_training_matches_specc_train(trained: dict[str, Trained], case: str) -> None:
    run = trained[case]
    assert "error" not in run.result, run.result.get("error")
    losses = [step["loss"] for step in run.result["steps"]]
    np.testing.assert_allclose(losses, [step["loss"] for step in run.reference], rtol=1e-5)
    accuracies = [step["accuracy"] for step in run.result["steps"]]
    np.testing.assert_allclose(accuracies, [step["accuracy"] for step in run.reference])
    assert len(set(losses)) == STEPS  # every step changed the weights
    assert run.result["iterations"] == STEPS
    saved = run.bundle.parent / "saved.npz"
    saved.write_bytes(base64.b64decode(run.result["weights"]))
    weights = load_weights(saved)
    assert set(weights) == set(run.weights)
    for key, value in run.weights.items():
        np.testing.assert_allclose(weights[key], value, rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_the_constraints_hold_on_the_saved_weights(trained: dict[str, Trained]) -> None:
    def kernel(case: str) -> np.ndarray:
        saved = trained[case].bundle.parent / "saved-kernel.npz"
        saved.write_bytes(base64.b64decode(trained[case].result["weights"]))
        return load_weights(saved)["hidden/kernel"]

    # The starting kernel's columns have norms from 0.54 to 1.52 and negative entries: each
    # constraint had something to do.
    norms = {
        case: np.linalg.norm(kernel(f"constraint-{case}"), axis=0) for case in CONSTRAINT_CASES
    }
    assert norms["max-norm"].max() <= 0.5 + 1e-6
    np.testing.assert_allclose(norms["unit-norm"], 1.0, rtol=1e-5)
    assert kernel("constraint-non-neg").min() >= 0
    # rate 0.5: half way from the norm to [0.6, 0.8] after each step.
    assert norms["min-max-norm"].min() > 0.57 and norms["min-max-norm"].max() < 0.9
