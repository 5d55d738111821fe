"""The small fixed model that the weights and data targets read files for.

Two inputs (float features, int32 token ids through an Embedding) and two trained outputs
(a sigmoid score with binary cross-entropy, a 3-class softmax with sparse labels), so that
the data readers meet every kind of array a model takes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from specc.spec.compile import losses_by_output
from specc.train.data import Dataset, Target, load_dataset, targets_for
from specc.types import TensorType
from tests.fuzz.oracle import Unsound

SPEC = """\
specc: 1
name: fuzz_model
inputs:
  features: {shape: [3]}
  tokens: {shape: [4], dtype: int32}
layers:
  - {name: dense, type: Dense, units: 4, activation: relu, inputs: features}
  - {name: embed, type: Embedding, input_dim: 10, output_dim: 2, inputs: tokens}
  - {name: flat, type: Flatten, inputs: embed}
  - {name: merged, type: Concatenate, inputs: [dense, flat]}
  - {name: score, type: Dense, units: 1, activation: sigmoid, inputs: merged}
  - {name: category, type: Dense, units: 3, activation: softmax, inputs: merged}
outputs: [score, category]
compile:
  optimizer: adam
  loss: {score: binary_crossentropy, category: sparse_categorical_crossentropy}
"""
# Its weights, by weights-file key, with their shapes.
WEIGHTS = {
    "dense/kernel": (3, 4),
    "dense/bias": (4,),
    "embed/embeddings": (10, 2),
    "score/kernel": (12, 1),
    "score/bias": (1,),
    "category/kernel": (12, 3),
    "category/bias": (3,),
}
# The names a data file holds for it.
DATA_NAMES = ("features", "tokens", "score", "category")


def spec_file(folder: Path) -> Path:
    """The spec, written into ``folder`` once."""
    path = folder / "fuzz_model.yaml"
    if not path.exists():
        path.write_text(SPEC, encoding="utf-8")
    return path


@cache
def _types(folder: Path) -> tuple[dict[str, TensorType], dict[str, Target]]:
    from specc.pipeline import compile_spec

    compiled = compile_spec(spec_file(folder))
    config = compiled.typed.resolved.spec.compile
    assert config is not None
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    return dict(compiled.typed.resolved.inputs), targets


def data_types(folder: Path) -> tuple[dict[str, TensorType], dict[str, Target]]:
    """What ``specc train`` asks of a data file for this model: input types by name and
    label requirements by output name (as ``specc.train.run.train_spec`` computes them)."""
    return _types(folder)


def check_dataset(data: Dataset, folder: Path) -> list[str]:
    """What is wrong with a dataset the reader accepted (empty: nothing): every array has
    its type's dtype and per-sample shape, finite floats, and class indices in range."""
    inputs, targets = data_types(folder)
    wanted = {**inputs, **{name: t.type for name, t in targets.items()}}
    arrays = {**data.inputs, **data.targets}
    found = []
    for name, tensor in wanted.items():
        array = arrays[name]
        if array.dtype != np.dtype(tensor.dtype):
            found.append(f"{name} accepted as {array.dtype}, not {tensor.dtype}")
        expected = tuple(tensor.shape)
        if len(array.shape) != len(expected) + 1 or any(
            want is not None and got != want
            for got, want in zip(array.shape[1:], expected, strict=False)
        ):
            found.append(f"{name} accepted with shape {array.shape} for {expected}")
        elif array.dtype.kind == "f" and not np.isfinite(array).all():
            found.append(f"{name} accepted with non-finite values")
    for name, target in targets.items():
        labels = data.targets[name]
        if target.form == "sparse" and target.classes is not None and labels.size:
            valid = (labels >= 0) & (labels < target.classes)
            if target.ignore_class is not None:
                valid |= labels == target.ignore_class
            if not valid.all():
                found.append(f"{name} accepted with class indices out of range")
    return found


def check_data_file(path: Path) -> None:
    """Load the data file at ``path`` (.npz or .csv) for the fixed model and check what was
    accepted."""
    inputs, targets = data_types(path.parent)
    problems = check_dataset(load_dataset(path, inputs, targets), path.parent)
    if problems:
        raise Unsound("the reader accepted data the model cannot take", problems)
