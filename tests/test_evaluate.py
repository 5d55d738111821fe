"""``specc evaluate``: Keras's ``evaluate`` numbers, from a spec with weights and from a trained
folder, as text and JSON; bad input is one located message and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.train.evaluate import evaluate_spec
from tests.evaluate_fixture import (
    L2,
    LOSS_WEIGHTS,
    SAMPLES,
    SPEC,
    data,
    fixed_weights,
    forward,
    write_spec,
    write_weights,
)

runner = CliRunner()
EPSILON = 1e-7  # Keras's backend.epsilon()


def keras_evaluate(
    weights: dict[str, np.ndarray], arrays: dict[str, np.ndarray], batch_size: int
) -> dict[str, float]:
    """Keras 3's ``evaluate`` of the fixture model, written out in NumPy: per batch, each
    output's loss (mean over the batch), the total ``sum(weight * loss) + penalties``
    (``compute_loss``); over batches, each loss's mean weighted by batch size (its
    ``Mean`` tracker with ``sample_weight=batch_size``), and each accuracy counted over all
    samples (a ``MeanMetricWrapper``)."""
    sums = {"loss": 0.0, "score_loss": 0.0, "kind_loss": 0.0}
    right = {"score": 0, "kind": 0}
    penalty = L2 * np.sum(weights["hidden/kernel"].astype(np.float64) ** 2)
    samples = len(arrays["x"])
    for start in range(0, samples, batch_size):
        batch = slice(start, start + batch_size)
        out = forward(weights, arrays["x"][batch])
        y, kind = arrays["score"][batch], arrays["kind"][batch]
        size = len(y)
        p = np.clip(out["score"], EPSILON, 1 - EPSILON)
        bce = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
        probs = np.clip(out["kind"], EPSILON, 1 - EPSILON)
        scce = np.mean(-np.log(probs[np.arange(size), kind]))
        total = LOSS_WEIGHTS["score"] * bce + LOSS_WEIGHTS["kind"] * scce + penalty
        sums["loss"] += total * size
        sums["score_loss"] += bce * size
        sums["kind_loss"] += scce * size
        right["score"] += int(np.sum((out["score"] > 0.5) == (y > 0.5)))
        right["kind"] += int(np.sum(np.argmax(out["kind"], -1) == kind))
    values = {key: total / samples for key, total in sums.items()}
    values["score_binary_accuracy"] = right["score"] / samples
    values["kind_sparse_categorical_accuracy"] = right["kind"] / samples
    return values


@pytest.fixture
def model(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, np.ndarray]]:
    """The fixture spec, its weights file, its data file, and the weights."""
    weights = fixed_weights()
    arrays = data()
    data_path = tmp_path / "data.npz"
    np.savez(data_path, **arrays)
    return write_spec(tmp_path), write_weights(tmp_path, weights), data_path, weights


@pytest.mark.parametrize("batch_size", [1, 5, 32, 37, 64])
def test_evaluate_equals_keras_formula(model, batch_size: int) -> None:
    spec, weights_path, data_path, weights = model
    # 37 samples: the last batch of 5 and 32 is smaller than the others.
    result = evaluate_spec(spec, data_path, weights_path, batch_size=batch_size)
    expected = keras_evaluate(weights, data(), batch_size)
    assert list(result.values) == list(expected)
    for key, value in expected.items():
        assert result.values[key] == pytest.approx(value, rel=2e-6, abs=1e-7), key
    assert result.samples == SAMPLES


def test_batches_are_weighted_by_their_size(model) -> None:
    # With 37 samples in batches of 32 and 5, a plain mean of the two batch losses is far
    # from Keras's mean weighted by batch size; the result is the weighted one.
    spec, weights_path, data_path, weights = model
    result = evaluate_spec(spec, data_path, weights_path, batch_size=32)
    firsts = keras_evaluate(weights, {k: v[:32] for k, v in data().items()}, 32)
    rest = keras_evaluate(weights, {k: v[32:] for k, v in data().items()}, 32)
    unweighted = (firsts["kind_loss"] + rest["kind_loss"]) / 2
    weighted = (32 * firsts["kind_loss"] + 5 * rest["kind_loss"]) / SAMPLES
    assert abs(unweighted - weighted) > 1e-3
    assert result.values["kind_loss"] == pytest.approx(weighted, rel=2e-6)


def test_cli_json_is_a_mapping_of_numbers(model) -> None:
    spec, weights_path, data_path, weights = model
    args = ["evaluate", str(spec), "--data", str(data_path), "-w", str(weights_path)]
    result = runner.invoke(app, [*args, "--batch-size", "5", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    expected = keras_evaluate(weights, data(), 5)
    assert sorted(payload) == sorted(expected)
    assert all(isinstance(value, float) for value in payload.values())
    assert payload["loss"] == pytest.approx(expected["loss"], rel=2e-6)
    assert f"weights: from {weights_path}" in result.stderr


def test_cli_text_names_each_value(model) -> None:
    spec, weights_path, data_path, weights = model
    result = runner.invoke(
        app, ["evaluate", str(spec), "-d", str(data_path), "-w", str(weights_path), "-q"]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ") for line in result.stdout.splitlines())
    expected = keras_evaluate(weights, data(), 32)
    assert list(lines) == list(expected)
    assert float(lines["kind_loss"]) == pytest.approx(expected["kind_loss"], rel=1e-5)
    assert result.stderr == ""


def test_per_class_metric_is_a_list(tmp_path: Path) -> None:
    spec = {
        **SPEC,
        "compile": {
            "optimizer": "sgd",
            "loss": {"score": None, "kind": "categorical_crossentropy"},
            "metrics": {"kind": [{"type": "F1Score"}]},
        },
    }
    arrays = data()
    np.savez(tmp_path / "d.npz", x=arrays["x"], kind=np.eye(3, dtype=np.float32)[arrays["kind"]])
    args = ["evaluate", str(write_spec(tmp_path, spec)), "-d", str(tmp_path / "d.npz")]
    result = runner.invoke(app, [*args, "-f", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # The metric's key is its history name, as specc train's history has it.
    loss, kind_loss, metric = payload
    assert (loss, kind_loss) == ("loss", "kind_loss") and metric.startswith("kind_")
    scores = payload[metric]
    assert len(scores) == 3 and all(isinstance(v, float) for v in scores)
    assert "drawn with seed 0" in result.stderr


def test_spec_without_weights_is_seeded(model) -> None:
    spec, _, data_path, _ = model
    runs = [
        runner.invoke(app, ["evaluate", str(spec), "-d", str(data_path), "-f", "json", *seed])
        for seed in ([], ["--seed", "0"], ["--seed", "7"])
    ]
    assert [r.exit_code for r in runs] == [0, 0, 0]
    assert runs[0].stdout == runs[1].stdout != runs[2].stdout
    assert "drawn with seed 7" in runs[2].stderr


def test_trained_folder_with_its_spec(model, tmp_path: Path) -> None:
    spec, weights_path, data_path, _ = model
    trained = tmp_path / "run"
    train = ["train", str(spec), "-d", str(data_path), "-w", str(weights_path), "-o", str(trained)]
    assert runner.invoke(app, [*train, "--epochs", "1", "-q"]).exit_code == 0
    with np.load(trained / "weights.npz") as file:
        trained_weights = {k: file[k] for k in file.files}
    assert not np.array_equal(trained_weights["hidden/kernel"], fixed_weights()["hidden/kernel"])
    args = ["evaluate", str(trained), "--spec", str(spec), "-d", str(data_path), "-f", "json"]
    result = runner.invoke(app, [*args, "-b", "5"])
    assert result.exit_code == 0, result.output
    expected = keras_evaluate(trained_weights, data(), 5)
    payload = json.loads(result.stdout)
    for key, value in expected.items():
        assert payload[key] == pytest.approx(value, rel=2e-6, abs=1e-7), key
    assert f"weights: trained, from {trained / 'weights.npz'}" in result.stderr


def _error(result, code: str, file: Path) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{file}: error: ") and line.endswith(f"[{code}]"), line
    return line


def test_missing_data_key_is_located(model, tmp_path: Path) -> None:
    spec, weights_path, _, _ = model
    arrays = data()
    del arrays["kind"]
    np.savez(tmp_path / "partial.npz", **arrays)
    args = ["evaluate", str(spec), "-d", str(tmp_path / "partial.npz"), "-w", str(weights_path)]
    line = _error(runner.invoke(app, args), "SPC522-missing-data", tmp_path / "partial.npz")
    assert "'kind'" in line


def test_wrong_shape_is_located(model, tmp_path: Path) -> None:
    spec, weights_path, _, _ = model
    arrays = {**data(), "x": np.zeros((SAMPLES, 4), np.float32)}
    np.savez(tmp_path / "wide.npz", **arrays)
    args = ["evaluate", str(spec), "-d", str(tmp_path / "wide.npz"), "-w", str(weights_path)]
    _error(runner.invoke(app, args), "SPC524-data-shape", tmp_path / "wide.npz")


def test_trained_folder_evaluates_with_the_spec_it_keeps(model, tmp_path: Path) -> None:
    """specc train keeps its spec in the folder (spec.json), so `specc evaluate DIR` needs
    no --spec and gives what evaluating it with --spec gives."""
    spec, weights_path, data_path, _ = model
    trained = tmp_path / "run"
    train = ["train", str(spec), "-d", str(data_path), "-w", str(weights_path), "-o", str(trained)]
    assert runner.invoke(app, [*train, "--epochs", "1", "-q"]).exit_code == 0
    assert (trained / "spec.json").is_file()
    alone = runner.invoke(app, ["evaluate", str(trained), "-d", str(data_path), "-f", "json"])
    assert alone.exit_code == 0, alone.output
    given = ["evaluate", str(trained), "--spec", str(spec), "-d", str(data_path), "-f", "json"]
    assert json.loads(alone.stdout) == json.loads(runner.invoke(app, given).stdout)


def test_trained_folder_without_its_spec_needs_one(model, tmp_path: Path) -> None:
    spec, weights_path, data_path, _ = model
    trained = tmp_path / "run"
    train = ["train", str(spec), "-d", str(data_path), "-w", str(weights_path), "-o", str(trained)]
    assert runner.invoke(app, [*train, "-q"]).exit_code == 0
    (trained / "spec.json").unlink()
    line = _error(
        runner.invoke(app, ["evaluate", str(trained), "-d", str(data_path)]),
        "SPC511-export-source",
        trained,
    )
    assert "--spec" in line
    with_weights = ["evaluate", str(trained), "--spec", str(spec), "-d", str(data_path)]
    result = runner.invoke(app, [*with_weights, "-w", str(weights_path)])
    _error(result, "SPC511-export-source", trained)


def test_trained_folder_for_another_spec(model, tmp_path: Path) -> None:
    spec, weights_path, data_path, _ = model
    trained = tmp_path / "run"
    train = ["train", str(spec), "-d", str(data_path), "-w", str(weights_path), "-o", str(trained)]
    assert runner.invoke(app, [*train, "-q"]).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    wider = {**SPEC, "layers": [{**SPEC["layers"][0], "units": 5}, *SPEC["layers"][1:]]}
    args = ["evaluate", str(trained), "--spec", str(write_spec(other, wider)), "-d", str(data_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "SPC413-weight-shape" in result.stderr and "Traceback" not in result.output


def test_spec_without_compile_section(tmp_path: Path) -> None:
    spec = {k: v for k, v in SPEC.items() if k != "compile"}
    np.savez(tmp_path / "d.npz", **data())
    path = write_spec(tmp_path, spec)
    result = runner.invoke(app, ["evaluate", str(path), "-d", str(tmp_path / "d.npz")])
    assert result.exit_code == 1 and "SPC504-no-compile" in result.stderr, result.output


def test_seed_with_weights_is_a_usage_error(model) -> None:
    spec, weights_path, data_path, _ = model
    args = ["evaluate", str(spec), "-d", str(data_path), "-w", str(weights_path), "--seed", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--seed applies to a spec" in result.stderr


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "DIR|SPEC" in result.output
