"""``specc import``: Keras 3.15.1 models (tests/data/keras_models, made by
tests/keras_reference/make_keras_models.py) imported, built and run give Keras's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.onnx_model import to_model_proto
from specc.pipeline import check_text, compile_spec
from tests.spec_helpers import quiet_session

pytest.importorskip("h5py", reason="specc import reads weights with h5py (specc[import])")

MODELS = Path(__file__).parent / "data" / "keras_models"
runner = CliRunner()


def _supports(spec_text: str) -> str | None:
    """None when this build of specc takes ``spec_text``, else the first error."""
    try:
        check_text(spec_text)
    except SpecError as error:
        return error.diagnostics[0].message
    return None


MASKS = _supports(
    "specc: 1\ninputs: {t: {shape: [4], dtype: int32}}\nlayers:\n"
    "  - {type: Embedding, input_dim: 5, output_dim: 2, mask_zero: true}\n"
    "  - {type: LSTM, units: 2}\n"
)
NESTED = _supports(
    "specc: 1\ninputs: {a: {shape: [3]}}\n"
    "models: {enc: {inputs: {x: {shape: [3]}}, layers: [{type: Dense, units: 2}]}}\n"
    "layers: [{name: e, model: enc, inputs: [a]}]\n"
)
NEEDS = {
    "bilstm_mask": (MASKS, "masks (Embedding mask_zero)"),
    "siamese": (NESTED, "nested models (models:)"),
}


def _import(model: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["import", str(model), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output


def _run(folder: Path, io: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    compiled = compile_spec(folder / "spec.yaml", folder / "weights.npz")
    model = to_model_proto(compiled.graph)
    onnx.checker.check_model(model, full_check=True)
    session = quiet_session(model)
    feeds = {i.name: io[f"in:{k}"] for k, i in enumerate(session.get_inputs())}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


@pytest.mark.parametrize(
    "name",
    [
        "mlp",
        "cnn",
        "compiled",
        "layer_zoo",
        "bilstm",
        "shared_layer",
        "multi_output",
        "transformer",
        "causal_attention",
        "bilstm_mask",
        "siamese",
    ],
)
def test_imported_model_computes_what_keras_computes(name: str, tmp_path: Path) -> None:
    missing, feature = NEEDS.get(name, (None, ""))
    if missing is not None:
        pytest.skip(f"this specc has no {feature}: {missing}")
    _import(MODELS / f"{name}.keras", tmp_path / "out")
    with np.load(MODELS / f"{name}.io.npz") as stored:
        io = dict(stored)
    outputs = _run(tmp_path / "out", io)
    expected = {k.removeprefix("out:"): v for k, v in io.items() if k.startswith("out:")}
    assert set(outputs) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(outputs[key], value, rtol=1e-5, atol=1e-5, err_msg=key)


def test_json_config_with_weights_file(tmp_path: Path) -> None:
    _import(MODELS / "mlp.json", tmp_path / "out", "--weights", str(MODELS / "mlp.weights.h5"))
    with np.load(MODELS / "mlp.io.npz") as stored:
        io = dict(stored)
    outputs = _run(tmp_path / "out", io)
    np.testing.assert_allclose(outputs["probs"], io["out:probs"], rtol=1e-5, atol=1e-5)


def test_spec_keeps_names_and_compile_section(tmp_path: Path) -> None:
    _import(MODELS / "multi_output.keras", tmp_path / "out")
    text = (tmp_path / "out" / "spec.yaml").read_text()
    assert "outputs: [score, category]" in text
    assert "type: RMSprop" in text
    assert "score: binary_crossentropy" in text
    with np.load(tmp_path / "out" / "weights.npz") as weights:
        assert sorted(weights) == sorted(
            f"{layer}/{w}" for layer in ("trunk", "score", "category") for w in ("kernel", "bias")
        )


def test_batch_normalization_moving_statistics_are_imported(tmp_path: Path) -> None:
    _import(MODELS / "cnn.keras", tmp_path / "out")
    with np.load(tmp_path / "out" / "weights.npz") as weights:
        variance = weights["batch_normalization/moving_variance"]
    # The generator moved them off their initial ones.
    assert not np.allclose(variance, 1.0)


def test_compile_objects_become_the_compile_section(tmp_path: Path) -> None:
    _import(MODELS / "compiled.keras", tmp_path / "out")
    compiled = compile_spec(tmp_path / "out" / "spec.yaml", tmp_path / "out" / "weights.npz")
    section = compiled.compile
    assert section is not None
    assert type(section.optimizer).__name__ == "Adam"
    assert type(section.optimizer.learning_rate).__name__ == "ExponentialDecay"
    assert section.loss.from_logits is True
