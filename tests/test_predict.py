"""``specc predict``: onnxruntime's outputs on the model ``specc build`` writes (or a trained
folder's), batched, with classes and labels; .npz and .csv files; errors located."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from typer.testing import CliRunner

import specc.emit.source
import specc.spec.loader
from specc.cli.app import app
from specc.emit.predict import class_arrays
from specc.emit.predict_output import csv_lines
from specc.escape import terminal_text
from tests.evaluate_fixture import (
    LABELS,
    SAMPLES,
    SPEC,
    data,
    fixed_weights,
    forward,
    write_spec,
    write_weights,
)
from tests.spec_helpers import ROOT

runner = CliRunner()


@pytest.fixture
def model(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The fixture spec, its weights file, and data holding the inputs only."""
    np.savez(tmp_path / "inputs.npz", x=data()["x"])
    return write_spec(tmp_path), write_weights(tmp_path, fixed_weights()), tmp_path / "inputs.npz"


def _onnxruntime(model_path: Path) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"x": data()["x"]}), strict=True))


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as file:  # allow_pickle is off: labels must be plain text arrays
        return {name: file[name] for name in file.files}


def _check_classes(found: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
    assert np.array_equal(found["score_class"], (outputs["score"][:, 0] > 0.5).astype(np.int64))
    kinds = np.argmax(outputs["kind"], -1)
    assert np.array_equal(found["kind_class"], kinds)
    assert found["kind_label"].tolist() == [LABELS[k] for k in kinds]
    # The fixture's weights make every class appear: the checks above mean something.
    assert set(kinds.tolist()) == {0, 1, 2} and len(set(found["score_class"].tolist())) == 2


@pytest.mark.parametrize("batch_size", ["5", "32", "100"])
def test_spec_with_weights_equals_onnxruntime_on_the_built_model(
    model, tmp_path: Path, batch_size: str
) -> None:
    spec, weights, inputs = model
    built = tmp_path / "built.onnx"
    build = ["build", str(spec), "-w", str(weights), "-o", str(built)]
    assert runner.invoke(app, build).exit_code == 0
    out = tmp_path / "p.npz"
    args = ["predict", str(spec), "-d", str(inputs), "-w", str(weights), "-o", str(out)]
    result = runner.invoke(app, [*args, "-b", batch_size])
    assert result.exit_code == 0, result.output
    found = _load(out)
    expected = _onnxruntime(built)
    assert list(found) == ["score", "kind", "score_class", "kind_class", "kind_label"]
    for name, array in expected.items():
        np.testing.assert_allclose(found[name], array, rtol=1e-6, atol=1e-7)
    # And both equal the model's maths.
    for name, array in forward(fixed_weights(), data()["x"]).items():
        np.testing.assert_allclose(found[name], array, rtol=1e-5, atol=1e-6)
    _check_classes(found, expected)
    assert f"wrote {out}" in result.stdout and f"weights: from {weights}" in result.stderr


def test_trained_folder_equals_onnxruntime_on_its_model(model, tmp_path: Path) -> None:
    spec, weights, inputs = model
    arrays = data()
    np.savez(tmp_path / "train.npz", **arrays)
    trained = tmp_path / "run"
    train = ["train", str(spec), "-d", str(tmp_path / "train.npz"), "-w", str(weights)]
    assert runner.invoke(app, [*train, "-o", str(trained), "-q"]).exit_code == 0
    out = tmp_path / "p.npz"
    # Labels in the data (here, the training file) are not needed, and are ignored.
    for data_file in (inputs, tmp_path / "train.npz"):
        args = ["predict", str(trained), "-d", str(data_file), "-o", str(out), "-b", "8"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        found = _load(out)
        expected = _onnxruntime(trained / "model.onnx")
        for name, array in expected.items():
            np.testing.assert_allclose(found[name], array, rtol=1e-6, atol=1e-7)
        _check_classes(found, expected)
    assert f"weights: trained, from {trained / 'model.onnx'}" in result.stderr


def test_spec_without_weights_uses_the_seed(model, tmp_path: Path) -> None:
    spec, _, inputs = model
    built = tmp_path / "built.onnx"
    assert runner.invoke(app, ["build", str(spec), "--seed", "4", "-o", str(built)]).exit_code == 0
    out = tmp_path / "p.npz"
    args = ["predict", str(spec), "-d", str(inputs), "-o", str(out), "--seed", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(_load(out)["kind"], _onnxruntime(built)["kind"], rtol=1e-6)
    assert "drawn with seed 4" in result.stderr


def test_csv_has_one_row_per_sample_and_escaped_labels(model, tmp_path: Path) -> None:
    spec, weights, inputs = model
    out_npz, out_csv = tmp_path / "p.npz", tmp_path / "p.csv"
    for out in (out_npz, out_csv):
        args = ["predict", str(spec), "-d", str(inputs), "-w", str(weights), "-o", str(out)]
        assert runner.invoke(app, args).exit_code == 0
    arrays = _load(out_npz)
    with open(out_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header == [
        "score[0]",
        *(f"kind[{i}]" for i in range(3)),
        "score_class",
        "kind_class",
        "kind_label",
    ]
    assert len(body) == SAMPLES
    table = np.array(body)
    np.testing.assert_array_equal(table[:, 1:4].astype(np.float32), arrays["kind"])
    np.testing.assert_array_equal(table[:, 5].astype(np.int64), arrays["kind_class"])
    # A label cannot add a column or a row, nor run as a formula: it reads back as itself,
    # a leading formula character shown as text.
    shown = {"plain": "plain", LABELS[1]: "'" + LABELS[1], LABELS[2]: LABELS[2]}
    assert table[:, 6].tolist() == [shown[label] for label in arrays["kind_label"].tolist()]


def test_csv_lines_escape_names_and_keep_floats_exact() -> None:
    arrays = {
        "=out": np.array([[0.1, -2.5e-8]], np.float32),
        "y_label": np.array(["@x"]),
    }
    text = "".join(csv_lines(arrays))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["'=out[0]", "'=out[1]", "y_label"], ["0.1", "-2.5e-08", "'@x"]]
    assert np.float32(rows[1][1]) == arrays["=out"][0, 1]


@pytest.mark.parametrize(
    ("prediction", "head", "classes"),
    [
        (np.array([[0.2], [0.7]]), "Sigmoid", [0, 1]),
        (np.array([[-0.2], [0.1]]), None, [0, 1]),  # a logit, with labels
        (np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]]), "Softmax", [1, 0]),
        (np.array([[[0.1, 0.9], [0.8, 0.2]]]), "Softmax", [[1, 0]]),  # per time step
    ],
)
def test_class_of_each_kind_of_head(prediction: np.ndarray, head: str | None, classes) -> None:
    labels = [f"c{i}" for i in range(max(2, prediction.shape[-1]))]
    found = class_arrays("y", prediction, head, labels)
    assert found["y_class"].tolist() == classes
    assert found["y_label"].tolist() == np.array(labels)[np.array(classes)].tolist()


def test_no_classes_for_a_regression_output() -> None:
    assert class_arrays("y", np.array([[0.3, 2.0]]), None, None) == {}


def _error(result, code: str, file: Path) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{terminal_text(str(file))}: error: "), line
    assert line.endswith(f"[{code}]"), line
    return line


@pytest.mark.parametrize("name", ["p.txt", "p", "p.npz.json", "p.\x1b[31mred"])
def test_bad_out_extension_is_refused_before_work(model, tmp_path: Path, name: str) -> None:
    spec, weights, inputs = model
    out = tmp_path / name
    args = ["predict", str(spec), "-d", str(inputs), "-w", str(weights), "-o", str(out)]
    line = _error(runner.invoke(app, args), "SPC550-prediction-file", tmp_path / name)
    assert "--out must end in .npz or .csv" in line
    assert "\x1b" not in line  # a name from the command line is escaped in the message
    assert not out.exists()


def test_missing_input_is_located(model, tmp_path: Path) -> None:
    spec, weights, _ = model
    np.savez(tmp_path / "wrong.npz", z=data()["x"])
    out = tmp_path / "p.npz"
    args = ["predict", str(spec), "-d", str(tmp_path / "wrong.npz"), "-w", str(weights)]
    result = runner.invoke(app, [*args, "-o", str(out)])
    line = _error(result, "SPC522-missing-data", tmp_path / "wrong.npz")
    assert "'x'" in line and not out.exists()


def test_wrong_shape_is_located_and_keeps_the_previous_file(model, tmp_path: Path) -> None:
    spec, weights, _ = model
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 5), np.float32))
    out = tmp_path / "p.csv"
    out.write_text("previous")
    args = ["predict", str(spec), "-d", str(tmp_path / "wide.npz"), "-w", str(weights)]
    _error(runner.invoke(app, [*args, "-o", str(out)]), "SPC524-data-shape", tmp_path / "wide.npz")
    assert out.read_text() == "previous"


def test_output_named_like_a_class_array_is_refused(tmp_path: Path) -> None:
    spec = {
        **SPEC,
        "layers": [*SPEC["layers"], {"name": "kind_class", "type": "Dense", "units": 1}],
        "outputs": ["score", "kind", "kind_class"],
    }
    spec.pop("compile")
    np.savez(tmp_path / "inputs.npz", x=data()["x"])
    path = write_spec(tmp_path, spec)
    args = ["predict", str(path), "-d", str(tmp_path / "inputs.npz"), "-o", str(tmp_path / "p.npz")]
    line = _error(runner.invoke(app, args), "SPC550-prediction-file", path)
    assert "'kind_class'" in line


@pytest.mark.parametrize("source", ["spec", "folder"])
def test_embedding_ids_are_checked_before_onnxruntime(tmp_path: Path, source: str) -> None:
    spec = ROOT / "models/two_inputs_two_outputs.yaml"
    folder = tmp_path / "run"
    folder.mkdir()
    assert runner.invoke(app, ["build", str(spec), "-o", str(folder / "model.onnx")]).exit_code == 0
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 100, (6, 8)).astype(np.int32)
    tokens[4, 2] = 100  # one past the table of 100 rows
    np.savez(tmp_path / "x.npz", features=np.zeros((6, 12), np.float32), tokens=tokens)
    model = str(spec if source == "spec" else folder)
    args = ["predict", model, "-d", str(tmp_path / "x.npz"), "-o", str(tmp_path / "p.npz")]
    line = _error(runner.invoke(app, args), "SPC531-embedding-id", tmp_path / "x.npz")
    assert "Embedding layer 'token_embedding' (input_dim 100)" in line
    assert "got 100 at sample 4" in line


def test_inputs_come_from_the_arrays_the_spec_names(tmp_path: Path) -> None:
    """train.data_keys names the arrays for predict as for train: from the spec, and from
    the spec a trained folder keeps."""
    spec = write_spec(tmp_path, {**SPEC, "train": {"data_keys": {"x": "features"}}})
    weights = write_weights(tmp_path, fixed_weights())
    np.savez(tmp_path / "renamed.npz", features=data()["x"])
    out = tmp_path / "p.npz"
    args = ["predict", str(spec), "-w", str(weights), "-d", str(tmp_path / "renamed.npz")]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    build = ["build", str(spec), "-w", str(weights), "-o", str(tmp_path / "m.onnx"), "-q"]
    assert runner.invoke(app, build).exit_code == 0
    expected = _onnxruntime(tmp_path / "m.onnx")
    np.testing.assert_array_equal(_load(out)["kind"], expected["kind"])
    trained = tmp_path / "run"
    named = {**data(), "features": data()["x"]}
    del named["x"]
    np.savez(tmp_path / "train.npz", **named)
    train = ["train", str(spec), "-d", str(tmp_path / "train.npz"), "-w", str(weights)]
    assert runner.invoke(app, [*train, "-o", str(trained), "-q"]).exit_code == 0
    from_folder = ["predict", str(trained), "-d", str(tmp_path / "renamed.npz")]
    result = runner.invoke(app, [*from_folder, "--out", str(tmp_path / "q.npz")])
    assert result.exit_code == 0, result.output


def test_the_spec_data_keys_are_checked_before_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path, {**SPEC, "train": {"data_keys": {"z": "features"}}})
    np.savez(tmp_path / "x.npz", x=data()["x"])
    compiled: list[object] = []

    def compile_spec(*args: object, **options: object) -> object:
        compiled.append(args)
        raise AssertionError("compiled before the data keys were checked")

    monkeypatch.setattr(specc.emit.source, "compile_spec", compile_spec)
    args = ["predict", str(spec), "-d", str(tmp_path / "x.npz"), "-o", str(tmp_path / "p.npz")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(spec))}:\d+:5: error: train\.data_keys names 'z', .*"
        r"\(at train\.data_keys\.z\) \[SPC218-unknown-data-key\]",
        line,
    ), line
    assert compiled == []


def test_the_spec_is_parsed_once(model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its data keys are read from the spec checked before compiling, and the compiler is
    handed what was parsed then."""
    spec, weights, inputs = model
    reads: list[Path] = []
    read = specc.spec.loader.read_spec_text

    def counted(path: Path, *args: object) -> str:
        reads.append(Path(path))
        return read(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(specc.spec.loader, "read_spec_text", counted)
    args = ["predict", str(spec), "-d", str(inputs), "-w", str(weights)]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "p.npz")])
    assert result.exit_code == 0, result.output
    assert reads == [spec]
