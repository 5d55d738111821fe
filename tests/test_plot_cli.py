"""``specc plot`` and the history.png of ``specc train``: files, messages, exit codes."""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from tests.hostile.train_inputs import tiny_files
from tests.spec_helpers import ROOT
from tests.test_plot_history import HISTORY, png_size

runner = CliRunner()
NO_MATPLOTLIB = ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg")


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(HISTORY))
    return path


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return Path(shutil.copy(ROOT / "models" / "two_inputs_two_outputs.yaml", tmp_path))


def _no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in NO_MATPLOTLIB:
        monkeypatch.setitem(sys.modules, module, None)  # import then raises ImportError


def test_plot_a_history_beside_it_by_default(history: Path) -> None:
    result = runner.invoke(app, ["plot", str(history)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {history.with_suffix('.png')}\n"
    png_size(history.with_suffix(".png").read_bytes())


def test_plot_a_history_as_svg(history: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plot", str(history), "--out", str(tmp_path / "c.svg"), "-q"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert ET.parse(tmp_path / "c.svg").getroot().tag.endswith("svg")


def test_plot_a_spec_as_svg_and_png(spec: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plot", str(spec)])
    assert result.exit_code == 0, result.output
    root = ET.parse(spec.with_suffix(".svg")).getroot()
    assert len(root.findall(".//{http://www.w3.org/2000/svg}rect[@class='layer']")) == 10
    out = tmp_path / "model.png"
    result = runner.invoke(app, ["plot", str(spec), "-o", str(out), "--no-show-shapes"])
    assert result.exit_code == 0, result.output
    width, height = png_size(out.read_bytes())
    assert width > 400 and height > 400


def test_a_json_spec_is_told_from_a_history(tmp_path: Path) -> None:
    spec = tmp_path / "model.json"
    spec.write_text(
        json.dumps({"specc": 1, "layers": [{"type": "Dense", "units": 2, "input_shape": [3]}]})
    )
    result = runner.invoke(app, ["plot", str(spec)])
    assert result.exit_code == 0, result.output
    assert "dense (Dense)" in spec.with_suffix(".svg").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"loss": [1, ', "history.json:1:14: error: not valid JSON: Expecting value"),
        ('{"loss": ["a"]}', 'history.json: error: "loss"[0] must be a number or null; got'),
        ("\xff\xfe", "history.json: error: not UTF-8 text (byte 0)"),
    ],
)
def test_a_bad_history_is_one_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(text.encode("latin-1"))
    result = runner.invoke(app, ["plot", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"{tmp_path}/{message}")
    assert not path.with_suffix(".png").exists()


def test_a_bad_spec_prints_its_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("specc: 1\nlayers:\n  - {type: Dense, units: 0, input_shape: [3]}\n")
    result = runner.invoke(app, ["plot", str(path)])
    assert result.exit_code == 1
    assert "units" in result.output and "[SPC" in result.output
    assert not path.with_suffix(".svg").exists()


@pytest.mark.parametrize("name", ["model.pdf", "model", "model.svg.txt"])
def test_another_extension_is_refused(spec: Path, tmp_path: Path, name: str) -> None:
    result = runner.invoke(app, ["plot", str(spec), "--out", str(tmp_path / name)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: cannot tell the picture's format from {name}: give a file name ending in "
        ".png or .svg\n"
    )
    assert not (tmp_path / name).exists()


def test_without_matplotlib_curves_and_png_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, history: Path, spec: Path, tmp_path: Path
) -> None:
    _no_matplotlib(monkeypatch)
    result = runner.invoke(app, ["plot", str(history)])
    assert result.exit_code == 1
    assert result.output == (
        'error: drawing learning curves needs matplotlib: pip install "specc[plot]"\n'
    )
    result = runner.invoke(app, ["plot", str(spec), "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 1
    assert result.output == (
        'error: drawing a PNG picture needs matplotlib: pip install "specc[plot]"\n'
    )
    # SVG needs no drawing library.
    result = runner.invoke(app, ["plot", str(spec)])
    assert result.exit_code == 0, result.output
    assert spec.with_suffix(".svg").exists()


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny spec and its data, for a one-second training run."""
    for name, content in tiny_files().items():
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path / "tiny.yaml", tmp_path / "data.npz"


def test_train_leaves_history_png(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    spec, data = tiny
    out = tmp_path / "out"
    args = ["train", str(spec), "--data", str(data), "--epochs", "2", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'history.png'}" in result.output
    assert "note:" not in result.output
    width, height = png_size((out / "history.png").read_bytes())
    assert width > 500 and height > 300
    # A rerun into the same folder replaces the picture with the rest.
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output


def test_train_without_matplotlib_notes_how_to_get_the_picture(
    monkeypatch: pytest.MonkeyPatch, tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    spec, data = tiny
    out = tmp_path / "out"
    _no_matplotlib(monkeypatch)
    args = ["train", str(spec), "--data", str(data), "--epochs", "1", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: no history.png: drawing the learning curves needs matplotlib (pip install "
        f'"specc[plot]"; then specc plot {out / "history.json"})'
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint",
        "history.json",
        "model.onnx",
        "run.json",
        "spec.json",
        "weights.npz",
    ]
