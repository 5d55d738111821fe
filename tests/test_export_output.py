"""Where and how ``specc export`` writes: the default folder from a sanitised name, the
bundle swapped in whole (a failure leaves the previous one), the file table escaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import specc.emit.mobile as mobile
import specc.emit.web as web
from specc.cli.app import app
from specc.cli.export import default_out, render_files, render_quantization
from specc.emit import mobile_quantize

runner = CliRunner()


def _spec(folder: Path, name: str) -> Path:
    spec = {
        "specc": 1,
        "name": name,
        "layers": [{"type": "Dense", "units": 2, "activation": "softmax", "input_shape": [3]}],
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("digits_mlp", "digits_mlp-web"),
        ("café model", "cafe-model-web"),
        ("..", "model-web"),
        ("C:\\Windows\\x", "C-Windows-x-web"),
        ("-rf *", "rf-web"),
        ("日本語", "model-web"),
    ],
)
def test_default_out_is_a_safe_folder_name(name: str, folder: str) -> None:
    assert default_out(name, "web") == Path(folder)


def test_default_out_from_an_odd_name_stays_here(in_tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(_spec(in_tmp_path, "..")), "--target", "web", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in in_tmp_path.iterdir()) == ["model-web", "spec.json"]


def _previous_bundle(out: Path) -> None:
    out.mkdir()
    (out / "model.onnx").write_text("previous")
    (out / "README.md").write_text("previous")


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".specc-" in p.name]


def test_failed_web_export_leaves_the_previous_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "site"
    _previous_bundle(out)

    def broken(*args: Any) -> dict[str, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(web, "render_templates", broken)
    spec = _spec(tmp_path, "tiny")
    result = runner.invoke(app, ["export", str(spec), "--target", "web", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model.onnx"]
    assert (out / "model.onnx").read_text() == "previous"
    assert _leftovers(tmp_path) == []


def test_failed_mobile_export_leaves_the_previous_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "app"
    _previous_bundle(out)

    def broken(*args: Any) -> Path:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(mobile, "write_operators_config", broken)
    spec = _spec(tmp_path, "tiny")
    result = runner.invoke(app, ["export", str(spec), "--target", "mobile", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert (out / "README.md").read_text() == "previous"
    assert _leftovers(tmp_path) == []


def test_file_table_escapes_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "a\x1b]0;title\x07b"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"1234")
    table = render_files([folder / "model.onnx"], folder)
    assert "\x1b" not in table and "\x07" not in table
    assert table.splitlines()[-1].endswith("a\\x1b]0;title\\x07b")


def test_quantization_report_says_when_outputs_are_not_finite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outputs = {"y": np.array([[np.nan, 1.0], [0.5, 0.5]], np.float32)}
    monkeypatch.setattr(mobile_quantize, "_run", lambda *args: outputs)
    description = {
        "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 2]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 2]}],
    }
    arrays = {"x": np.zeros((2, 2), np.float32), "y": np.array([0, 1])}
    accuracy = mobile_quantize.measure(
        tmp_path / "a.ort", tmp_path / "b.ort", tmp_path / "d.npz", arrays, description, {}
    )
    entry = accuracy["outputs"]["y"]
    assert entry["non_finite"] == {"float": 1, "int8": 1}
    assert "float_accuracy" not in entry
    json.dumps(accuracy, allow_nan=False)  # quantization.json stays valid JSON
    size = {"float_bytes": 10, "int8_bytes": 5, "ratio": 0.5}
    text = render_quantization({"size": size, "accuracy": accuracy})
    assert "y: not compared: NaN or infinity in 1 float and 1 int8 output values" in text
    assert "accuracy 1.0000" not in text
