"""``specc export --target web``: the bundle's files, and the bundle run in headless Chromium.

The browser tests (marked slow) serve a bundle on 127.0.0.1 from a thread, drive Debian's
Chromium with playwright-core (tests/browser/run_pages.mjs) and compare what onnxruntime-web
computes in the page with onnxruntime in Python. They need node, chromium and
``npm ci --prefix tests/browser`` (onnxruntime-web and playwright-core at pinned versions).
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from typer.testing import CliRunner

from specc.cli.app import app
from specc.emit import web
from specc.emit.source import load_source
from specc.limits import DEFAULT_LIMITS
from specc.passes.lower import DESCRIPTION_KEY
from tests.spec_helpers import ROOT

MODELS = ROOT / "models"
BROWSER = ROOT / "tests" / "browser"
NODE_MODULES = BROWSER / "node_modules"
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
BUNDLE_FILES = {"model.onnx", "model.json", "specc.js", "index.html", "README.md"}

runner = CliRunner()


def export(*args: str | Path) -> Any:
    """``specc export ARGS`` through the CliRunner."""
    return runner.invoke(app, ["export", *map(str, args)])


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


@pytest.fixture(scope="module")
def labeled_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits_mlp with class labels, trained one epoch by ``specc train``."""
    folder = tmp_path_factory.mktemp("trained")
    spec = yaml.safe_load((MODELS / "digits_mlp.yaml").read_text())
    spec["metadata"] = {"labels": {"digit": LABELS}}
    spec_path = folder / "digits_labeled.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = folder / "trained"
    data = MODELS / "data" / "digits.npz"
    args = ["train", str(spec_path), "--data", str(data), "--epochs", "1", "-o", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


# --- (1) the bundle's files -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist_cnn", "imdb_bilstm", "ticket_classifier"])
def test_bundle_of_a_spec(name: str, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export(MODELS / f"{name}.yaml", "--target", "web", "--out", out)
    assert result.exit_code == 0, result.output
    assert files_in(out) == BUNDLE_FILES | {"package.json"}
    # The table names every file with its exact size.
    for path in out.iterdir():
        assert re.search(
            rf"^{re.escape(path.name)} .* {path.stat().st_size:,}$", result.output, re.M
        )
    assert re.search(r"^total ", result.output, re.M)

    source = load_source(MODELS / f"{name}.yaml")
    description = json.loads((out / "model.json").read_text())
    for key in ("name", "inputs", "outputs"):
        assert description[key] == source.description[key]
    assert description["onnxruntime_web"] == web.ORT_WEB_VERSION
    assert description["opset"] == 17
    assert description["model"] == "model.onnx"
    assert "external_data" not in description

    model = onnx.load(str(out / "model.onnx"))
    onnx.checker.check_model(model)
    assert web.web_problems(model) == []
    props = {p.key: p.value for p in model.metadata_props}
    assert set(props) == {DESCRIPTION_KEY}
    assert json.loads(props[DESCRIPTION_KEY]) == source.description
    assert [i.name for i in model.graph.input] == [t["name"] for t in description["inputs"]]

    script = (out / "specc.js").read_text()
    assert "from 'onnxruntime-web/wasm'" in script
    assert "{{" not in script and "{{" not in (out / "index.html").read_text()
    assert (
        '"onnxruntime-web/wasm": "./node_modules/onnxruntime-web/dist/'
        in (out / "index.html").read_text()
    )
    package = json.loads((out / "package.json").read_text())
    assert package["dependencies"] == {"onnxruntime-web": web.ORT_WEB_VERSION}
    assert f"onnxruntime-web@{web.ORT_WEB_VERSION}" in (out / "README.md").read_text()


def test_bundle_of_a_trained_folder(labeled_trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export(labeled_trained, "--target", "web", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert files_in(out) == BUNDLE_FILES | {"package.json"}
    description = json.loads((out / "model.json").read_text())
    assert description["name"] == "digits_mlp"
    assert description["inputs"] == [{"dtype": "float32", "name": "pixels", "shape": [None, 64]}]
    assert description["outputs"][0]["labels"] == LABELS
    # The trained weights, unchanged.
    pixels = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    expected = run_onnx(labeled_trained / "model.onnx", {"pixels": pixels})["digit"]
    np.testing.assert_array_equal(
        run_onnx(out / "model.onnx", {"pixels": pixels})["digit"], expected
    )


def test_default_out_folder_is_named_after_the_model(in_tmp_path: Path) -> None:
    result = export(MODELS / "digits_mlp.yaml", "--target", "web", "-q")
    assert result.exit_code == 0, result.output
    assert files_in(in_tmp_path / "digits_mlp-web") == BUNDLE_FILES | {"package.json"}


def test_weights_and_opset_reach_the_model(tmp_path: Path) -> None:
    spec = MODELS / "mnist_mlp.yaml"
    built, weights = tmp_path / "built.onnx", tmp_path / "weights.npz"
    result = runner.invoke(
        app, ["build", str(spec), "-o", str(built), "--save-weights", str(weights)]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "bundle"
    result = export(spec, "--target", "web", "--out", out, "--weights", weights, "--opset", "21")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "model.json").read_text())["opset"] == 21
    assert onnx.load(str(out / "model.onnx")).ir_version == 10
    name = json.loads((out / "model.json").read_text())["inputs"][0]["name"]
    feeds = {name: np.random.default_rng(1).random((2, 784), dtype=np.float32)}
    np.testing.assert_array_equal(
        next(iter(run_onnx(out / "model.onnx", feeds).values())),
        next(iter(run_onnx(built, feeds).values())),
    )


def test_large_model_keeps_its_weights_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "EXTERNAL_DATA_THRESHOLD", 1000)
    out = tmp_path / "bundle"
    assert export(MODELS / "digits_mlp.yaml", "--target", "web", "--out", out).exit_code == 0
    assert web.EXTERNAL_DATA in files_in(out)
    assert json.loads((out / "model.json").read_text())["external_data"] == web.EXTERNAL_DATA
    outputs = run_onnx(out / "model.onnx", {"pixels": np.zeros((1, 64), np.float32)})
    assert outputs["digit"].shape == (1, 10)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target", "desktop"], 2, "unknown target 'desktop'; expected one of: web, mobile"),
        ([], 2, "--target is required"),
        (["--target", "web", "--quantize", "int8"], 2, "--quantize does not apply to --target web"),
        (["--target", "web", "--out", "{file}/sub"], 2, "cannot write to"),
        (["--target", "web", "--out", "{file}"], 2, "is a file; give a folder"),
    ],
)
def test_usage_errors_are_one_line(
    args: list[str], code: int, message: str, tmp_path: Path
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    args = [arg.replace("{file}", str(a_file)) for arg in args]
    result = export(MODELS / "digits_mlp.yaml", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_bad_sources_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("specc: 1\nlayers:\n  - {type: Dense, units: 0, input_shape: [3]}\n")
    result = export(bad, "--target", "web", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "bad.yaml:3:" in result.output and "units" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = export(empty, "--target", "web", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "holds no model.onnx" in result.output
    assert not (tmp_path / "out").exists()


def test_a_model_the_browser_cannot_run_exits_1(labeled_trained: Path, tmp_path: Path) -> None:
    model = onnx.load(str(labeled_trained / "model.onnx"))
    model.graph.node.append(onnx.helper.make_node("FusedGemm", ["pixels"], ["x"], domain="ms"))
    model.opset_import.append(onnx.helper.make_opsetid("ms", 1))
    folder = tmp_path / "odd"
    folder.mkdir()
    onnx.save_model(model, str(folder / "model.onnx"))
    result = export(folder, "--target", "web", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "cannot run in onnxruntime-web" in result.output
    assert "domain 'ms'" in result.output and "FusedGemm" in result.output


def test_an_output_javascript_cannot_hold_exits_1(tmp_path: Path) -> None:
    # onnxruntime-web returns outputs as an object's properties: `__proto__` would be lost.
    spec = tmp_path / "proto.yaml"
    spec.write_text(
        "specc: 1\ninputs:\n  x: {shape: [4]}\nlayers:\n"
        "  - {name: __proto__, type: Dense, units: 3, inputs: x}\noutputs: [__proto__]\n"
    )
    result = export(spec, "--target", "web", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "output named '__proto__' cannot be read back in JavaScript" in result.output
    assert not (tmp_path / "out").exists()


def test_mobile_target_goes_to_export_mobile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_export_mobile(*args: Any) -> list[Path]:
        calls.append(args)
        (args[1] / "model.ort").parent.mkdir(parents=True)
        (args[1] / "model.ort").write_bytes(b"1234")
        return [args[1] / "model.ort"]

    fake = types.ModuleType("specc.emit.mobile")
    fake.export_mobile = fake_export_mobile  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "specc.emit.mobile", fake)
    data = MODELS / "data" / "digits.npz"
    out = tmp_path / "mobile"
    result = export(
        MODELS / "digits_mlp.yaml",
        "--target",
        "mobile",
        "--out",
        out,
        "--quantize",
        "int8",
        "--data",
        data,
        "--with-training",
    )
    assert result.exit_code == 0, result.output
    (source, folder, quantize, data_arg, with_training, spec, limits) = calls[0]
    assert source.description["name"] == "digits_mlp"
    assert (folder, quantize, data_arg, with_training, spec) == (out, "int8", data, True, None)
    assert limits == DEFAULT_LIMITS
    assert re.search(r"^model.ort .* 4$", result.output, re.M)
    result = export(MODELS / "digits_mlp.yaml", "--target", "mobile", "--include-runtime")
    assert result.exit_code == 2
    assert "--include-runtime does not apply to --target mobile" in result.output


def test_missing_runtime_says_what_to_install(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    result = export(
        MODELS / "digits_mlp.yaml",
        "--target",
        "web",
        "--out",
        tmp_path / "out",
        "--include-runtime",
        "--runtime-dir",
        nowhere,
    )
    assert result.exit_code == 2
    assert f"npm install onnxruntime-web@{web.ORT_WEB_VERSION}" in result.output
    assert not (tmp_path / "out").exists()


def test_wrong_runtime_version_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "onnxruntime-web"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "onnxruntime-web", "version": "1.17.0"}')
    with pytest.raises(web.RuntimeFilesError, match=r"holds onnxruntime-web 1\.17\.0"):
        web.find_runtime(tmp_path / "node_modules")


def test_web_problems_names_opset_and_ir_version() -> None:
    model = onnx.helper.make_model(
        onnx.helper.make_graph([], "g", [], []),
        opset_imports=[onnx.helper.make_opsetid("", 23)],
        ir_version=11,
    )
    assert web.web_problems(model) == [
        "IR version must be at most 10; got 11",
        "opset must be at most 21; got 23",
    ]


# --- (2)-(4) in headless Chromium -----------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the bundle folder; ``/…/node_modules/…`` from tests/browser when allowed."""

    node_modules: Path | None = None
    seen: list[str]

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        self.seen.append(clean)
        if self.node_modules is not None and "/node_modules/" in clean:
            rest = clean.split("/node_modules/", 1)[1]
            return str(self.node_modules / rest)
        return super().translate_path(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StaticServer:
    """A static file server for ``root`` on 127.0.0.1 in a thread; records the paths asked for."""

    def __init__(self, root: Path, node_modules: Path | None) -> None:
        self.seen: list[str] = []
        handler = type("Handler", (_Handler,), {"node_modules": node_modules, "seen": self.seen})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path, once node and the pinned npm packages are there (skip without them)."""
    node = shutil.which("node")
    browser = os.environ.get("SPECC_CHROMIUM") or shutil.which("chromium")
    if node is None or browser is None:
        missing = " and ".join(n for n, p in (("node", node), ("chromium", browser)) if p is None)
        pytest.skip(f"browser tests need {missing} (apt-get install chromium nodejs)")
    if (
        not (NODE_MODULES / "playwright-core").is_dir()
        or not (NODE_MODULES / "onnxruntime-web").is_dir()
    ):
        pytest.fail(
            "browser tests need the pinned npm packages: run `npm ci --prefix tests/browser`"
        )
    return browser


def run_pages(
    chromium: str, jobs: list[dict[str, Any]], tmp_path: Path, webgpu: bool = False
) -> list[dict[str, Any]]:
    """Run jobs in one Chromium (tests/browser/run_pages.mjs); fail on any page error.
    ``webgpu``: the pages get WebGPU (on Chromium's SwiftShader where there is no GPU)."""
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    env = {**os.environ, "SPECC_CHROMIUM": chromium, "SPECC_WEBGPU": "1" if webgpu else "0"}
    done = subprocess.run(
        ["node", str(BROWSER / "run_pages.mjs"), str(job_file)],
        cwd=BROWSER,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for job, result in zip(jobs, results, strict=True):
        assert result["errors"] == [], (job["url"], result["errors"], result["console"])
        assert "result" in result, result
    return results


def predict_page(bundle: Path, module: str | None = None) -> str:
    """A page with the bundle's import map and nothing else, for predict() and train jobs.
    Given ``module`` (a file of onnxruntime-web's dist/, as ``ort.webgpu.bundle.min.mjs``,
    its WebGPU build), the map points ``onnxruntime-web/wasm`` at that file instead, on a
    page of its own."""
    found = re.search(
        r'<script type="importmap">.*?</script>', (bundle / "index.html").read_text(), re.S
    )
    imports = found.group(0) if found else ""
    page = bundle / "predict.html"
    if module is not None:
        assert found is not None
        imports = imports.replace(web.ORT_MODULE, module)
        page = bundle / f"{module.split('.')[1]}.html"
    page.write_text(f"<!doctype html><html><head>{imports}</head></html>")
    return page.name


def predict_in_chromium(
    chromium: str, site: Path, name: str, feeds: dict[str, np.ndarray], tmp_path: Path
) -> dict[str, Any]:
    """The ``predict()`` result of the bundle ``site/name`` in Chromium for ``feeds``."""
    with StaticServer(site, NODE_MODULES) as server:
        job = {
            "kind": "predict",
            "url": server.url + f"{name}/{predict_page(site / name)}",
            "inputs": {key: value.tolist() for key, value in feeds.items()},
        }
        [result] = run_pages(chromium, [job], tmp_path)
    return result["result"]


def as_job_input(array: np.ndarray) -> dict[str, Any]:
    return {"data": array.ravel().tolist(), "dims": list(array.shape)}


def assert_close(page: dict[str, Any], expected: dict[str, np.ndarray], label: str) -> float:
    worst = 0.0
    for name, want in expected.items():
        got = np.asarray(page[name]["data"], np.float32).reshape(page[name]["dims"])
        assert got.shape == want.shape, (name, got.shape, want.shape)
        worst = max(worst, float(np.max(np.abs(got - want.astype(np.float32)))))
    print(f"{label}: max |onnxruntime-web - onnxruntime| = {worst:.3g}")
    assert worst <= 1e-4
    return worst


DTYPES_SPEC = """
specc: 1
name: dtypes
inputs:
  half: {shape: [4], dtype: float16}
  flag: {shape: [2], dtype: bool}
  ids: {shape: [3], dtype: int64}
layers:
  - {name: relu, type: Activation, activation: relu, inputs: half}
  - {name: flags, type: Flatten, inputs: flag}
  - {name: tokens, type: Flatten, inputs: ids}
outputs: [relu, flags, tokens]
"""


@pytest.mark.slow
def test_predict_in_chromium_matches_onnxruntime(chromium: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (tmp_path / "dtypes.yaml").write_text(DTYPES_SPEC)
    specs = {
        "mnist_cnn": MODELS / "mnist_cnn.yaml",
        "imdb_bilstm": MODELS / "imdb_bilstm.yaml",
        "dtypes": tmp_path / "dtypes.yaml",
    }
    for name, spec in specs.items():
        assert export(spec, "--target", "web", "--out", site / name).exit_code == 0
    rng = np.random.default_rng(7)
    image = rng.random((2, 28, 28, 1), dtype=np.float32)
    tokens = rng.integers(1, 20000, size=12).astype(np.int32)
    batch = rng.integers(0, 20000, size=(2, 9)).astype(np.int32)
    half = [-1.5, 0.1, 2.0, 65504.0]
    cases = [
        ("mnist_cnn", {"image": as_job_input(image)}, {"image": image}),
        # A flat array of token ids is one example of that length.
        ("imdb_bilstm", {"tokens": tokens.tolist()}, {"tokens": tokens[None]}),
        # A nested array gives its own dims.
        ("imdb_bilstm", {"tokens": batch.tolist()}, {"tokens": batch}),
        # Plain numbers become float16, bool and int64 tensors.
        (
            "dtypes",
            {"half": half, "flag": [1, 0], "ids": [[1, 2, 3]]},
            {
                "half": np.array([half], np.float16),
                "flag": np.array([[True, False]]),
                "ids": np.array([[1, 2, 3]], np.int64),
            },
        ),
    ]
    with StaticServer(site, NODE_MODULES) as server:
        jobs = [
            {
                "kind": "predict",
                "url": server.url + f"{name}/{predict_page(site / name)}",
                "inputs": inputs,
            }
            for name, inputs, _ in cases
        ]
        results = run_pages(chromium, jobs, tmp_path)
    for (name, _, feeds), result in zip(cases, results, strict=True):
        expected = run_onnx(site / name / "model.onnx", feeds)
        shapes = ", ".join(str(v.shape) for v in feeds.values())
        assert_close(result["result"]["outputs"], expected, f"{name} {shapes}")
    assert any(p.endswith("/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm") for p in server.seen)


@pytest.mark.slow
def test_demo_page_shows_outputs_and_time_to_first_prediction(
    chromium: str, labeled_trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    assert export(labeled_trained, "--target", "web", "--out", site / "digits").exit_code == 0
    assert (
        export(MODELS / "imdb_bilstm.yaml", "--target", "web", "--out", site / "imdb").exit_code
        == 0
    )
    # The weights beside model.onnx (as for a model past 2 GB) load in the page too.
    monkeypatch.setattr(web, "EXTERNAL_DATA_THRESHOLD", 1000)
    assert export(labeled_trained, "--target", "web", "--out", site / "external").exit_code == 0
    monkeypatch.setattr(web, "EXTERNAL_DATA_THRESHOLD", 2**31)
    hostile = _hostile_spec(tmp_path)
    assert export(hostile, "--target", "web", "--out", site / "hostile").exit_code == 0
    with StaticServer(site, NODE_MODULES) as server:
        jobs = [
            {"kind": "demo", "url": server.url + f"{name}/"}
            for name in ("digits", "imdb", "external", "hostile")
        ]
        results = run_pages(chromium, jobs, tmp_path)
    _check_hostile_page(results.pop()["result"])
    for name, record in zip(("digits", "imdb", "external"), results, strict=True):
        shown = record["result"]
        assert shown["state"] == "done", shown["status"]
        demo = shown["demo"]
        ms = demo["timeToFirstPredictionMs"]
        print(
            f"{name}: time from page load to first prediction {ms:.0f} ms "
            f"(load {demo['loadMs']:.0f} ms, predict {demo['predictMs']:.0f} ms)"
        )
        assert math.isfinite(ms) and ms > 0
        # toFixed(0) and Python may round a half differently.
        assert shown["timeText"].endswith(" ms")
        assert abs(float(shown["timeText"].removesuffix(" ms")) - ms) <= 1
        feeds = {
            key: np.asarray(value["data"], np.float32 if key == "pixels" else np.int32).reshape(
                value["dims"]
            )
            for key, value in demo["inputs"].items()
        }
        expected = run_onnx(site / name / "model.onnx", feeds)
        assert_close(demo["outputs"], expected, f"{name} demo")
        rows = {row["id"]: row for row in shown["rows"]}
        assert set(rows) == {f"output-{key}" for key in expected}
        if name != "imdb":
            label = LABELS[int(np.argmax(expected["digit"][0]))]
            assert rows["output-digit"]["topLabel"] == label
            assert rows["output-digit"]["cells"][2].startswith(f"{label} (")
            assert rows["output-digit"]["cells"][1] == "[1, 10]"
        else:
            assert rows["output-sentiment"]["topLabel"] == ""
            assert demo["inputs"]["tokens"]["dims"] == [1, 8]


# A name and labels that would run code in the page if pasted raw (the schema refuses '/',
# so no element is closed; an attribute does the work).
HOSTILE_NAME = "<img src=x onerror=window.__speccInjected=1> {{NAME_HTML}} \"'`${x}"
HOSTILE_LABELS = [f"<img src=x onerror=window.__speccInjected={k}> \u2028 {k}" for k in range(10)]


def _hostile_spec(folder: Path) -> Path:
    spec = yaml.safe_load((MODELS / "digits_mlp.yaml").read_text())
    spec["name"] = HOSTILE_NAME
    spec["metadata"] = {"labels": {"digit": HOSTILE_LABELS}}
    path = folder / "hostile.json"
    path.write_text(json.dumps(spec))
    return path


def _check_hostile_page(shown: dict[str, Any]) -> None:
    """The hostile bundle's page ran, showed the name and labels as text, ran none of it."""
    assert shown["state"] == "done", shown["status"]
    assert shown["injected"] is None
    assert shown["heading"] == HOSTILE_NAME
    assert shown["title"] == f"{HOSTILE_NAME} · specc web bundle"
    assert shown["status"].startswith(f"Ran {HOSTILE_NAME} with onnxruntime-web")
    (row,) = shown["rows"]
    assert row["topLabel"] in HOSTILE_LABELS
    assert row["cells"][2].startswith(row["topLabel"] + " (")


@pytest.mark.slow
def test_include_runtime_works_offline(
    chromium: str, labeled_trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle"
    # Found by walking up from the working directory to a node_modules folder.
    monkeypatch.chdir(BROWSER)
    result = export(
        MODELS / "mnist_cnn.yaml", "--target", "web", "--out", bundle, "--include-runtime"
    )
    assert result.exit_code == 0, result.output
    runtime = {f"ort/{name}" for name in web.ORT_FILES}
    assert files_in(bundle) == BUNDLE_FILES | runtime
    for name in runtime:
        assert name in result.output
    script = (bundle / "specc.js").read_text()
    assert f"from './ort/{web.ORT_MODULE}'" in script
    assert "importmap" not in (bundle / "index.html").read_text()

    image = np.random.default_rng(3).random((1, 28, 28, 1), dtype=np.float32)
    # No node_modules route: everything must come from the bundle folder itself.
    with StaticServer(bundle, node_modules=None) as server:
        page = server.url + "index.html"
        jobs = [
            {"kind": "demo", "url": page},
            {"kind": "predict", "url": page, "inputs": {"image": as_job_input(image)}},
        ]
        results = run_pages(chromium, jobs, tmp_path)
    assert results[0]["result"]["state"] == "done", results[0]["result"]["status"]
    ms = results[0]["result"]["demo"]["timeToFirstPredictionMs"]
    print(f"offline bundle: time from page load to first prediction {ms:.0f} ms")
    assert_close(
        results[1]["result"]["outputs"],
        run_onnx(bundle / "model.onnx", {"image": image}),
        "mnist_cnn offline",
    )
    requested = {url.removeprefix(server.url.rstrip("/")) for r in results for url in r["requests"]}
    assert all(url.startswith(server.url) for r in results for url in r["requests"])
    assert not any("node_modules" in path for path in requested | set(server.seen))
    assert {f"/ort/{name}" for name in web.ORT_FILES} <= requested

    # Exporting again without the runtime removes it from the folder.
    assert export(labeled_trained, "--target", "web", "--out", bundle, "-q").exit_code == 0
    assert files_in(bundle) == BUNDLE_FILES | {"package.json"}


@pytest.mark.slow
def test_runtime_found_through_the_environment(
    chromium: str, in_tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(web.RUNTIME_ENV, str(NODE_MODULES))
    result = export(MODELS / "digits_mlp.yaml", "--target", "web", "--include-runtime", "-q")
    assert result.exit_code == 0, result.output
    for name in web.ORT_FILES:
        copied = in_tmp_path / "digits_mlp-web" / "ort" / name
        assert (
            copied.read_bytes() == (NODE_MODULES / "onnxruntime-web" / "dist" / name).read_bytes()
        )
