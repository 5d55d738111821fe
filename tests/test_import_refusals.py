"""``specc import`` refuses what it cannot map, each thing by its path in the config, and
reads a ``.keras`` zip and its HDF5 weights as untrusted data."""

from __future__ import annotations

import builtins
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.importer import import_model
from specc.limits import DEFAULT_LIMITS, Limits

MODELS = Path(__file__).parent / "data" / "keras_models"
runner = CliRunner()
h5py = pytest.importorskip("h5py", reason="specc import reads weights with h5py")


def _errors(model: Path, weights: Path | None = None, limits: Limits = DEFAULT_LIMITS) -> list:
    with pytest.raises(SpecError) as caught:
        import_model(model, weights, limits)
    return caught.value.diagnostics


def _config(name: str) -> dict[str, Any]:
    with zipfile.ZipFile(MODELS / f"{name}.keras") as archive:
        return json.loads(archive.read("config.json"))


def _rezip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _members(name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(MODELS / f"{name}.keras") as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def test_lambda_is_refused_at_its_function() -> None:
    (error,) = _errors(MODELS / "with_lambda.keras")
    assert error.dotted_path == "config.layers[2].config.function"
    assert error.file.endswith("with_lambda.keras/config.json")
    assert "pickled Python code" in error.message
    assert error.code == "SPC102-unknown-name"


def test_lambda_in_json_config_has_line_and_column() -> None:
    (error,) = _errors(MODELS / "with_lambda.json", MODELS / "mlp.weights.h5")
    text = (MODELS / "with_lambda.json").read_text().splitlines()
    assert error.position is not None
    line = text[error.position.line - 1]
    assert line[error.position.column - 1 :].startswith("{")  # the function's value
    assert line.lstrip().startswith('"function"')


def test_custom_layer_is_refused_by_its_registered_name() -> None:
    (error,) = _errors(MODELS / "custom_layer.keras")
    assert error.dotted_path == "config.layers[2].class_name"
    assert "tests>Scale" in error.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = _config("with_lambda")
    layers = config["config"]["layers"]
    layers[1]["config"]["kernel_initializer"] = {
        "module": "my_package",
        "class_name": "MyInit",
        "config": {},
        "registered_name": "my_package>MyInit",
    }
    layers[1]["config"]["units_scale"] = 3
    members = _members("with_lambda")
    members["config.json"] = json.dumps(config).encode()
    errors = _errors(_rezip(tmp_path / "m.keras", members))
    assert sorted(e.dotted_path for e in errors) == [
        "config.layers[1].config.kernel_initializer",
        "config.layers[1].config.units_scale",
        "config.layers[2].config.function",
    ]


def test_value_the_spec_refuses_is_located_in_the_config(tmp_path: Path) -> None:
    config = _config("mlp")
    config["config"]["layers"][1]["config"]["units"] = -4
    members = _members("mlp")
    members["config.json"] = json.dumps(config).encode()
    (error,) = _errors(_rezip(tmp_path / "m.keras", members))
    assert error.dotted_path.startswith("config.layers[1].config")
    assert error.file.endswith("m.keras/config.json")


def test_mask_becomes_mask_zero_and_the_not_equal_op_is_dropped() -> None:
    from specc.importer.model import config_to_spec

    spec = config_to_spec(_config("bilstm_mask"), "bilstm_mask.keras/config.json")
    types = [entry.get("type") for entry in spec["layers"]]
    assert types == ["Embedding", "Bidirectional", "Dense"]
    assert spec["layers"][0]["mask_zero"] is True
    assert spec["layers"][1]["inputs"] == "embed"
    # Keras names the copy it runs forwards "forward_<name>"; the spec names the layer.
    inner = _config("bilstm_mask")["config"]["layers"][3]["config"]["layer"]["config"]["name"]
    assert spec["layers"][1]["layer"]["name"] == inner.removeprefix("forward_")


def test_nested_model_maps_to_models_section() -> None:
    from specc.importer.model import config_to_spec

    spec = config_to_spec(_config("siamese"), "siamese.keras/config.json")
    assert list(spec["models"]) == ["encoder"]
    calls = [e for e in spec["layers"] if e.get("model") == "encoder"]
    assert [c["inputs"] for c in calls] == ["a", "b"]
    assert spec["layers"][2]["inputs"] == [calls[0]["name"], calls[1]["name"]]


# ------------------------------------------------------------------ the zip


def test_declared_size_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    members = _members("mlp")
    members["config.json"] = members["config.json"] + b" " * 5000
    small = Limits(file_size=4096)
    (error,) = _errors(_rezip(tmp_path / "big.keras", members), limits=small)
    assert error.code == "SPC110-limit"
    assert "--limit file_size" in error.message


def test_zip_bomb_weights_are_refused_by_declared_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", _members("mlp")["config.json"])
        archive.writestr("model.weights.h5", b"\0" * (2 * 2**20))
    assert path.stat().st_size < 20_000
    (error,) = _errors(path, limits=Limits(data_bytes=2**20))
    assert error.code == "SPC110-limit"


def test_other_members_are_never_read_or_written(tmp_path: Path) -> None:
    members = _members("mlp")
    members["../../escape.txt"] = b"x"
    members["/etc/evil"] = b"x"
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["import", str(_rezip(tmp_path / "m.keras", members)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["spec.yaml", "weights.npz"]
    assert not (tmp_path.parent / "escape.txt").exists()


def test_not_a_model_file(tmp_path: Path) -> None:
    (tmp_path / "a.keras").write_bytes(b"PK\x03\x04 not really a zip")
    (error,) = _errors(tmp_path / "a.keras")
    assert error.code == "SPC105-file"
    no_config = _rezip(tmp_path / "b.keras", {"metadata.json": b"{}"})
    (error,) = _errors(no_config)
    assert "no config.json" in error.message


# ------------------------------------------------------------------ the weights


def _with_weights(tmp_path: Path, change: Any) -> Path:
    members = _members("mlp")
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as h5:
        change(h5)
    members["model.weights.h5"] = buffer.getvalue()
    return _rezip(tmp_path / "w.keras", members)


def test_weight_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    def reshape(h5: Any) -> None:
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = [0.0] * 9

    (error,) = _errors(_with_weights(tmp_path, reshape))
    assert error.code == "SPC413-weight-shape"
    assert "dense/bias" in error.message and "[9]" in error.message


def test_weight_that_is_not_float_is_refused(tmp_path: Path) -> None:
    def to_strings(h5: Any) -> None:
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = [b"abcdefgh"] * 8

    (error,) = _errors(_with_weights(tmp_path, to_strings))
    assert "floating-point" in error.message


def test_missing_and_linked_weights_are_refused(tmp_path: Path) -> None:
    def link(h5: Any) -> None:
        del h5["layers/dense_1/vars/1"]
        h5["layers/dense_1/vars/1"] = h5py.ExternalLink("/etc/other.h5", "/x")

    (error,) = _errors(_with_weights(tmp_path, link))
    assert error.code == "SPC412-missing-weight"
    assert "'probs'" in error.message


def test_missing_h5py_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_h5py(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    result = runner.invoke(app, ["import", str(MODELS / "mlp.keras"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "pip install 'specc[import]'" in result.output
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ the command


def test_refused_model_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "import",
            str(MODELS / "with_lambda.keras"),
            "--out",
            str(tmp_path / "o"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1
    (diagnostic,) = json.loads(result.stdout)
    assert diagnostic["path"] == "config.layers[2].config.function"
    assert not (tmp_path / "o").exists()


def test_usage_errors(tmp_path: Path) -> None:
    weights = str(MODELS / "mlp.weights.h5")
    both = runner.invoke(
        app, ["import", str(MODELS / "mlp.keras"), "--out", str(tmp_path), "--weights", weights]
    )
    assert both.exit_code == 2 and "--weights" in both.output
    neither = runner.invoke(app, ["import", str(MODELS / "mlp.json"), "--out", str(tmp_path)])
    assert neither.exit_code == 2 and "--weights" in neither.output


def test_help_says_what_it_does() -> None:
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0
    assert ".keras" in result.output and "--weights" in result.output


def test_file_name_cannot_add_lines_to_the_spec(tmp_path: Path) -> None:
    model = tmp_path / "m\nlayers: []\n.keras"
    model.write_bytes((MODELS / "mlp.keras").read_bytes())
    out = tmp_path / "out"
    result = runner.invoke(app, ["import", str(model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "spec.yaml").read_text()
    assert text.splitlines()[0].startswith("# Imported by specc import from m?layers")
    assert "\nlayers: []" not in text


def test_not_equal_mask_of_ids_no_embedding_masks_is_refused() -> None:
    from specc.importer.model import config_to_spec

    config = _config("bilstm_mask")
    config["config"]["layers"][1]["config"]["mask_zero"] = False
    with pytest.raises(SpecError) as caught:
        config_to_spec(config, "m.keras/config.json")
    (error,) = caught.value.diagnostics
    assert error.dotted_path == "config.layers[2]"
    assert "NotEqual" in error.message


def test_output_folder_with_other_files_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["import", str(MODELS / "mlp.keras"), "--out", str(out)])
    assert result.exit_code == 2
    assert "notes.txt" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
