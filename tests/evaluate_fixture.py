"""A fixed small model for ``specc evaluate`` and ``specc predict`` tests: two outputs with
loss weights, an L2 kernel regularizer, a metric per output and labels, with its weights
and data, and its forward pass in NumPy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

# A label for each kind of trouble a CSV reader or a spreadsheet can have with text.
LABELS = ["plain", "=cmd|' /C calc'!A0", 'comma, "quote"\nnewline']
L2 = 0.01
LOSS_WEIGHTS = {"score": 0.5, "kind": 2.0}
SAMPLES = 37

SPEC = {
    "specc": 1,
    "name": "evaluated",
    "inputs": {"x": {"shape": [3]}},
    "layers": [
        {
            "name": "hidden",
            "type": "Dense",
            "units": 4,
            "activation": "tanh",
            "inputs": "x",
            "kernel_regularizer": {"type": "L2", "l2": L2},
        },
        {"name": "score", "type": "Dense", "units": 1, "activation": "sigmoid", "inputs": "hidden"},
        {"name": "kind", "type": "Dense", "units": 3, "activation": "softmax", "inputs": "hidden"},
    ],
    "outputs": ["score", "kind"],
    "metadata": {"labels": {"kind": LABELS}},
    "compile": {
        "optimizer": "adam",
        "loss": {"score": "binary_crossentropy", "kind": "sparse_categorical_crossentropy"},
        "loss_weights": LOSS_WEIGHTS,
        "metrics": {"score": ["binary_accuracy"], "kind": ["sparse_categorical_accuracy"]},
    },
}


def write_spec(folder: Path, spec: dict | None = None) -> Path:
    """The spec (``SPEC`` unless given) as ``folder/model.yaml``."""
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(spec or SPEC))
    return path


def fixed_weights(seed: int = 3) -> dict[str, np.ndarray]:
    """Weights by file key, large enough that every output's classes vary."""
    rng = np.random.default_rng(seed)
    shapes = {
        "hidden/kernel": (3, 4),
        "hidden/bias": (4,),
        "score/kernel": (4, 1),
        "score/bias": (1,),
        "kind/kernel": (4, 3),
        "kind/bias": (3,),
    }
    return {k: rng.normal(0, 1.2, size=s).astype(np.float32) for k, s in shapes.items()}


def write_weights(folder: Path, weights: dict[str, np.ndarray]) -> Path:
    """``weights`` as ``folder/weights.npz``."""
    path = folder / "weights.npz"
    np.savez(path, **weights)
    return path


def data(seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs and labels for every output."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(SAMPLES, 3)).astype(np.float32),
        "score": rng.integers(0, 2, size=(SAMPLES, 1)).astype(np.float32),
        "kind": rng.integers(0, 3, size=SAMPLES).astype(np.int64),
    }


def forward(weights: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """The model's outputs, in float64."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    hidden = np.tanh(x @ w["hidden/kernel"] + w["hidden/bias"])
    score = 1 / (1 + np.exp(-(hidden @ w["score/kernel"] + w["score/bias"])))
    logits = hidden @ w["kind/kernel"] + w["kind/bias"]
    kind = np.exp(logits - logits.max(-1, keepdims=True))
    return {"score": score, "kind": kind / kind.sum(-1, keepdims=True)}
