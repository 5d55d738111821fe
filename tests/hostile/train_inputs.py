"""What the ``specc train`` families share: a tiny spec, its data, and checks on a folder."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.hostile.case import Content, Outcome

# Three classes from four features: trains in milliseconds.
TINY_SPEC = """\
specc: 1
name: tiny
layers:
  - type: Dense
    name: out
    input_shape: [4]
    units: 3
    activation: softmax
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train:
  epochs: 2
  batch_size: 8
  seed: 1
"""

# One output from four features, with a learning rate that blows up at the second batch.
DIVERGING_SPEC = """\
specc: 1
name: diverging
layers:
  - type: Dense
    name: out
    input_shape: [4]
    units: 1
compile:
  optimizer: {type: SGD, learning_rate: 1.0e+30}
  loss: mse
train:
  epochs: 2
  batch_size: 8
  seed: 1
"""

TRAIN = ["train", "tiny.yaml", "--data", "data.npz"]


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def tiny_data() -> bytes:
    """32 samples for ``TINY_SPEC``."""
    rng = np.random.default_rng(0)
    return _npz(
        {
            "input_layer": rng.normal(size=(32, 4)).astype(np.float32),
            "out": rng.integers(0, 3, size=32),
        }
    )


def regression_data(target: float | None = None) -> bytes:
    """32 samples for ``DIVERGING_SPEC``; every target ``target`` when given."""
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(32, 1)).astype(np.float32)
    if target is not None:
        targets[:] = target
    return _npz({"input_layer": rng.normal(size=(32, 4)).astype(np.float32), "out": targets})


def tiny_weights(value: float) -> bytes:
    """Initial weights for ``TINY_SPEC`` with one kernel entry set to ``value``."""
    kernel = np.full((4, 3), 0.1, np.float32)
    kernel[0, 0] = value
    return _npz({"out/kernel": kernel, "out/bias": np.zeros(3, np.float32)})


def tiny_files(**extra: Content) -> dict[str, Content]:
    """The tiny spec and its data, plus ``extra``."""
    return {"tiny.yaml": TINY_SPEC, "data.npz": tiny_data(), **extra}


def symlink_to(target: str) -> Callable[[Path], None]:
    """File content that is a symbolic link to ``target`` (relative to the link)."""
    return lambda path: os.symlink(target, path)


def folder_with(name: str, content: str) -> Callable[[Path], None]:
    """File content that is a folder holding one file."""

    def make(path: Path) -> None:
        path.mkdir()
        (path / name).write_text(content, encoding="utf-8")

    return make


def check_all(*checks: Callable[[Outcome], str | None]) -> Callable[[Outcome], str | None]:
    """The first problem any of ``checks`` finds."""

    def run(outcome: Outcome) -> str | None:
        for check in checks:
            problem = check(outcome)
            if problem:
                return problem
        return None

    return run


def did_not_train(outcome: Outcome) -> str | None:
    """The command stopped before training (no progress line)."""
    return "trained before refusing" if "Epoch 1/" in outcome.output else None


def one_line(outcome: Outcome) -> str | None:
    """The command printed exactly one line."""
    lines = outcome.output.strip().splitlines()
    return None if len(lines) == 1 else f"printed {len(lines)} lines, not one"


def text_is(relative: str, expected: str) -> Callable[[Outcome], str | None]:
    """The file at ``relative`` still holds ``expected``."""

    def check(outcome: Outcome) -> str | None:
        path = outcome.folder / relative
        if path.is_symlink() or not path.is_file():
            return f"{relative} is gone or not a file"
        found = path.read_bytes()
        changed = f"{relative} was changed to {found[:40]!r}"
        return None if found == expected.encode("utf-8") else changed

    return check


def complete_run(out: str) -> Callable[[Outcome], str | None]:
    """``out`` holds one complete run: its regular files, strict JSON, weights that load."""

    def check(outcome: Outcome) -> str | None:
        folder = outcome.folder / out
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        expected = [
            "checkpoint",
            "history.json",
            "history.png",
            "model.onnx",
            "run.json",
            "spec.json",
            "weights.npz",
        ]
        if names != expected:
            return f"{out} holds {names}, expected {expected}"
        for name in expected:
            if (folder / name).is_symlink():
                return f"{out}/{name} is still a symbolic link"
        try:
            history = strict_json(folder / "history.json")
            run = strict_json(folder / "run.json")
            with np.load(folder / "weights.npz", allow_pickle=False) as weights:
                keys = sorted(weights.files)
        except ValueError as exc:
            return f"{out} does not load: {exc}"
        epochs = run.get("epochs_completed")
        if run.get("status") != "completed" or len(history.get("loss", [])) != epochs:
            return f"{out}/run.json and history.json disagree: {run}"
        return None if keys == ["out/bias", "out/kernel"] else f"weights.npz holds {keys}"

    return check


def strict_json(path: Path) -> dict:
    """A JSON file parsed as strict JSON (NaN and Infinity refused)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{path.name} holds {name}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def absent(relative: str) -> Callable[[Outcome], str | None]:
    """Nothing exists at ``relative``."""

    def check(outcome: Outcome) -> str | None:
        path = outcome.folder / relative
        exists = path.exists() or path.is_symlink()
        return f"{relative} was created" if exists else None

    return check
