"""specc train against a NumPy re-implementation of Keras's fit, epoch by epoch.

The reference is written here from Keras's documented formulas: forward pass, losses,
regularization penalties, backpropagation by hand, the optimizer's update rule, then the
constraint; History's ``loss`` is the batch-size-weighted mean of each batch's total loss
computed before that batch's update. Both start from the same weights and see the same
batches (no shuffling).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from specc.train.run import TrainOptions, train_spec
from specc.weights import save_weights

pytestmark = pytest.mark.slow


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _write(tmp_path: Path, spec: str, arrays: dict, weights: dict) -> tuple[Path, Path, Path]:
    spec_path, data_path, weights_path = tmp_path / "s.yaml", tmp_path / "d.npz", tmp_path / "w.npz"
    spec_path.write_text(spec)
    np.savez(data_path, **arrays)
    save_weights(weights_path, {k: v.astype(np.float32) for k, v in weights.items()})
    return spec_path, data_path, weights_path


MLP_SPEC = """
specc: 1
inputs: {x: {shape: [6]}}
layers:
  - {name: hidden, type: Dense, units: 5, activation: relu, inputs: x,
     kernel_regularizer: {type: L2, l2: 0.01}, kernel_constraint: non_neg}
  - {name: y, type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: SGD, learning_rate: 0.1, momentum: 0.9}
  loss: categorical_crossentropy
"""


def test_mlp_with_l2_and_nonneg_matches_keras_fit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, batch = 40, 16
    x = rng.normal(size=(n, 6))
    labels = rng.integers(0, 3, n)
    y = np.eye(3)[labels]
    w = {
        "hidden/kernel": np.abs(rng.normal(scale=0.5, size=(6, 5))),
        "hidden/bias": rng.normal(scale=0.1, size=5),
        "y/kernel": rng.normal(scale=0.5, size=(5, 3)),
        "y/bias": rng.normal(scale=0.1, size=3),
    }
    paths = _write(tmp_path, MLP_SPEC, {"x": x.astype(np.float32), "y": y.astype(np.float32)}, w)
    options = TrainOptions(epochs=3, batch_size=batch, shuffle=False)
    result = train_spec(paths[0], paths[1], options, weights=paths[2])

    # Keras's fit in NumPy: SGD with momentum, v = m*v - lr*g; p += v.
    p = {k: v.astype(np.float64) for k, v in w.items()}
    velocity = {k: np.zeros_like(v) for k, v in p.items()}
    epoch_losses = []
    for _ in range(3):
        total, count = 0.0, 0
        for start in range(0, n, batch):
            xb, yb = x[start : start + batch], y[start : start + batch]
            h_pre = xb @ p["hidden/kernel"] + p["hidden/bias"]
            h = _relu(h_pre)
            probs = _softmax(h @ p["y/kernel"] + p["y/bias"])
            ce = -np.sum(yb * np.log(np.clip(probs, 1e-7, 1 - 1e-7)), axis=1).mean()
            penalty = 0.01 * np.sum(p["hidden/kernel"] ** 2)
            total += (ce + penalty) * len(xb)
            count += len(xb)
            d_logits = (probs - yb) / len(xb)
            grads = {"y/kernel": h.T @ d_logits, "y/bias": d_logits.sum(0)}
            d_h = (d_logits @ p["y/kernel"].T) * (h_pre > 0)
            grads["hidden/kernel"] = xb.T @ d_h + 2 * 0.01 * p["hidden/kernel"]
            grads["hidden/bias"] = d_h.sum(0)
            for k in p:
                velocity[k] = 0.9 * velocity[k] - 0.1 * grads[k]
                p[k] = p[k] + velocity[k]
            p["hidden/kernel"] = p["hidden/kernel"] * (p["hidden/kernel"] >= 0)
        epoch_losses.append(total / count)

    np.testing.assert_allclose(result.history["loss"], epoch_losses, rtol=1e-3)
    for key, value in p.items():
        np.testing.assert_allclose(result.weights[key], value, rtol=2e-3, atol=2e-4)
    assert (result.weights["hidden/kernel"] >= 0).all()


TWO_OUTPUT_SPEC = """
specc: 1
inputs: {features: {shape: [7]}}
layers:
  - {name: trunk, type: Dense, units: 6, activation: tanh, inputs: features}
  - {name: priority, type: Dense, units: 1, inputs: trunk}
  - {name: department, type: Dense, units: 4, inputs: trunk}
outputs: [priority, department]
compile:
  optimizer: {type: RMSprop, learning_rate: 0.01}
  loss:
    priority: {type: BinaryCrossentropy, from_logits: true}
    department: {type: CategoricalCrossentropy, from_logits: true}
  loss_weights: {priority: 1.0, department: 0.2}
"""


def test_two_outputs_rmsprop_from_logits_loss_weights_match_keras_fit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n, batch = 50, 16
    x = rng.normal(size=(n, 7))
    priority = rng.integers(0, 2, (n, 1)).astype(np.float64)
    department = np.eye(4)[rng.integers(0, 4, n)]
    w = {
        "trunk/kernel": rng.normal(scale=0.4, size=(7, 6)),
        "trunk/bias": rng.normal(scale=0.1, size=6),
        "priority/kernel": rng.normal(scale=0.4, size=(6, 1)),
        "priority/bias": np.zeros(1),
        "department/kernel": rng.normal(scale=0.4, size=(6, 4)),
        "department/bias": np.zeros(4),
    }
    arrays = {
        "features": x.astype(np.float32),
        "priority": priority.astype(np.float32),
        "department": department.astype(np.float32),
    }
    paths = _write(tmp_path, TWO_OUTPUT_SPEC, arrays, w)
    result = train_spec(
        paths[0],
        paths[1],
        TrainOptions(epochs=3, batch_size=batch, shuffle=False),
        weights=paths[2],
    )

    # Keras 3 RMSprop: v = rho*v + (1-rho)*g^2; p -= lr*g / sqrt(v + epsilon).
    p = {k: v.astype(np.float64) for k, v in w.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    history: dict[str, list[float]] = {"loss": [], "priority_loss": [], "department_loss": []}
    for _ in range(3):
        sums = dict.fromkeys(history, 0.0)
        for start in range(0, n, batch):
            xb = x[start : start + batch]
            pb, db = priority[start : start + batch], department[start : start + batch]
            t_pre = xb @ p["trunk/kernel"] + p["trunk/bias"]
            t = np.tanh(t_pre)
            z1 = t @ p["priority/kernel"] + p["priority/bias"]
            z2 = t @ p["department/kernel"] + p["department/bias"]
            bce = np.mean(np.maximum(z1, 0) - z1 * pb + np.log1p(np.exp(-np.abs(z1))))
            ce = np.mean(-np.sum(db * np.log(_softmax(z2)), axis=1))
            size = len(xb)
            sums["loss"] += (1.0 * bce + 0.2 * ce) * size
            sums["priority_loss"] += bce * size
            sums["department_loss"] += ce * size
            d1 = 1.0 * (_sigmoid(z1) - pb) / z1.size
            d2 = 0.2 * (_softmax(z2) - db) / size
            grads = {
                "priority/kernel": t.T @ d1,
                "priority/bias": d1.sum(0),
                "department/kernel": t.T @ d2,
                "department/bias": d2.sum(0),
            }
            d_t = (d1 @ p["priority/kernel"].T + d2 @ p["department/kernel"].T) * (1 - t**2)
            grads["trunk/kernel"] = xb.T @ d_t
            grads["trunk/bias"] = d_t.sum(0)
            for k in p:
                v[k] = 0.9 * v[k] + 0.1 * grads[k] ** 2
                p[k] = p[k] - 0.01 * grads[k] / np.sqrt(v[k] + 1e-7)
        for key in history:
            history[key].append(sums[key] / n)

    for key, values in history.items():
        np.testing.assert_allclose(result.history[key], values, rtol=1e-3, err_msg=key)
    for key, value in p.items():
        np.testing.assert_allclose(result.weights[key], value, rtol=2e-3, atol=2e-4)


def test_cli_writes_keras_history(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specc.cli.app import app

    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 30)]
    spec, data, _ = _write(tmp_path, MLP_SPEC, {"x": x, "y": y}, {})
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(spec),
            "--data",
            str(data),
            "--epochs",
            "2",
            "--validation-split",
            "0.2",
            "--seed",
            "3",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""  # --quiet: no progress, no file list
    history = json.loads((out / "history.json").read_text())
    assert sorted(history) == ["loss", "val_loss"]
    assert all(len(values) == 2 for values in history.values())
    with np.load(out / "weights.npz") as weights:
        assert sorted(weights.files) == ["hidden/bias", "hidden/kernel", "y/bias", "y/kernel"]
        assert (weights["hidden/kernel"] >= 0).all()
