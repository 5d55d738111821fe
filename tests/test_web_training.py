"""``specc export --target web --with-training``: the training bundle's files, and training in
headless Chromium and in Node.js compared step by step with ``specc train``'s default backend.

The browser tests (marked slow) serve the bundle as tests/test_export_web.py does and run
tests/browser/train_in_page.mjs in the page (or in Node.js through run_node_training.mjs):
one ``trainStep`` per fixed batch of models/data/digits.npz, then ``predict`` and
``saveWeights``. Python drives ``StandardSession`` over the same batches, unshuffled.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml

from specc.cli.app import app
from specc.emit import web
from specc.emit.step_files import read_state as read_state_file
from specc.spec.compile import losses_by_output
from specc.train.data import Dataset
from specc.train.data_targets import targets_for
from specc.train.fit import FitOptions, FitResult, constraints_of, evaluate, fit
from specc.train.run import prepare
from specc.train.standard import StandardSession
from tests import test_export_web
from tests.test_export_web import (
    BROWSER,
    MODELS,
    NODE_MODULES,
    StaticServer,
    export,
    files_in,
    predict_page,
    run_onnx,
    run_pages,
    runner,
)

# The web export's fixtures: Chromium's path, and digits_mlp trained one epoch.
chromium = test_export_web.chromium
labeled_trained = test_export_web.labeled_trained

DATA = MODELS / "data" / "digits.npz"
BN_CNN = Path(__file__).parent / "data" / "web_training" / "digits_bn_cnn.yaml"
BINARY_METRICS = BN_CNN.parent / "binary_metrics.yaml"
TRAINING_FILES = {
    "train_step.onnx",
    "evaluate.onnx",
    "predict.onnx",
    "metrics.onnx",
    "state.bin",
    "training.json",
    "specc-train.js",
    "specc-fit.js",
    "specc-npz.js",
    "specc-worker.js",
    "specc-worker-client.js",
}
STEPS = 20


def read_state(bundle: Path) -> dict[str, np.ndarray]:
    """state.bin read back through training.json's index."""
    training = json.loads((bundle / "training.json").read_text())
    return read_state_file(bundle / training["state"]["file"], training["state"]["tensors"])


def weights_of(training: dict[str, Any]) -> dict[str, str]:
    """The state tensors that are weights, by name: their weights-file keys."""
    tensors = training["state"]["tensors"]
    return {t["name"]: t["weights_key"] for t in tensors if "weights_key" in t}


def fixed_batches(spec: Path, size: int) -> list[dict[str, np.ndarray]]:
    """``STEPS`` batches of consecutive rows of the digits, by input and output name."""
    digits = np.load(DATA)
    name = "image" if "cnn" in spec.name else "pixels"
    return [
        {
            name: digits[name][k * size : (k + 1) * size],
            "digit": digits["digit"][k * size : (k + 1) * size],
        }
        for k in range(STEPS)
    ]


def python_steps(
    spec: Path,
    bundle: Path,
    batches: list[dict[str, np.ndarray]],
    evaluated: dict[str, np.ndarray] | None = None,
    batch_size: int = 32,
) -> tuple[list[dict], dict[str, Any] | None, dict[str, np.ndarray]]:
    """Each batch's loss and accuracy from ``specc train``'s default backend, starting from
    the bundle's state; given ``evaluated`` rows, what ``specc evaluate`` computes over them
    in batches of ``batch_size``; and the weights at the end, by weights-file key."""
    compiled, training = prepare(spec, None, None, fused_recurrence=True)
    session = StandardSession(training)
    assert compiled.compile is not None
    session.use_optimizer(compiled.compile.optimizer, constraints=constraints_of(compiled))
    state = read_state(bundle)
    session.restore({name: state[name] for name in [*training.trainable, *training.frozen]})
    target = training.targets["digit"][0]
    steps = []
    for batch in batches:
        feeds = {k: v for k, v in batch.items() if k != "digit"} | {target: batch["digit"]}
        out = session.train_step(feeds)
        session.commit(out)
        total, count = (float(out[f"metrics/accuracy/{k}"]) for k in range(2))
        steps.append({"loss": float(out["loss"]), "accuracy": total / count})
    keys = {p.onnx_name: p.key for p in compiled.typed.parameters}
    weights = {keys[name]: array for name, array in session.snapshot().items()}
    if evaluated is None:
        return steps, None, weights
    config = compiled.compile
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    inputs = dict(compiled.typed.resolved.inputs)
    rows = Dataset.from_arrays(evaluated, inputs, targets)
    return steps, evaluate(training, session, rows, batch_size, prefix=""), weights


def as_job(batch: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: {"data": v.ravel().tolist(), "dims": list(v.shape)} for k, v in batch.items()}


def train_job(
    url: str,
    batches: list[dict[str, np.ndarray]],
    nested: bool = False,
    targets: tuple[str, ...] = ("digit",),
    **extra: Any,
) -> dict[str, Any]:
    """A train job; ``nested``: the batches as nested arrays (the form JSON data takes).
    It predicts the first four rows of the first batch's inputs (all but ``targets``)."""
    first = {k: v[:4] for k, v in batches[0].items() if k not in targets}
    given = [{k: v.tolist() for k, v in b.items()} if nested else as_job(b) for b in batches]
    return {
        "kind": "train",
        "url": url,
        "batches": given,
        "predict": as_job(first),
        **extra,
    }


def assert_same_steps(page: list[dict], python: list[dict], label: str) -> None:
    losses = np.array([s["loss"] for s in page])
    expected = np.array([s["loss"] for s in python])
    worst = float(np.max(np.abs(losses - expected) / np.abs(expected)))
    print(
        f"{label}: {len(losses)} steps, losses {losses[0]:.4f} -> {losses[-1]:.4f}, "
        f"max relative difference from specc train {worst:.2g}"
    )
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    np.testing.assert_allclose([s["accuracy"] for s in page], [s["accuracy"] for s in python])
    # Training did something: the loss moved.
    assert abs(losses[-1] - losses[0]) > 1e-3


def assert_weights_match_page(
    spec: Path,
    result: dict[str, Any],
    inputs: dict[str, Any],
    tmp_path: Path,
    label: str,
    atol: float = 1e-5,
) -> None:
    """The page's saveWeights(), loaded by ``specc build --weights``, gives its predict()."""
    weights = tmp_path / f"{label}.npz"
    weights.write_bytes(base64.b64decode(result["weights"]))
    model = tmp_path / f"{label}.onnx"
    args = ["build", str(spec), "--weights", str(weights), "-o", str(model), "-q"]
    built = runner.invoke(app, args)
    assert built.exit_code == 0, built.output
    feeds = {k: np.asarray(v["data"], np.float32).reshape(v["dims"]) for k, v in inputs.items()}
    expected = run_onnx(model, feeds)["digit"]
    got = np.asarray(result["outputs"]["digit"]["data"], np.float32).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, atol=atol)


# --- the bundle's files ----------------------------------------------------------------------


def test_training_bundle_files(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export(MODELS / "digits_mlp.yaml", "--target", "web", "--with-training", "-o", out)
    assert result.exit_code == 0, result.output
    assert files_in(out) == {
        "model.onnx",
        "model.json",
        "specc.js",
        "index.html",
        "README.md",
        "package.json",
        *TRAINING_FILES,
    }
    training = json.loads((out / "training.json").read_text())
    assert [(b["name"], b["role"], b["dtype"]) for b in training["batch"]] == [
        ("pixels", "input", "float32"),
        ("digit.target", "target", "int64"),
    ]
    assert training["batch"][1]["output"] == "digit"
    assert training["history"] == [
        {"name": "loss", "outputs": ["loss"], "kind": "batch mean"},
        {
            "name": "accuracy",
            "outputs": ["metrics/accuracy/0", "metrics/accuracy/1"],
            "kind": "metric",
            "metric": "SparseCategoricalAccuracy",
            "rule": "The mean.",
        },
    ]
    assert training["metrics"] == {
        "file": "metrics.onnx",
        "inputs": [
            {"name": f"metrics/accuracy/{k}", "dtype": "float32", "shape": [], "role": role}
            for k, role in enumerate(["summed over the batches"] * 2)
        ],
        "outputs": [
            {
                "name": "value/accuracy",
                "dtype": "float32",
                "shape": [],
                "role": "the metric's value",
                "history": "accuracy",
            }
        ],
        "run": training["metrics"]["run"],
    }
    assert set(weights_of(training).values()) == {
        f"{layer}/{weight}"
        for layer in ("dense", "dense_1", "digit")
        for weight in ("kernel", "bias")
    }
    assert training["optimizer"]["type"] == "Adam" and training["batch_size"] == 32
    assert [training[g]["file"] for g in ("train_step", "evaluate", "predict")] == [
        "train_step.onnx",
        "evaluate.onnx",
        "predict.onnx",
    ]
    # Every state tensor is aligned, fits the file, and starts as the exported weights.
    size = (out / "state.bin").stat().st_size
    for entry in training["state"]["tensors"]:
        assert entry["offset"] % 8 == 0 and entry["offset"] + entry["bytes"] <= size
        assert entry["next"] == f"next/{entry['name']}"
    state = read_state(out)
    inference = {
        t.name: onnx.numpy_helper.to_array(t)
        for t in onnx.load(str(out / "model.onnx")).graph.initializer
    }
    for name in weights_of(training):
        np.testing.assert_array_equal(state[name], inference[name])
    assert int(state["optimizer.iterations"]) == 0
    for name in ("train_step.onnx", "evaluate.onnx", "predict.onnx", "metrics.onnx"):
        model = onnx.load(str(out / name))
        onnx.checker.check_model(model)
        assert web.web_problems(model) == []
        assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    step = onnx.load(str(out / "train_step.onnx"))
    tensors = training["state"]["tensors"]
    assert {o.name for o in step.graph.output} >= {f"next/{e['name']}" for e in tensors}
    predict = onnx.load(str(out / "predict.onnx"))
    assert not predict.graph.initializer or all(
        t.name not in state for t in predict.graph.initializer
    )
    assert json.loads((out / "model.json").read_text())["training"] == "training.json"
    script = (out / "specc.js").read_text()
    assert "from './specc-train.js'" in script and "const WITH_TRAINING = true;" in script
    readme = (out / "README.md").read_text()
    assert "trainStep" in readme and "saveWeights" in readme and "{{" not in readme
    # index.html is the fine-tuning demo here, and the file table says so.
    (row,) = [line for line in readme.splitlines() if line.startswith("| `index.html` |")]
    assert "fine-tunes the model on the rows of `examples.json`" in row
    assert "{{" not in (out / "index.html").read_text()


def test_without_training_the_bundle_is_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    assert export(MODELS / "digits_mlp.yaml", "--target", "web", "-o", out, "-q").exit_code == 0
    assert not (files_in(out) & TRAINING_FILES)
    assert "const WITH_TRAINING = false;" in (out / "specc.js").read_text()
    assert "training" not in json.loads((out / "model.json").read_text())


def test_a_trained_folder_starts_from_its_weights(labeled_trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export(labeled_trained, "--target", "web", "--with-training", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    trained = np.load(labeled_trained / "weights.npz")
    training = json.loads((out / "training.json").read_text())
    state = read_state(out)
    for name, key in weights_of(training).items():
        np.testing.assert_array_equal(state[name], trained[key])


def test_another_spec_for_a_trained_folder_exits_1(labeled_trained: Path, tmp_path: Path) -> None:
    other = MODELS / "digits_cnn.yaml"
    args = ("--target", "web", "--with-training", "--spec", other, "-o", tmp_path / "out")
    result = export(labeled_trained, *args)
    assert result.exit_code == 1
    assert f"does not hold the model of {other}" in result.output
    assert "SPC511-export-source" in result.output
    assert not (tmp_path / "out").exists()


def test_examples_come_from_data(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    args = ("--target", "web", "--with-training", "--data", DATA, "-o", out, "-q")
    assert export(MODELS / "digits_cnn.yaml", *args).exit_code == 0
    examples = json.loads((out / "examples.json").read_text())
    digits = np.load(DATA)
    rows = examples["rows"]
    assert 0 < rows <= 512
    assert examples["columns"]["image"]["dims"] == [rows, 8, 8, 1]
    np.testing.assert_array_equal(examples["columns"]["digit"]["data"], digits["digit"][:rows])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", DATA), "--spec and --data apply to --target web with --with-training"),
        (("--quantize", "int8"), "--quantize does not apply to --target web"),
    ],
)
def test_training_options_need_with_training(args: tuple, message: str) -> None:
    result = export(MODELS / "digits_mlp.yaml", "--target", "web", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_spec_without_compile_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    text = (MODELS / "digits_mlp.yaml").read_text()
    spec.write_text(text.split("compile:")[0])
    result = export(spec, "--target", "web", "--with-training", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "SPC504" in result.output
    assert not (tmp_path / "out").exists()


def _site(tmp_path: Path, specs: dict[str, Path], *extra: str) -> Path:
    site = tmp_path / "site"
    for name, spec in specs.items():
        result = export(spec, "--target", "web", "--with-training", "-o", site / name, "-q", *extra)
        assert result.exit_code == 0, result.output
    shutil.copy(BROWSER / "train_in_page.mjs", site / "train_in_page.mjs")
    return site


@pytest.mark.slow
def test_training_in_chromium_matches_specc_train(chromium: str, tmp_path: Path) -> None:
    specs = {"mlp": MODELS / "digits_mlp.yaml", "bn": BN_CNN}
    sizes = {"mlp": 32, "bn": 16}
    site = _site(tmp_path, specs)
    batches = {name: fixed_batches(spec, sizes[name]) for name, spec in specs.items()}
    with StaticServer(site, NODE_MODULES) as server:
        jobs = [
            train_job(
                server.url + f"{name}/index.html",
                batches[name],
                scriptUrl=server.url + "train_in_page.mjs",
                evaluate=as_job(batches[name][0]),
                evaluateBatchSize=5,
            )
            for name in specs
        ]
        results = run_pages(chromium, jobs, tmp_path)
    for (name, spec), record, job in zip(specs.items(), results, jobs, strict=True):
        page = record["result"]
        python, evaluation, weights = python_steps(
            spec, site / name, batches[name], batches[name][0], 5
        )
        assert_same_steps(page["steps"], python, name)
        saved = np.load(io.BytesIO(base64.b64decode(page["weights"])))
        assert set(saved) == set(weights)
        for key, array in weights.items():
            np.testing.assert_allclose(saved[key], array, atol=1e-5, err_msg=key)
        assert page["iterations"] == STEPS
        print(f"{name}: {page['trainMs'] / STEPS:.1f} ms per step in Chromium")
        assert_weights_match_page(spec, page, job["predict"], tmp_path, name)
        # evaluate(): Keras's means over batches of 5, 5, 5 and the rest, as specc evaluate.
        assert evaluation is not None and set(page["evaluation"]) == set(evaluation)
        for key, value in evaluation.items():
            assert page["evaluation"][key] == pytest.approx(value, rel=1e-5), key


@pytest.mark.slow
def test_training_in_node_matches_specc_train(tmp_path: Path) -> None:
    spec = MODELS / "digits_mlp.yaml"
    site = _site(tmp_path, {"mlp": spec})
    batches = fixed_batches(spec, 32)
    job = train_job("", batches, nested=True)
    # The first pixels come as {data, dims} and are all NaN: a step that is not committed.
    job["batches"][0]["pixels"] = as_job(batches[0])["pixels"]
    job["nanFirst"] = "pixels"
    result = run_node(site / "mlp", job, tmp_path)
    assert result["nanLoss"] == "NaN"
    assert result["iterations"] == STEPS
    assert_same_steps(result["steps"], python_steps(spec, site / "mlp", batches)[0], "node")
    assert_weights_match_page(spec, result, job["predict"], tmp_path, "node")


@pytest.mark.slow
def test_training_on_webgpu_matches_specc_train(chromium: str, tmp_path: Path) -> None:
    """``loadTrainer({executionProviders: ['webgpu', 'wasm']})`` with onnxruntime-web's WebGPU
    build trains the CNN (Conv, BatchNormalization, MaxPool, Dropout, Dense, Nadam with a
    schedule) as ``specc train`` does (within the GPU's float32 rounding). Where no GPU is,
    Chromium's SwiftShader adapter runs WebGPU on the CPU."""
    specs = {"bn": BN_CNN}
    sizes = {"bn": 16}
    steps = 3  # SwiftShader takes about half a second a step
    site = _site(tmp_path, specs)
    batches = {name: fixed_batches(spec, sizes[name])[:steps] for name, spec in specs.items()}
    with StaticServer(site, NODE_MODULES) as server:
        webgpu = "ort.webgpu.bundle.min.mjs"  # onnxruntime-web's WebGPU build
        pages = {name: server.url + f"{name}/{predict_page(site / name, webgpu)}" for name in specs}
        probe = {"kind": "webgpu", "url": pages["bn"]}
        (found,) = run_pages(chromium, [probe], tmp_path, webgpu=True)
        if not found["result"]["adapter"]:
            pytest.skip("this Chromium gives pages no WebGPU adapter (not even SwiftShader's)")
        jobs = [
            train_job(
                pages[name],
                batches[name],
                scriptUrl=server.url + "train_in_page.mjs",
                options={"executionProviders": ["webgpu", "wasm"]},
            )
            for name in specs
        ]
        results = run_pages(chromium, jobs, tmp_path, webgpu=True)
    for (name, spec), record, job in zip(specs.items(), results, jobs, strict=True):
        page = record["result"]
        # WebGPU ran: onnxruntime-web made its device (it drops an unavailable provider
        # with a warning and runs on WebAssembly).
        assert page["webgpuDevice"] == "[object GPUDevice]", record["console"]
        python, _, weights = python_steps(spec, site / name, batches[name])
        losses = [s["loss"] for s in page["steps"]]
        np.testing.assert_allclose(losses, [s["loss"] for s in python], rtol=1e-4)
        assert abs(losses[-1] - losses[0]) > 1e-3
        saved = np.load(io.BytesIO(base64.b64decode(page["weights"])))
        for key, array in weights.items():
            np.testing.assert_allclose(saved[key], array, atol=1e-4, err_msg=key)
        # predict() on WebGPU gives what the saved weights give in onnxruntime.
        assert_weights_match_page(spec, page, job["predict"], tmp_path, name, atol=1e-4)
        adapter = found["result"]["architecture"]
        print(f"{name} on WebGPU ({adapter}): {page['trainMs'] / steps:.0f} ms per step")


def test_the_web_step_graph_reads_no_max_pool_indices(tmp_path: Path) -> None:
    """onnxruntime-web's WebGPU provider fails on MaxPool's Indices output: the web bundle's
    step finds the windows' first maxima by ArgMax, where specc train reads the Indices."""
    site = _site(tmp_path, {"bn": BN_CNN})
    step = onnx.load(site / "bn" / "train_step.onnx")
    pools = [n for n in step.graph.node if n.op_type == "MaxPool"]
    assert pools and all(len([o for o in n.output if o]) == 1 for n in pools)
    assert any(n.op_type == "ArgMax" for n in step.graph.node)
    compiled, training = prepare(BN_CNN, None, None, fused_recurrence=True)
    session = StandardSession(training)
    assert compiled.compile is not None
    session.use_optimizer(compiled.compile.optimizer)
    assert session.graphs is not None
    indices = [
        n for n in session.graphs.step.nodes if n.op_type == "MaxPool" and len(n.outputs) > 1
    ]
    assert indices


@pytest.mark.slow
def test_offline_training_page_and_worker(
    chromium: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BROWSER)  # where --include-runtime finds onnxruntime-web
    spec = MODELS / "digits_mlp.yaml"
    site = _site(tmp_path, {"mlp": spec}, "--include-runtime", "--data", str(DATA))
    assert {f"ort/{name}" for name in web.ORT_FILES} <= files_in(site / "mlp")
    batches = fixed_batches(spec, 32)
    picture = tmp_path / "training-demo.png"
    with StaticServer(site, node_modules=None) as server:
        jobs = [
            {"kind": "training-demo", "url": server.url + "mlp/", "screenshot": str(picture)},
            train_job(
                server.url + "mlp/index.html",
                batches,
                scriptUrl=server.url + "train_in_page.mjs",
                options={"worker": True},
                moduleFunctions=True,
            ),
        ]
        results = run_pages(chromium, jobs, tmp_path)
    assert all(url.startswith(server.url) for r in results for url in r["requests"])
    assert not any("node_modules" in path for path in server.seen)

    demo = results[0]["result"]
    assert demo["state"] == "done", demo["status"]
    training = demo["training"]
    examples = json.loads((site / "mlp" / "examples.json").read_text())
    steps = -(-examples["rows"] // examples["batch_size"]) * examples["epochs"]
    assert demo["points"] == len(training["losses"]) == steps == training["iterations"]
    assert training["losses"][-1] < training["losses"][0]
    before, after = training["before"]["digit"], training["after"]["digit"]
    assert np.max(np.abs(np.subtract(before, after))) > 1e-3
    assert picture.stat().st_size > 0
    if os.environ.get("SPECC_TEST_ARTIFACTS"):
        target = Path(os.environ["SPECC_TEST_ARTIFACTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(picture, target / picture.name)

    worker = results[1]["result"]
    assert_same_steps(worker["steps"], python_steps(spec, site / "mlp", batches)[0], "worker")
    assert_weights_match_page(spec, worker, jobs[1]["predict"], tmp_path, "worker")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"offset": 10**9}, "do not fit state.bin"),
        ({"bytes": 4}, "do not fit state.bin"),
        ({"offset": 2}, "do not fit state.bin"),
        ({"offset": -8}, "do not fit state.bin"),
        ({"dtype": "object"}, "unsupported dtype object"),
    ],
)
def test_node_refuses_a_state_index_that_does_not_fit(
    change: dict[str, Any], message: str, tmp_path: Path
) -> None:
    if shutil.which("node") is None or not (NODE_MODULES / "onnxruntime-web").is_dir():
        pytest.skip("needs node and `npm ci --prefix tests/browser`")
    site = _site(tmp_path, {"mlp": MODELS / "digits_mlp.yaml"})
    (site / "node_modules").symlink_to(NODE_MODULES)
    path = site / "mlp" / "training.json"
    training = json.loads(path.read_text())
    training["state"]["tensors"][1].update(change)
    path.write_text(json.dumps(training))
    script = "import('./specc.js').then((s) => s.loadTrainer()).then(() => console.log('loaded'))"
    done = subprocess.run(
        ["node", "-e", script],
        cwd=site / "mlp",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "loaded" not in done.stdout
    assert "state 'dense.bias': " in done.stderr and message in done.stderr


@pytest.mark.slow
def test_training_page_escapes_names_and_says_when_it_has_no_data(
    chromium: str, tmp_path: Path
) -> None:
    hostile = test_export_web._hostile_spec(tmp_path)
    site = tmp_path / "site"
    args = ("--target", "web", "--with-training", "-q")
    assert export(hostile, *args, "--data", DATA, "-o", site / "hostile").exit_code == 0
    assert export(MODELS / "digits_mlp.yaml", *args, "-o", site / "plain").exit_code == 0
    with StaticServer(site, NODE_MODULES) as server:
        jobs = [
            {"kind": "training-demo", "url": server.url + f"{n}/"} for n in ("hostile", "plain")
        ]
        hostile_page, plain_page = (r["result"] for r in run_pages(chromium, jobs, tmp_path))
    name = test_export_web.HOSTILE_NAME
    assert hostile_page["state"] == "done", hostile_page["status"]
    assert hostile_page["injected"] is None
    assert hostile_page["heading"] == name
    assert hostile_page["title"] == f"{name} · specc web bundle · training"
    assert hostile_page["points"] > 0
    assert plain_page["state"] == "no-data"
    assert "--with-training --data DATA" in plain_page["status"]
    assert plain_page["points"] == 0


def python_fit(
    spec: Path,
    bundle: Path,
    rows: dict[str, np.ndarray],
    held: dict[str, np.ndarray],
    batch_size: int,
) -> FitResult:
    """``specc train``'s ``fit`` (two epochs, unshuffled, ``held`` for validation) from the
    bundle's initial state."""
    compiled, training = prepare(spec, None, None, fused_recurrence=True)
    session = StandardSession(training)
    state = read_state(bundle)
    config = compiled.compile
    assert config is not None
    session.use_optimizer(config.optimizer, constraints=constraints_of(compiled))
    session.restore({name: state[name] for name in [*training.trainable, *training.frozen]})
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    inputs = dict(compiled.typed.resolved.inputs)
    return fit(
        compiled,
        training,
        session,
        Dataset.from_arrays(rows, inputs, targets),
        Dataset.from_arrays(held, inputs, targets),
        config,
        FitOptions(epochs=2, batch_size=batch_size, shuffle=False),
    )


def run_node(bundle: Path, job: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """tests/browser/run_node_training.mjs on ``bundle`` (a node_modules link beside it)."""
    if shutil.which("node") is None or not (NODE_MODULES / "onnxruntime-web").is_dir():
        pytest.skip("needs node and `npm ci --prefix tests/browser`")
    link = bundle.parent / "node_modules"
    if not link.exists():
        link.symlink_to(NODE_MODULES)
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))
    done = subprocess.run(
        ["node", str(BROWSER / "run_node_training.mjs"), str(bundle), str(job_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_fit_matches_specc_train_fit_and_stops_on_abort(tmp_path: Path) -> None:
    spec = MODELS / "digits_mlp.yaml"
    site = _site(tmp_path, {"mlp": spec})
    digits = np.load(DATA)
    rows = {"pixels": digits["pixels"][:100], "digit": digits["digit"][:100]}
    held = {"pixels": digits["pixels"][100:140], "digit": digits["digit"][100:140]}
    options = {"epochs": 2, "batchSize": 32, "shuffle": False}
    fit_job = {"fit": {"data": as_job(rows), "validationData": as_job(held), "options": options}}
    page = run_node(site / "mlp", fit_job, tmp_path)

    fitted = python_fit(spec, site / "mlp", rows, held, 32)
    assert (
        set(page["history"])
        == set(fitted.history)
        == {"loss", "accuracy", "val_loss", "val_accuracy"}
    )
    for key, values in fitted.history.items():
        np.testing.assert_allclose(page["history"][key], values, rtol=1e-5, err_msg=key)
    assert page["stopped"] is None and page["iterations"] == 8
    assert [b["step"] for b in page["batches"]] == [0, 1, 2, 3] * 2
    # The last batch's running means are the epoch's values; the epoch's logs are the History's.
    assert page["batches"][3]["logs"]["loss"] == pytest.approx(page["history"]["loss"][0])
    assert [e["logs"]["val_loss"] for e in page["epochs"]] == page["history"]["val_loss"]

    abort_job = {
        "fit": {"data": as_job(rows), "options": {**options, "epochs": 3}, "abortAfter": 6}
    }
    stopped = run_node(site / "mlp", abort_job, tmp_path)
    # Aborted during the second epoch: it has no History entry, as in Keras.
    assert stopped["stopped"] == "aborted"
    assert stopped["iterations"] == 6 and len(stopped["batches"]) == 6
    assert {key: len(values) for key, values in stopped["history"].items()} == {
        "loss": 1,
        "accuracy": 1,
    }


@pytest.mark.slow
def test_two_outputs_train_in_node_as_in_specc_train(tmp_path: Path) -> None:
    """Two inputs (one int32), two outputs with weighted losses and their own metrics,
    RMSprop, Dropout: each batch's values under their history names."""
    spec = yaml.safe_load((MODELS / "two_inputs_two_outputs.yaml").read_text())
    spec["train"] = {"seed": 3}  # the random layers draw the same in both
    path = tmp_path / "two.json"
    path.write_text(json.dumps(spec))
    site = _site(tmp_path, {"two": path})
    rng = np.random.default_rng(0)
    batches = [
        {
            "features": rng.standard_normal((16, 12), dtype=np.float32),
            "tokens": rng.integers(0, 100, (16, 8), dtype=np.int32),
            "score": rng.integers(0, 2, (16, 1)).astype(np.float32),
            "category": rng.integers(0, 4, 16),
        }
        for _ in range(10)
    ]
    job = train_job("", batches, nested=True, targets=("score", "category"))
    page = run_node(site / "two", job, tmp_path)

    compiled, training = prepare(path, None, None, fused_recurrence=True)
    session = StandardSession(training)
    assert compiled.compile is not None
    session.use_optimizer(compiled.compile.optimizer, constraints=constraints_of(compiled))
    state = read_state(site / "two")
    session.restore({name: state[name] for name in [*training.trainable, *training.frozen]})
    described = json.loads((site / "two" / "training.json").read_text())
    for batch, values in zip(batches, page["steps"], strict=True):
        feeds = {"features": batch["features"], "tokens": batch["tokens"]}
        feeds |= {name: batch[out] for out, (name, _) in training.targets.items()}
        out = session.train_step(feeds)
        session.commit(out)
        expected = {}
        for value in described["history"]:
            if value["kind"] == "batch mean":
                expected[value["name"]] = float(out[value["outputs"][0]])
            else:
                total, count = (float(out[s]) for s in value["outputs"])
                expected[value["name"]] = total / count
        assert (
            set(values)
            == set(expected)
            == {
                "loss",
                "score_loss",
                "category_loss",
                "score_binary_accuracy",
                "category_sparse_categorical_accuracy",
            }
        )
        for key, value in expected.items():
            assert values[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def binary_rows(count: int, seed: int) -> dict[str, np.ndarray]:
    """Rows for BINARY_METRICS: 8 features, and a label that depends on them (noisily)."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((count, 8)).astype(np.float32)
    noise = 0.5 * rng.standard_normal(count)
    label = (features[:, 0] - features[:, 1] + noise > 0).astype(np.float32)
    return {"features": features, "positive": label[:, None]}


@pytest.mark.slow
def test_fit_and_evaluate_finish_every_metric_as_specc_train(tmp_path: Path) -> None:
    """AUC (ROC and PR), Precision, Recall, F1Score and mse: fit's history and evaluate()'s
    values (val_*) in Node.js, finished by metrics.onnx, are specc train's and specc
    evaluate's."""
    spec = BINARY_METRICS
    site = _site(tmp_path, {"binary": spec})
    rows, held = binary_rows(100, 0), binary_rows(45, 1)
    options = {"epochs": 2, "batchSize": 16, "shuffle": False}
    job = {"fit": {"data": as_job(rows), "validationData": as_job(held), "options": options}}
    page = run_node(site / "binary", job, tmp_path)

    fitted = python_fit(spec, site / "binary", rows, held, 16)
    names = ["auc", "pr_auc", "precision", "recall", "f1_score", "mse"]
    assert set(page["history"]) == set(fitted.history)
    assert set(fitted.history) == {"loss", "val_loss", *names, *(f"val_{n}" for n in names)}
    for key, values in fitted.history.items():
        np.testing.assert_allclose(page["history"][key], values, rtol=1e-5, err_msg=key)
        # Values strictly inside their range, where a wrong formula shows.
        assert all(np.ravel(values) > 0.0), key
    for name in ("auc", "pr_auc", "precision", "recall"):
        assert all(0.0 < v < 1.0 for v in fitted.history[name] + fitted.history[f"val_{name}"])
    # The running logs of the last batch are the epoch's.
    assert page["batches"][-1]["logs"]["auc"] == pytest.approx(page["history"]["auc"][-1])


# Names JavaScript objects treat specially (`__proto__` sets an object's prototype on
# assignment; `constructor` and `toString` are inherited) for an input, an output and
# metrics: specc.js and specc-train.js key their maps by the spec's names.
PROTOTYPE_NAMES = """\
specc: 1
name: prototype_names
inputs:
  __proto__: {shape: [4]}
layers:
  - {name: constructor, type: Dense, units: 3, activation: softmax, inputs: __proto__}
outputs: [constructor]
compile:
  optimizer: {type: Adam, learning_rate: 0.05}
  loss: sparse_categorical_crossentropy
  metrics:
    - {type: SparseCategoricalAccuracy, name: __proto__}
    - {type: SparseCategoricalCrossentropy, name: toString}
"""


@pytest.mark.slow
def test_names_javascript_treats_specially_are_plain_keys(tmp_path: Path) -> None:
    spec = tmp_path / "prototype_names.yaml"
    spec.write_text(PROTOTYPE_NAMES, encoding="utf-8")
    site = _site(tmp_path, {"proto": spec})
    rng = np.random.default_rng(0)

    def rows(count: int) -> dict[str, np.ndarray]:
        features = rng.standard_normal((count, 4)).astype(np.float32)
        return {"__proto__": features, "constructor": np.argmax(features[:, :3], axis=1)}

    data, held = rows(48), rows(20)
    options = {"epochs": 2, "batchSize": 16, "shuffle": False}
    fit_job = {"data": as_job(data), "validationData": as_job(held), "options": options}
    fit_job["predict"] = as_job({"__proto__": held["__proto__"][:2]})
    page = run_node(site / "proto", {"fit": fit_job}, tmp_path)

    fitted = python_fit(spec, site / "proto", data, held, 16)
    names = {"loss", "__proto__", "toString"}
    assert set(fitted.history) == names | {f"val_{n}" for n in names}
    assert set(page["history"]) == set(fitted.history)
    for key, values in fitted.history.items():
        np.testing.assert_allclose(page["history"][key], values, rtol=1e-5, err_msg=key)
    assert page["batches"][-1]["logs"]["__proto__"] == pytest.approx(
        page["history"]["__proto__"][-1]
    )
    [probabilities] = page["predicted"].values()
    assert list(page["predicted"]) == ["constructor"]
    np.testing.assert_allclose(np.reshape(probabilities, (2, 3)).sum(axis=1), 1.0, rtol=1e-5)
