"""The command line through Typer's CliRunner: exit codes, formats, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.weights import save_weights
from tests.spec_helpers import ROOT

MLP = ROOT / "models" / "mnist_mlp.yaml"
BAD = "specc: 1\nlayers:\n  - {type: Dense, units: 4, input_shape: [3], activation: rleu}\n"

runner = CliRunner()


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_no_top_level_cli_package(tmp_path: Path) -> None:
    # Run outside the checkout, where only what is installed can be imported.
    probe = (
        "import importlib.util as u; "
        "print(u.find_spec('cli') is None, u.find_spec('specc.cli') is not None)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.parametrize("args", [[], ["validate"], ["build"]])
def test_help_everywhere(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_validate_valid_spec_exits_0() -> None:
    result = runner.invoke(app, ["validate", str(MLP)])
    assert result.exit_code == 0, result.output
    assert "ok (5 layers, 669,706 parameters)" in result.output


def test_validate_invalid_spec_exits_1_with_location(bad_spec: Path) -> None:
    result = runner.invoke(app, ["validate", str(MLP), str(bad_spec)])
    assert result.exit_code == 1
    assert (
        f"{bad_spec}:3:59: error: unknown activation 'rleu'; did you mean 'relu'? "
        "(at layers[0].activation) [SPC102-unknown-name]"
    ) in result.output
    assert "Traceback" not in result.output


def test_validate_json_format(bad_spec: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(bad_spec), str(MLP)])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert [f["valid"] for f in payload["files"]] == [False, True]
    (problem,) = payload["diagnostics"]
    assert (problem["line"], problem["column"], problem["code"]) == (3, 59, "SPC102-unknown-name")
    assert problem["path"] == "layers[0].activation"


def test_validate_github_format(bad_spec: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "github", str(bad_spec)])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"::error file={bad_spec},line=3,col=59,title=SPC102-unknown-name::"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["validate", "missing.yaml"],
        ["validate", "--format", "xml", str(MLP)],
        ["build", str(MLP), "--opset", "16"],
        ["build", str(MLP), "--opset", "22"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize("opset", [17, 21])
def test_build_writes_a_checked_model(tmp_path: Path, opset: int) -> None:
    out = tmp_path / "mlp.onnx"
    result = runner.invoke(app, ["build", str(MLP), "-o", str(out), "--opset", str(opset)])
    assert result.exit_code == 0, result.output
    assert "Total params: 669,706" in result.output
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    assert [i.name for i in model.graph.input] == ["input_layer"]
    assert [o.name for o in model.graph.output] == ["dense_2"]
    session = ort.InferenceSession(str(out))
    (probs,) = session.run(None, {"input_layer": np.zeros((2, 784), np.float32)})
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_build_quiet_prints_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(MLP), "-o", str(tmp_path / "m.onnx"), "--quiet"])
    assert result.exit_code == 0
    assert result.output == ""


def test_build_invalid_spec_exits_1(tmp_path: Path, bad_spec: Path) -> None:
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["build", str(bad_spec), "-o", str(out)])
    assert result.exit_code == 1
    assert "did you mean 'relu'?" in result.output
    assert not out.exists()


def test_build_with_weights_uses_them(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("specc: 1\nlayers:\n  - {type: Dense, units: 2, input_shape: [3]}\n")
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    save_weights(tmp_path / "w.npz", {"dense/kernel": kernel, "dense/bias": np.ones(2, np.float32)})
    out = tmp_path / "s.onnx"
    result = runner.invoke(app, ["build", str(spec), "-o", str(out), "-w", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    (y,) = ort.InferenceSession(str(out)).run(None, {"input_layer": x})
    np.testing.assert_array_equal(y, x @ kernel + 1.0)


def test_build_with_wrong_weights_names_keys_and_shapes(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("specc: 1\nlayers:\n  - {type: Dense, units: 2, input_shape: [3]}\n")
    weights = tmp_path / "w.npz"
    save_weights(
        weights, {"dense/kernel": np.zeros((2, 3), np.float32), "dense/gamma": np.zeros(2)}
    )
    result = runner.invoke(
        app, ["build", str(spec), "-o", str(tmp_path / "o.onnx"), "-w", str(weights)]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        f"{weights}: error: weight 'dense/kernel' has shape (2, 3); the spec needs (3, 2) "
        "[SPC413-weight-shape]",
        f"{weights}: error: missing weight 'dense/bias' of shape (2,) [SPC412-missing-weight]",
        f"{weights}: error: weight 'dense/gamma' is not a weight of this spec "
        "(its weights: dense/bias, dense/kernel) [SPC414-extra-weight]",
    ]


def test_build_seed_makes_weights_reproducible(tmp_path: Path) -> None:
    outs = []
    for k in range(3):
        out = tmp_path / f"m{k}.onnx"
        seed = ["--seed", "5"] if k < 2 else []
        assert runner.invoke(app, ["build", str(MLP), "-o", str(out), "-q", *seed]).exit_code == 0
        outs.append(onnx.numpy_helper.to_array(onnx.load(str(out)).graph.initializer[0]))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_save_weights_round_trips_through_weights(tmp_path: Path) -> None:
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    saved = tmp_path / "w.npz"
    result = runner.invoke(app, ["build", str(MLP), "-o", str(first), "--save-weights", str(saved)])
    assert result.exit_code == 0, result.output
    with np.load(saved) as archive:
        assert sorted(archive.files) == sorted(
            f"{layer}/{w}" for layer in ("dense", "dense_1", "dense_2") for w in ("kernel", "bias")
        )
        assert archive["dense/kernel"].shape == (784, 512)
    result = runner.invoke(app, ["build", str(MLP), "-o", str(second), "-q", "-w", str(saved)])
    assert result.exit_code == 0, result.output
    x = np.random.default_rng(0).normal(size=(3, 784)).astype(np.float32)
    (a,) = ort.InferenceSession(str(first)).run(None, {"input_layer": x})
    (b,) = ort.InferenceSession(str(second)).run(None, {"input_layer": x})
    np.testing.assert_array_equal(a, b)
