"""Small specs and data shared by the compiler's hostile families (model size, compile
section, Lambda constants, non-finite values)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.hostile.case import Case, Outcome

# A softmax classifier over 3 classes of 4 features; the compile and train entries are
# filled by ``classifier``.
_CLASSIFIER = """\
specc: 1
name: hostile
inputs:
  x: {{shape: [4]}}
layers:
  - {{name: probs, type: Dense, units: 3, activation: softmax, inputs: x}}
compile:
  optimizer: {optimizer}
  loss: {loss}
  loss_weights: {loss_weights}
  metrics: {metrics}
train: {train}
"""


def classifier(
    loss: str = "sparse_categorical_crossentropy",
    metrics: str = "[]",
    train: str = "{}",
    optimizer: str = "sgd",
    loss_weights: str = "null",
) -> str:
    """The classifier spec with these compile entries and train section (YAML flow text)."""
    return _CLASSIFIER.format(
        loss=loss, metrics=metrics, train=train, optimizer=optimizer, loss_weights=loss_weights
    )


def layers_spec(*layers: str, inputs: str = "x: {shape: [4]}") -> str:
    """A spec of these layer entries (YAML flow mappings) applied in order to ``inputs``."""
    body = "\n".join(f"  - {layer}" for layer in layers)
    return f"specc: 1\nname: hostile\ninputs:\n  {inputs}\nlayers:\n{body}\n"


def lambda_spec(expression: str) -> str:
    """A spec whose one layer is a Lambda of ``expression`` over a (None, 4) input."""
    return layers_spec(f"{{type: Lambda, expression: '{expression}'}}")


def class_data(one_hot: bool = False, samples: int = 40) -> Callable[[Path], None]:
    """Writes an .npz for the classifier: ``x`` (samples, 4) and ``probs`` class indices
    (or one-hot rows)."""

    def write(path: Path) -> None:
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 3, samples)
        target = np.eye(3, dtype=np.float32)[labels] if one_hot else labels
        np.savez(path, x=rng.random((samples, 4), dtype=np.float32), probs=target)

    return write


def train_argv(spec: str = "spec.yaml") -> list[str]:
    """``specc train`` of a spec on data.npz, quietly, into ./trained."""
    return ["train", spec, "--data", "data.npz", "--out", "trained", "-q"]


def nothing_written(outcome: Outcome) -> str | None:
    """A refused spec leaves no output behind."""
    for name in ("trained", "model.onnx"):
        if (outcome.folder / name).exists():
            return f"{name} was written"
    return None


def build_case(family: str, name: str, spec: str, *patterns: str) -> Case:
    """``specc build`` of ``spec`` refused within ten seconds, with exit code 1, output
    matching ``patterns``, and nothing written."""
    return Case(
        family,
        name,
        ["build", "spec.yaml", "-o", "model.onnx"],
        {"spec.yaml": spec},
        1,
        patterns,
        check=nothing_written,
        seconds=10,
    )
