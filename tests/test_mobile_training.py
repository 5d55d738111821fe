"""On-device training with the standard engine: specc train's step graph as ORT-format files.

The exported ``train_step.ort`` is run here through onnxruntime's InferenceSession (the
runtime the phones use) exactly as the bundle's README tells an app to drive it: the state
read from ``state.bin`` at ``training.json``'s offsets, each step fed the batch and the
state, every ``next/<name>`` output taken as the next state. Its losses must be specc
train's default backend's (``StandardSession``) on the same fixed batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.emit.mobile import export_mobile
from specc.emit.source import load_source
from specc.emit.step_export import model_weights, take_weights
from specc.emit.step_files import read_state
from specc.metrics.base import Totals
from specc.optimizers import OPTIMIZERS
from specc.train.evaluate import evaluate_spec
from specc.train.fit import constraints_of
from specc.train.graph import TrainingGraph
from specc.train.run import TrainOptions, prepare, train_spec, write_outputs
from specc.train.standard import StandardSession
from specc.weights import save_weights
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import write_spec
from tests.test_export_web import export as export_cli
from tests.test_web_training import BINARY_METRICS, binary_rows

STEPS = 20
BATCH = 16
FEATURES = 6
CLASSES = 3

NADAM_DROPOUT = {
    "specc": 1,
    "name": "nadam_dropout",
    "inputs": {"x": {"shape": [FEATURES]}},
    "layers": [
        {"name": "hidden", "type": "Dense", "units": 12, "activation": "relu"},
        {"name": "drop", "type": "Dropout", "rate": 0.3},
        {"name": "out", "type": "Dense", "units": CLASSES, "activation": "softmax"},
    ],
    "compile": {
        "optimizer": {
            "type": "Nadam",
            "learning_rate": {
                "type": "ExponentialDecay",
                "initial_learning_rate": 0.05,
                "decay_steps": 3,
                "decay_rate": 0.7,
            },
        },
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    },
    "train": {"seed": 7},
}
BATCH_NORM_MAX_NORM = {
    "specc": 1,
    "name": "batch_norm_max_norm",
    "inputs": {"x": {"shape": [FEATURES]}},
    "layers": [
        {"name": "hidden", "type": "Dense", "units": 8},
        {"name": "bn", "type": "BatchNormalization", "momentum": 0.8},
        {"name": "act", "type": "Activation", "activation": "tanh"},
        {
            "name": "out",
            "type": "Dense",
            "units": CLASSES,
            "activation": "softmax",
            "kernel_constraint": {"type": "MaxNorm", "max_value": 0.4},
        },
    ],
    "compile": {
        "optimizer": {"type": "SGD", "learning_rate": 0.2, "momentum": 0.9},
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    },
}
CASES = {"nadam-schedule-dropout": NADAM_DROPOUT, "batch-norm-max-norm": BATCH_NORM_MAX_NORM}


def _batches(seed: int = 0, steps: int = STEPS) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "x": rng.standard_normal((BATCH, FEATURES)).astype(np.float32),
            "out.target": rng.integers(0, CLASSES, BATCH).astype(np.int64),
        }
        for _ in range(steps)
    ]


def _app_state(folder: Path, info: dict[str, Any]) -> dict[str, np.ndarray]:
    """The state as an app reads it: raw little-endian tensors at the listed offsets."""
    data = (folder / info["state"]["file"]).read_bytes()
    kinds = {"float32": "<f4", "int64": "<i8"}
    state = {}
    for t in info["state"]["tensors"]:
        count = t["bytes"] // np.dtype(kinds[t["dtype"]]).itemsize
        array = np.frombuffer(data, kinds[t["dtype"]], count, t["offset"])
        state[t["name"]] = array.reshape(t["shape"])
    return state


@dataclass
class Run:
    """One case exported, and trained for STEPS steps both ways."""

    spec: Path
    bundle: Path
    info: dict[str, Any]
    app_losses: list[float]
    reference_losses: list[float]
    app_state: dict[str, np.ndarray]
    reference_state: dict[str, np.ndarray]
    initial_state: dict[str, np.ndarray]
    # The exported model (a spec exported without --weights draws fresh weights).
    model: onnx.ModelProto


def _export(spec: Path, folder: Path) -> tuple[Any, Path, dict[str, Any]]:
    """``spec`` exported for mobile with training into ``folder/bundle``: its source, the
    bundle's training folder and training.json."""
    source = load_source(spec)
    export_mobile(source, folder / "bundle", with_training=True)
    training_dir = folder / "bundle" / "training"
    return source, training_dir, json.loads((training_dir / "training.json").read_text())


def _reference(spec: Path, source: Any) -> tuple[TrainingGraph, StandardSession]:
    """``specc train``'s default backend on the exported weights of ``source``."""
    compiled, training = prepare(spec, None, None, fused_recurrence=True, weighted=True)
    take_weights(training, model_weights(source.model), str(spec), str(spec))
    reference = StandardSession(training)
    config = compiled.compile
    assert config is not None
    reference.use_optimizer(config.optimizer, constraints=constraints_of(compiled))
    return training, reference


def _run(folder: Path, spec_data: dict[str, Any], steps: int = STEPS) -> Run:
    spec = write_spec(folder, spec_data)
    source, training_dir, info = _export(spec, folder)
    bundle = training_dir.parent

    # The app: state from the files, batch + state in, next/* swapped in.
    session = ort.InferenceSession(str(training_dir / info["train_step"]["file"]))
    state = _app_state(training_dir, info)
    initial = dict(state)
    app_losses = []
    for batch in _batches(steps=steps):
        names = [o.name for o in session.get_outputs()]
        results = dict(zip(names, session.run(None, {**batch, **state}), strict=True))
        app_losses.append(float(results["loss"]))
        state = {t["name"]: results[t["next"]] for t in info["state"]["tensors"]}

    # specc train's default backend on the same weights and batches, in order.
    _, reference = _reference(spec, source)
    reference_losses = []
    for batch in _batches(steps=steps):
        reference_losses.append(float(reference.train_step(batch)["loss"]))
        reference.commit()
    return Run(
        spec,
        bundle,
        info,
        app_losses,
        reference_losses,
        state,
        reference.training_state(),
        initial,
        source.model,
    )


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp(request.param), CASES[request.param])


def test_step_graph_gives_specc_train_losses(run: Run) -> None:
    np.testing.assert_allclose(run.app_losses, run.reference_losses, rtol=1e-5)
    assert len(set(run.app_losses)) == STEPS  # every step trained on
    # The whole state followed: weights, slots, moving statistics, the step counter.
    assert set(run.app_state) == set(run.reference_state)
    for name, value in run.reference_state.items():
        np.testing.assert_allclose(run.app_state[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    assert int(run.app_state["optimizer.iterations"]) == STEPS


def test_state_file_reads_back(run: Run) -> None:
    folder = run.bundle / "training"
    tensors = run.info["state"]["tensors"]
    read = read_state(folder / "state.bin", tensors)
    assert list(read) == [t["name"] for t in tensors]
    for name, value in read.items():
        np.testing.assert_array_equal(value, run.initial_state[name])
    assert all(t["offset"] % 8 == 0 for t in tensors)
    # The initial weights are the exported model's.
    for name in [t["name"] for t in tensors if t["role"] == "trainable weight"]:
        np.testing.assert_array_equal(read[name], model_weights(run.model)[name])


@pytest.mark.parametrize(
    "change",
    [{"offset": 10**9}, {"bytes": 4}, {"offset": 2}, {"offset": -8}, {"offset": "0"}],
)
def test_a_state_index_that_does_not_fit_is_refused(
    run: Run, change: dict[str, Any], tmp_path: Path
) -> None:
    tensors = json.loads(json.dumps(run.info["state"]["tensors"]))
    tensors[1].update(change)
    with pytest.raises(ValueError, match=f"tensor '{tensors[1]['name']}' of .* does not fit"):
        read_state(run.bundle / "training" / "state.bin", tensors)


def test_web_and_mobile_write_one_training_json(run: Run, tmp_path: Path) -> None:
    """Both targets describe the same step in the same layout; only the graphs' file names
    and the mobile engine's own keys differ."""
    web = tmp_path / "web"
    result = export_cli(run.spec, "--target", "web", "--with-training", "-o", web, "-q")
    assert result.exit_code == 0, result.output
    on_web = json.loads((web / "training.json").read_text())
    mobile = {k: v for k, v in run.info.items() if k not in ("engine", "packages")}
    for graph in ("train_step", "evaluate", "predict", "metrics"):
        suffix = "ort"
        assert mobile[graph]["file"] == f"{graph}.{suffix}"
        assert on_web[graph]["file"] == f"{graph}.onnx"
        mobile[graph] = {k: v for k, v in mobile[graph].items() if k != "file"}
        on_web[graph] = {k: v for k, v in on_web[graph].items() if k != "file"}
    # The weights differ (a spec exported twice draws fresh ones); the layout does not.
    assert on_web == mobile


def test_schedule_and_dropout_are_in_the_graph(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, NADAM_DROPOUT)
    export_mobile(load_source(spec), tmp_path / "b", with_training=True)
    info = json.loads((tmp_path / "b" / "training" / "training.json").read_text())
    assert info["random_step"] == "specc.random_step"
    assert info["learning_rate"]["schedule"]["type"] == "ExponentialDecay"
    names = [t["name"] for t in info["state"]["tensors"]]
    # A schedule is computed from the counter: no learning rate in the state.
    assert "optimizer.learning_rate" not in names
    assert "optimizer/u_product" in names  # Nadam's shared state
    assert {t["next"] for t in info["state"]["tensors"]} == {f"next/{n}" for n in names}


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", sorted(cls.__name__ for cls in OPTIMIZERS))
def test_every_optimizer_runs_as_in_specc_train(tmp_path: Path, optimizer: str) -> None:
    spec_data = json.loads(json.dumps(NADAM_DROPOUT))
    spec_data["compile"]["optimizer"] = {"type": optimizer, "learning_rate": 0.02, "clipnorm": 1}
    run = _run(tmp_path, spec_data, steps=5)
    np.testing.assert_allclose(run.app_losses, run.reference_losses, rtol=1e-5)
    for name, value in run.reference_state.items():
        np.testing.assert_allclose(run.app_state[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


SCHEDULES = {
    "staircase-exponential": {
        "type": "ExponentialDecay",
        "initial_learning_rate": 0.05,
        "decay_steps": 2,
        "decay_rate": 0.5,
        "staircase": True,
    },
    "piecewise": {"type": "PiecewiseConstantDecay", "boundaries": [2], "values": [0.05, 0.01]},
    "polynomial-cycle": {
        "type": "PolynomialDecay",
        "initial_learning_rate": 0.05,
        "decay_steps": 2,
        "cycle": True,
    },
    "inverse-time": {
        "type": "InverseTimeDecay",
        "initial_learning_rate": 0.05,
        "decay_steps": 1,
        "decay_rate": 0.5,
    },
    "cosine-warmup": {
        "type": "CosineDecay",
        "initial_learning_rate": 0.01,
        "decay_steps": 4,
        "warmup_target": 0.05,
        "warmup_steps": 2,
    },
    "cosine-restarts": {
        "type": "CosineDecayRestarts",
        "initial_learning_rate": 0.05,
        "first_decay_steps": 2,
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("schedule", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_every_schedule_runs_as_in_specc_train(tmp_path: Path, schedule: dict[str, Any]) -> None:
    spec_data = json.loads(json.dumps(NADAM_DROPOUT))
    spec_data["compile"]["optimizer"] = {"type": "SGD", "learning_rate": schedule}
    run = _run(tmp_path, spec_data, steps=6)
    np.testing.assert_allclose(run.app_losses, run.reference_losses, rtol=1e-5)
    for name, value in run.reference_state.items():
        np.testing.assert_allclose(run.app_state[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_predict_model_uses_the_trained_weights(run: Run) -> None:
    predict = run.info["predict"]
    session = ort.InferenceSession(str(run.bundle / "training" / predict["file"]))
    x = _batches(seed=2, steps=1)[0]["x"]
    state = {name: run.app_state[name] for name in predict["state_inputs"]}
    (got,) = session.run(None, {"x": x, **state})
    # The exported inference model with its initializers replaced by the trained state.
    trained = onnx.ModelProto()
    trained.CopyFrom(run.model)
    for tensor in trained.graph.initializer:
        if tensor.name in state:
            tensor.CopyFrom(onnx.numpy_helper.from_array(state[tensor.name], tensor.name))
    (want,) = ort.InferenceSession(trained.SerializeToString()).run(None, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    (before,) = ort.InferenceSession(run.model.SerializeToString()).run(None, {"x": x})
    assert not np.allclose(got, before, atol=1e-4)  # training moved the predictions


@pytest.mark.parametrize("run", ["batch-norm-max-norm"], indirect=True)
def test_batch_norm_and_max_norm_run_in_the_step(run: Run) -> None:
    for name in ("bn.moving_mean", "bn.moving_variance"):
        assert not np.allclose(run.app_state[name], run.initial_state[name])
    norms = np.sqrt((run.app_state["out.kernel"] ** 2).sum(axis=0))
    assert norms.max() <= 0.4 + 1e-6
    roles = {t["name"]: t["role"] for t in run.info["state"]["tensors"]}
    assert roles["bn.moving_mean"].startswith("moving statistic")
    assert roles["optimizer.learning_rate"].startswith("learning rate")


def _config_ops(path: Path) -> set[tuple[str, str]]:
    ops = set()
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            domain, _, names = line.split(";")
            ops.update((domain, name) for name in names.split(","))
    return ops


def _ort_ops(path: Path) -> set[tuple[str, str]]:
    """Every (domain, op) of an ORT-format model, read from its flatbuffer."""
    session = fbs.InferenceSession.InferenceSession.GetRootAs(path.read_bytes(), 0)
    graph = session.Model().Graph()
    ops = set()
    for k in range(graph.NodesLength()):
        node = graph.Nodes(k)
        domain = (node.Domain() or b"").decode() or "ai.onnx"
        ops.add((domain, node.OpType().decode()))
    return ops


def test_required_operators_cover_the_training_graphs(run: Run) -> None:
    config = _config_ops(run.bundle / "required_operators.config")
    folder = run.bundle / "training"
    for name in ("train_step.ort", "evaluate.ort", "predict.ort", "metrics.ort"):
        ops = _ort_ops(folder / name)
        assert ops and ops <= config, (name, ops - config)
    # ...and the training-only ones are there because of the step graph.
    assert not _ort_ops(folder / "train_step.ort") <= _ort_ops(run.bundle / "model.ort")


def _finish_metrics(folder: Path, info: dict[str, Any], sums: dict[str, np.ndarray]) -> dict:
    """metrics.ort run as an app runs it: the statistics summed over the batches in (as
    float32), every metric's value out by its history name."""
    session = ort.InferenceSession(str(folder / info["metrics"]["file"]))
    feeds = {t["name"]: np.asarray(sums[t["name"]], np.float32) for t in info["metrics"]["inputs"]}
    outputs = info["metrics"]["outputs"]
    values = session.run([o["name"] for o in outputs], feeds)
    return {o["history"]: value for o, value in zip(outputs, values, strict=True)}


def test_evaluation_graph_gives_specc_evaluate(run: Run, tmp_path: Path) -> None:
    folder = run.bundle / "training"
    evaluation = run.info["evaluate"]
    session = ort.InferenceSession(str(folder / evaluation["file"]))
    batch = _batches(seed=1)[0]
    state = {name: run.app_state[name] for name in evaluation["state_inputs"]}
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {**batch, **state}), strict=True))
    # The trained state saved as a specc weights file, by the keys training.json gives.
    weights = {
        t["weights_key"]: run.app_state[t["name"]]
        for t in run.info["state"]["tensors"]
        if "weights_key" in t
    }
    save_weights(tmp_path / "trained.npz", weights)
    np.savez(tmp_path / "data.npz", x=batch["x"], out=batch["out.target"])
    result = evaluate_spec(run.spec, tmp_path / "data.npz", tmp_path / "trained.npz", None, BATCH)
    assert [h["name"] for h in run.info["history"]] == ["loss", "accuracy"]
    finished = _finish_metrics(folder, run.info, outputs)
    assert float(outputs["loss"]) == pytest.approx(result.values["loss"], rel=1e-5)
    assert float(finished["accuracy"]) == pytest.approx(result.values["accuracy"], rel=1e-5)


def test_readme_shows_the_step_loop(run: Run) -> None:
    readme = (run.bundle / "README.md").read_text()
    section = readme[readme.index("## On-device training") :]
    for needle in ("OrtSession", "OnnxTensor", "ORTSession", "ORTValue", "state.bin", "next/"):
        assert needle in section
    assert "onnxruntime-training" not in section
    model = json.loads((run.bundle / "model.json").read_text())
    assert model["mobile"]["training"]["engine"] == "standard"
    assert "onnxruntime-android" in model["mobile"]["training"]["packages"]["android"]


# An embedding table of 4000 x 32 floats (512 KB), read by sequences of 8 ids.
TABLE = (4000, 32)
EMBEDDING = {
    "specc": 1,
    "name": "embedding_step",
    "inputs": {"ids": {"shape": [8], "dtype": "int32"}},
    "layers": [
        {"name": "embed", "type": "Embedding", "input_dim": TABLE[0], "output_dim": TABLE[1]},
        {"name": "pool", "type": "GlobalAveragePooling1D"},
        {"name": "out", "type": "Dense", "units": 1, "activation": "sigmoid"},
    ],
    "compile": {"optimizer": "adam", "loss": "binary_crossentropy"},
}


def test_step_file_holds_no_table_sized_constant(tmp_path: Path) -> None:
    """onnxruntime's conversion to ORT format stores every constant it folds: the zeros the
    embedding gradient is added into must stay a run-time fill, not a table-sized
    initializer (the table itself travels in state.bin)."""
    _, training_dir, info = _export(write_spec(tmp_path, EMBEDDING), tmp_path)
    table_bytes = TABLE[0] * TABLE[1] * 4
    assert (training_dir / info["train_step"]["file"]).stat().st_size < table_bytes / 8
    assert (training_dir / info["state"]["file"]).stat().st_size > table_bytes


HOSTILE_METRIC = 'acc "quoted" `tick`\nsecond line | # *x*'
HOSTILE_NAME = 'demo "q" `b` $x'


def test_hostile_names_are_escaped(tmp_path: Path) -> None:
    from tests.hostile.export_checks import markdown_shape

    readmes = {}
    for label, metric, name in (
        ("hostile", HOSTILE_METRIC, HOSTILE_NAME),
        ("plain", "plain_acc", "plain"),
    ):
        spec_data = json.loads(json.dumps(BATCH_NORM_MAX_NORM))
        spec_data["name"] = name
        spec_data["compile"]["metrics"] = [{"type": "SparseCategoricalAccuracy", "name": metric}]
        (tmp_path / label).mkdir()
        spec = write_spec(tmp_path / label, spec_data)
        export_mobile(load_source(spec), tmp_path / label / "b", with_training=True)
        readmes[label] = (tmp_path / label / "b" / "README.md").read_text()
        if label == "hostile":
            info = json.loads((tmp_path / label / "b" / "training" / "training.json").read_text())
            assert [h["name"] for h in info["history"]] == ["loss", HOSTILE_METRIC]
    hostile, plain = readmes["hostile"], readmes["plain"]
    assert markdown_shape(hostile) == markdown_shape(plain)
    assert len(hostile.splitlines()) == len(plain.splitlines())
    # The newline is shown, never taken: the metric's lines stay in their table cells.
    assert "`tick`\\x0asecond line" in hostile
    assert "\nsecond line" not in hostile


def test_trained_folder_state_holds_the_trained_weights(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BATCH_NORM_MAX_NORM)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, FEATURES)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, out=rng.integers(0, CLASSES, 64))
    result = train_spec(spec, tmp_path / "data.npz", TrainOptions(epochs=2, seed=0))
    write_outputs(result, tmp_path / "trained")
    with pytest.raises(SpecError, match="SPC511-export-source"):
        export_mobile(load_source(tmp_path / "trained"), tmp_path / "no-spec", with_training=True)
    source = load_source(tmp_path / "trained")
    export_mobile(source, tmp_path / "b", with_training=True, spec=spec)
    info = json.loads((tmp_path / "b" / "training" / "training.json").read_text())
    state = read_state(tmp_path / "b" / "training" / "state.bin", info["state"]["tensors"])
    keyed = {t["weights_key"]: t["name"] for t in info["state"]["tensors"] if "weights_key" in t}
    assert set(keyed) == set(result.weights)
    for key, array in result.weights.items():
        np.testing.assert_array_equal(state[keyed[key]], array, err_msg=key)
    assert int(state["optimizer.iterations"]) == 0  # the optimizer starts afresh


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["export", *args])


def test_cli_default_engine_needs_no_training_build(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BATCH_NORM_MAX_NORM)
    out = tmp_path / "bundle"
    result = _cli(str(spec), "--target", "mobile", "--with-training", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "training/train_step.ort" in result.output
    assert (out / "training" / "state.bin").is_file()
    result = _cli(str(spec), "--target", "mobile", "--training-engine", "standard")
    assert result.exit_code == 2
    assert "--training-engine applies with --with-training" in result.output
    args = [str(spec), "--target", "mobile", "--with-training", "--training-engine", "tpu"]
    result = _cli(*args, "-o", str(tmp_path / "tpu"))
    assert result.exit_code == 2
    assert "standard, ort-training" in result.output
    assert not (tmp_path / "tpu").exists()


@pytest.mark.skipif(HAVE_ORT_TRAINING, reason="checks the refusal without onnxruntime-training")
def test_cli_ort_training_engine_needs_the_training_build(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BATCH_NORM_MAX_NORM)
    args = [str(spec), "--target", "mobile", "--with-training", "--training-engine"]
    result = _cli(*args, "ort-training", "-o", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert "needs onnxruntime-training" in result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.ort_training
def test_ort_training_engine_writes_the_training_artifacts(tmp_path: Path) -> None:
    spec_data = json.loads(json.dumps(NADAM_DROPOUT))
    spec_data["compile"]["optimizer"] = {"type": "Adam", "learning_rate": 0.01}
    spec = write_spec(tmp_path, spec_data)
    files = export_mobile(
        load_source(spec), tmp_path / "b", with_training=True, training_engine="ort-training"
    )
    names = {p.relative_to(tmp_path / "b").as_posix() for p in files}
    assert {"training/training_model.ort", "training/checkpoint"} <= names
    assert "training/train_step.ort" not in names
    model = json.loads((tmp_path / "b" / "model.json").read_text())
    assert model["mobile"]["training"]["engine"] == "ort-training"
    assert "training-android" in model["mobile"]["training"]["packages"]["android"]


def _binary_batches(seed: int, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` batches of BINARY_METRICS's rows (``binary_rows``)."""
    rows = binary_rows(count * BATCH, seed)
    return [{k: v[i * BATCH : (i + 1) * BATCH] for k, v in rows.items()} for i in range(count)]


def test_metrics_graph_finishes_every_metric(tmp_path: Path) -> None:
    """AUC (ROC, PR), Precision, Recall, F1Score and mse: metrics.ort on the statistics an
    app sums over its steps gives StandardSession's epoch values, and over evaluate.ort's
    batches gives specc evaluate's."""
    source, folder, info = _export(BINARY_METRICS, tmp_path)
    step = ort.InferenceSession(str(folder / info["train_step"]["file"]))
    state = _app_state(folder, info)
    training, reference = _reference(BINARY_METRICS, source)
    totals = {m.key: Totals(m.metric) for m in training.metrics}
    target = training.targets["positive"][0]
    sums: dict[str, np.ndarray] = {}
    names = [o.name for o in step.get_outputs()]
    for batch in _binary_batches(0, 6):
        feeds = {"features": batch["features"], target: batch["positive"]}
        results = dict(zip(names, step.run(None, {**feeds, **state}), strict=True))
        state = {t["name"]: results[t["next"]] for t in info["state"]["tensors"]}
        for entry in info["metrics"]["inputs"]:
            sums[entry["name"]] = sums.get(entry["name"], 0.0) + results[entry["name"]]
        out = reference.train_step(feeds)
        reference.commit()
        for m in training.metrics:
            totals[m.key].add([out[name] for name in m.statistics])
    finished = _finish_metrics(folder, info, sums)
    keys = ["auc", "pr_auc", "precision", "recall", "f1_score", "mse"]
    assert list(finished) == keys
    for key in keys:
        expected = totals[key].result()
        np.testing.assert_allclose(finished[key], expected, rtol=1e-5, err_msg=key)
        assert np.min(expected) > 0.0 and (key == "mse" or np.max(expected) < 1.0), key

    # evaluate.ort over three batches, then metrics.ort: specc evaluate on the same rows.
    evaluation = ort.InferenceSession(str(folder / info["evaluate"]["file"]))
    weights = {name: state[name] for name in info["evaluate"]["state_inputs"]}
    names = [o.name for o in evaluation.get_outputs()]
    held = _binary_batches(1, 3)
    sums = {}
    for batch in held:
        feeds = {"features": batch["features"], target: batch["positive"], **weights}
        results = dict(zip(names, evaluation.run(None, feeds), strict=True))
        for entry in info["metrics"]["inputs"]:
            sums[entry["name"]] = sums.get(entry["name"], 0.0) + results[entry["name"]]
    finished = _finish_metrics(folder, info, sums)
    trained = {
        t["weights_key"]: state[t["name"]] for t in info["state"]["tensors"] if "weights_key" in t
    }
    save_weights(tmp_path / "trained.npz", trained)
    rows = {k: np.concatenate([b[k] for b in held]) for k in ("features", "positive")}
    np.savez(tmp_path / "data.npz", **rows)
    result = evaluate_spec(
        BINARY_METRICS, tmp_path / "data.npz", tmp_path / "trained.npz", None, BATCH
    )
    for key in keys:
        np.testing.assert_allclose(finished[key], result.values[key], rtol=1e-5, err_msg=key)
