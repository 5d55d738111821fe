"""specc.emit.mobile: the ORT-format bundle, its int8 model and on-device training artifacts.

The .ort models must compute what the .onnx models compute; the int8 model must report
its size and accuracy change; the training artifacts must load from their .ort files in
onnxruntime-training's API, train, and update the weights exactly as specc train's NumPy
Keras rules do for every optimizer the bundle accepts.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from specc.diagnostics import SpecError
from specc.emit.mobile import export_mobile
from specc.emit.source import load_source
from specc.optimizers import Optimizer
from specc.random_ops import RANDOM_STEP
from specc.train.run import TrainOptions, prepare, train_spec, write_outputs
from specc.train.updates import make_update
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import ROOT, write_spec

# The training artifacts (with_training) are onnxruntime-training's: those tests are
# marked ort_training; the inference bundle runs on stock onnxruntime.
if HAVE_ORT_TRAINING:
    from specc.train.engine import CheckpointState, Module
    from specc.train.engine import Optimizer as EngineOptimizer
    from specc.train.session import TrainingSession

MODELS = ROOT / "models"
DIGITS = MODELS / "data" / "digits.npz"
_spec = importlib.util.spec_from_file_location("generate", MODELS / "data" / "generate.py")
assert _spec is not None and _spec.loader is not None
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)


def _config_ops(path: Path) -> set[str]:
    """Operator names in a required_operators.config (``domain;opset;Op,Op``)."""
    ops: set[str] = set()
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            domain, opset, names = line.split(";")
            assert domain in ("ai.onnx", "com.microsoft") and opset.isdigit()
            ops.update(names.split(","))
    return ops


@pytest.mark.parametrize(
    ("name", "expected_ops"),
    [
        ("mnist_cnn", {"MaxPool", "Softmax"}),
        ("imdb_bilstm", {"LSTM", "Gather", "Sigmoid"}),
        ("ticket_classifier", {"LSTM", "Gather", "Concat"}),
    ],
)
def test_ort_model_matches_onnx(tmp_path: Path, name: str, expected_ops: set[str]) -> None:
    source = load_source(MODELS / f"{name}.yaml")
    files = export_mobile(source, tmp_path)
    assert [p.name for p in files] == [
        "model.ort",
        "required_operators.config",
        "model.json",
        "README.md",
    ]
    assert all(size > 0 for size in files.sizes.values())
    data = generate.make_dataset(MODELS / f"{name}.yaml", samples=16, seed=0)
    feeds = {i["name"]: data[i["name"]] for i in source.description["inputs"]}
    want = ort.InferenceSession(source.model.SerializeToString()).run(None, feeds)
    got = ort.InferenceSession(str(tmp_path / "model.ort")).run(None, feeds)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)
    assert expected_ops <= _config_ops(tmp_path / "required_operators.config")
    description = json.loads((tmp_path / "model.json").read_text())
    assert description["outputs"] == source.description["outputs"]
    # The installed release wrote the files (1.19.2 with the ort-training install).
    assert description["mobile"]["onnxruntime"] == ort.__version__
    assert f"onnxruntime-android:{ort.__version__}" in description["mobile"]["packages"]["android"]
    assert "model.ort" in (tmp_path / "README.md").read_text()


@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits_mlp after 5 epochs on the shipped digits (about half a second)."""
    options = TrainOptions(epochs=5, validation_split=0.0, seed=0)
    result = train_spec(MODELS / "digits_mlp.yaml", DIGITS, options)
    folder = tmp_path_factory.mktemp("digits") / "trained"
    write_outputs(result, folder)
    return folder


def test_int8_reports_size_and_accuracy(tmp_path: Path, trained_digits: Path) -> None:
    source = load_source(trained_digits)
    files = export_mobile(source, tmp_path, quantize="int8", data=DIGITS)
    assert {"model.ort", "model.int8.ort", "quantization.json"} <= {p.name for p in files}
    report = files.quantization
    assert report == json.loads((tmp_path / "quantization.json").read_text())
    size = report["size"]
    assert size["float_bytes"] == (tmp_path / "model.ort").stat().st_size
    assert size["int8_bytes"] == (tmp_path / "model.int8.ort").stat().st_size
    assert size["int8_bytes"] < 0.5 * size["float_bytes"]
    digit = report["accuracy"]["outputs"]["digit"]
    assert report["accuracy"]["samples"] == 1797
    assert digit["classification"] == "multiclass"
    assert digit["float_accuracy"] > 0.9
    assert abs(digit["accuracy_change"]) < 0.02
    assert digit["agreement"] > 0.97
    assert 0 < digit["mean_abs_diff"] <= digit["max_abs_diff"] < 0.1
    # The int8 model runs with the same inputs and gives the same outputs.
    x = np.load(DIGITS)["pixels"][:8]
    (float_out,) = ort.InferenceSession(str(tmp_path / "model.ort")).run(None, {"pixels": x})
    (int8_out,) = ort.InferenceSession(str(tmp_path / "model.int8.ort")).run(None, {"pixels": x})
    assert int8_out.shape == float_out.shape
    assert "com.microsoft;1;" in (tmp_path / "required_operators.config").read_text()


def test_int8_without_data_reports_size_only(tmp_path: Path) -> None:
    files = export_mobile(load_source(MODELS / "ticket_classifier.yaml"), tmp_path, "int8")
    assert files.quantization["accuracy"]["measured"] is False
    assert files.quantization["size"]["saved_bytes"] > 0
    assert set(files.quantization["quantized_ops"]) >= {"Gather", "LSTM"}
    with pytest.raises(ValueError, match="--quantize must be one of: int8; got 'int4'"):
        export_mobile(load_source(MODELS / "digits_mlp.yaml"), tmp_path, quantize="int4")
    with pytest.raises(ValueError, match="add --quantize int8"):
        export_mobile(load_source(MODELS / "digits_mlp.yaml"), tmp_path, data=DIGITS)


def _engine(folder: Path, eval_model: str = "eval_model.ort") -> tuple[Any, Any, Any]:
    state = CheckpointState.load_checkpoint(str(folder / "checkpoint"))
    module = Module(str(folder / "training_model.ort"), state, str(folder / eval_model))
    optimizer = EngineOptimizer(str(folder / "optimizer_model.ort"), module)
    return state, module, optimizer


@pytest.mark.ort_training
def test_training_artifacts_train_from_ort_files(tmp_path: Path, trained_digits: Path) -> None:
    spec = MODELS / "digits_mlp.yaml"
    files = export_mobile(
        load_source(spec), tmp_path, with_training=True, training_engine="ort-training"
    )
    folder = tmp_path / "training"
    names = {p.relative_to(tmp_path).as_posix() for p in files}
    assert {
        f"training/{n}.ort" for n in ("training_model", "eval_model", "optimizer_model")
    } <= names
    assert "training/checkpoint" in names
    _, module, optimizer = _engine(folder)
    # The flag is baked in: the app feeds inputs, targets and the random step, in this order.
    info = json.loads((folder / "training.json").read_text())
    assert list(module.input_names()) == [i["name"] for i in info["inputs"]]
    assert list(module.input_names()) == ["pixels", "digit.target", RANDOM_STEP]
    assert info["random_step"]["name"] == RANDOM_STEP
    assert list(module.output_names()) == ["loss", "digit_loss", "digit"]
    data = np.load(DIGITS)
    x, y = data["pixels"][:64], data["digit"][:64]
    optimizer.set_learning_rate(1e-3)
    module.eval()
    before = float(module(x, y)[0])
    module.train()
    # Dropout is on in the training model and draws from the step the app feeds: the same
    # step draws the same masks, the next one others.
    first, second = (module(x, y, np.array(step))[2] for step in (0, 1))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(module(x, y, np.array(0))[2], first)
    module.lazy_reset_grad()
    for step in range(8):
        module(x, y, np.array(step))
        optimizer.step()
        module.lazy_reset_grad()
    module.eval()
    after = float(module(x, y)[0])
    assert after < before
    # ...and off in the eval model: evaluation is deterministic.
    np.testing.assert_array_equal(module(x, y)[2], module(x, y)[2])

    # A trained folder needs the spec; its weights are the ones exported.
    with pytest.raises(SpecError, match="SPC511-export-source"):
        export_mobile(
            load_source(trained_digits),
            tmp_path / "no-spec",
            with_training=True,
            training_engine="ort-training",
        )
    export_mobile(
        load_source(trained_digits),
        tmp_path / "b",
        with_training=True,
        training_engine="ort-training",
        spec=spec,
    )
    state, module, _ = _engine(tmp_path / "b" / "training", "eval_model.onnx")
    exported = load_source(trained_digits).model.graph.initializer
    for tensor in exported:
        if tensor.name == "dense.kernel":
            np.testing.assert_array_equal(
                state.parameters["dense.kernel"].data, numpy_helper.to_array(tensor)
            )
    # The shipped eval_model.onnx lets the engine export an inference model.
    module.export_model_for_inferencing(str(tmp_path / "inference.onnx"), ["digit"])
    session = ort.InferenceSession(str(tmp_path / "inference.onnx"))
    (probabilities,) = session.run(["digit"], {"pixels": x})
    (reference,) = ort.InferenceSession(str(trained_digits / "model.onnx")).run(None, {"pixels": x})
    np.testing.assert_allclose(probabilities, reference, atol=1e-6)


def _tiny_spec(directory: Path, optimizer: Any) -> Path:
    return write_spec(
        directory,
        {
            "specc": 1,
            "name": "tiny",
            "inputs": {"x": {"shape": [5]}},
            "layers": [
                {"name": "hidden", "type": "Dense", "units": 6, "activation": "tanh"},
                {
                    "name": "out",
                    "type": "Dense",
                    "units": 3,
                    "activation": "softmax",
                    "kernel_regularizer": {"type": "L2", "l2": 0.01},
                },
            ],
            "compile": {"optimizer": optimizer, "loss": "sparse_categorical_crossentropy"},
        },
    )


EXACT = {
    "adam": {"type": "Adam", "learning_rate": 0.05},
    "adamw-wd0-betas-eps": {
        "type": "AdamW",
        "weight_decay": 0,
        "learning_rate": 0.05,
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-3,
    },
    "adam-schedule-clipvalue": {
        "type": "Adam",
        "learning_rate": {
            "type": "ExponentialDecay",
            "initial_learning_rate": 0.05,
            "decay_steps": 2,
            "decay_rate": 0.5,
        },
        "clipvalue": 0.05,
    },
    "sgd": "sgd",
    "sgd-weight-decay-global-clipnorm": {
        "type": "SGD",
        "learning_rate": 0.3,
        "weight_decay": 0.05,
        "global_clipnorm": 0.2,
    },
    "sgd-momentum-clipnorm": {
        "type": "SGD",
        "learning_rate": 0.2,
        "momentum": 0.9,
        "clipnorm": 0.1,
    },
}
STEPS = 5


@pytest.mark.ort_training
@pytest.mark.slow
@pytest.mark.parametrize("optimizer", EXACT.values(), ids=EXACT.keys())
def test_mobile_updates_equal_specc_train(tmp_path: Path, optimizer: Any) -> None:
    spec = _tiny_spec(tmp_path, optimizer)
    source = load_source(spec)
    export_mobile(source, tmp_path / "bundle", with_training=True, training_engine="ort-training")
    state, module, engine_optimizer = _engine(tmp_path / "bundle" / "training")

    # specc train's path: the same graph and weights, NumPy Keras updates on the buffers.
    compiled, training = prepare(spec, None, 0)
    for tensor in source.model.graph.initializer:
        if tensor.name in training.graph.initializers:
            training.graph.initializers[tensor.name] = numpy_helper.to_array(tensor)
    session = TrainingSession(training)
    config: Optimizer = compiled.typed.resolved.spec.compile.optimizer  # type: ignore[union-attr]
    names = training.trainable
    update = make_update(config, session.parameters(names))

    rng = np.random.default_rng(0)
    module.train()
    for step in range(STEPS):
        x = rng.standard_normal((16, 5)).astype(np.float32)
        y = rng.integers(0, 3, 16)
        engine_optimizer.set_learning_rate(config.learning_rate_at(step))
        mobile_loss = float(module(x, y)[0])
        engine_optimizer.step()
        module.lazy_reset_grad()
        outputs = session.train_step({"x": x, "out.target": y})
        update.step(session.parameters(names), session.gradients())
        session.reset_gradients()
        assert mobile_loss == pytest.approx(float(outputs["loss"]), rel=1e-5)
    for name in names:
        want = session.parameters([name])[name]
        got = state.parameters[name].data
        start = numpy_helper.to_array(
            next(t for t in source.model.graph.initializer if t.name == name)
        )
        # Relative to how far the weights moved: float32 rounding, not a different rule.
        moved = np.abs(want - start).max()
        assert moved > 0
        assert np.abs(got - want).max() <= 1e-4 * moved + 1e-7, name
    session.close()


REFUSED = {
    "rmsprop": ("rmsprop", "epsilon"),
    "adam-weight-decay": ({"type": "Adam", "weight_decay": 0.01}, "before the Adam step"),
    "adamw-default": ("adamw", "weight_decay=0.004"),
    "amsgrad": ({"type": "Adam", "amsgrad": True}, "AMSGrad"),
    "nesterov": ({"type": "SGD", "momentum": 0.9, "nesterov": True}, "Nesterov"),
    "momentum-schedule": (
        {
            "type": "SGD",
            "momentum": 0.5,
            "learning_rate": {
                "type": "InverseTimeDecay",
                "initial_learning_rate": 0.1,
                "decay_steps": 1,
                "decay_rate": 0.5,
            },
        },
        "constant learning_rate",
    ),
    "nadam": ("nadam", "no fused kernel"),
    "lion": ("lion", "neither fused kernel computes a sign of its state"),
}


@pytest.mark.ort_training
@pytest.mark.parametrize(("optimizer", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_inexact_optimizers_are_refused(tmp_path: Path, optimizer: Any, reason: str) -> None:
    spec = _tiny_spec(tmp_path, optimizer)
    with pytest.raises(SpecError) as caught:
        export_mobile(
            load_source(spec),
            tmp_path / "bundle",
            with_training=True,
            training_engine="ort-training",
        )
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "SPC512-mobile-optimizer"
    assert reason in diagnostic.message
    assert "Adam and AdamW with weight_decay 0" in diagnostic.message
    assert "SGD without momentum" in diagnostic.message
    assert diagnostic.file == str(spec) and diagnostic.position is not None
    assert not (tmp_path / "bundle").exists()  # refused before anything is written


@pytest.mark.ort_training
def test_rmsprop_example_is_refused() -> None:
    with pytest.raises(SpecError, match="SPC512-mobile-optimizer") as caught:
        export_mobile(
            load_source(MODELS / "mnist_mlp.yaml"),
            Path("unused"),
            with_training=True,
            training_engine="ort-training",
        )
    assert "optimizer RMSprop cannot run exactly" in str(caught.value)


@pytest.mark.ort_training
def test_constraints_and_batch_norm_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        export_mobile(
            load_source(MODELS / "dense_stack.yaml"),
            tmp_path,
            with_training=True,
            training_engine="ort-training",
        )
    codes = {d.code for d in caught.value.diagnostics}
    assert codes == {"SPC513-mobile-training"}
    assert len(caught.value.diagnostics) == 2  # both constrained kernels, in one error
    spec = write_spec(
        tmp_path,
        {
            "specc": 1,
            "name": "bn",
            "inputs": {"x": {"shape": [4]}},
            "layers": [{"type": "Dense", "units": 3}, {"name": "bn", "type": "BatchNormalization"}],
            "compile": {"optimizer": "adam", "loss": "mse"},
        },
    )
    with pytest.raises(SpecError, match="moving statistics") as caught:
        export_mobile(
            load_source(spec), tmp_path / "bn", with_training=True, training_engine="ort-training"
        )
    assert "(bn)" in str(caught.value)


def test_cli_prints_the_int8_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specc.cli.app import app

    spec = Path(__file__).resolve().parent.parent / "models" / "digits_mlp.yaml"
    digits = spec.parent / "data" / "digits.npz"
    args = ["export", str(spec), "--target", "mobile", "--quantize", "int8", "--data", str(digits)]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bundle")])
    assert result.exit_code == 0, result.output
    assert re.search(r"int8: [\d,]+ -> [\d,]+ bytes \(\d+% of the float model\)", result.output)
    assert "digit: max |diff|" in result.output
    assert "same prediction" in result.output
