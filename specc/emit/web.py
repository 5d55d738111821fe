"""``specc export --target web``: a folder that runs the model in a browser.

The bundle is the inference model (``model.onnx``), its description (``model.json``), a small
ES module (``specc.js``) that loads it with onnxruntime-web's WebAssembly backend, a demo page
(``index.html``) and a README. onnxruntime-web comes from npm at one pinned version: either
the app provides it (``specc.js`` imports the bare specifier ``onnxruntime-web/wasm``), or
``--include-runtime`` copies its files into ``ort/`` so that the folder works offline.
With ``--with-training`` the bundle also trains where it runs (``specc.emit.web_training``).
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import onnx

from specc.atomic import copy_file, write_text
from specc.emit.bundle import write_bundle
from specc.emit.model_checks import standard_problems
from specc.emit.source import ExportSource
from specc.emit.step_export import StepExport
from specc.emit.web_render import TRAINING_SCRIPTS, package_json, render_templates
from specc.emit.web_training import (
    TRAINING_FILES,
    TRAINING_JSON,
    TrainingFiles,
    training_files,
    write_training_files,
)
from specc.onnx_model import write_model
from specc.passes.lower import DESCRIPTION_KEY

# The onnxruntime-web release every bundle is written for (its API and its file names).
ORT_WEB_VERSION = "1.30.0"
ORT_PACKAGE = "onnxruntime-web"
# The WebAssembly-only build: the ES module (with the Emscripten loader inlined) and the
# SIMD/threads binary it loads. Both come from the npm package's dist/ folder.
ORT_MODULE = "ort.wasm.bundle.min.mjs"
ORT_FILES = (ORT_MODULE, "ort-wasm-simd-threaded.wasm")
RUNTIME_DIR = "ort"
# Where specc looks for an installed onnxruntime-web when --runtime-dir is not given.
RUNTIME_ENV = "SPECC_ORT_WEB_DIR"

# onnxruntime-web runs standard ONNX ops up to this opset and IR version (1.30 runs newer
# ones too; specc writes at most opset 21, IR 10).
MAX_WEB_OPSET = 21
MAX_WEB_IR_VERSION = 10
# protobuf cannot serialize a message past 2 GiB: beyond this the weights go to model.onnx.data.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**20
EXTERNAL_DATA = "model.onnx.data"

# What a web export writes at the top of its folder: an earlier export's folder holding
# only these is replaced whole; one holding anything else is refused.
OWNED = (
    "model.onnx",
    EXTERNAL_DATA,
    "model.json",
    "specc.js",
    "index.html",
    "README.md",
    "package.json",
    RUNTIME_DIR,
    *TRAINING_FILES,
    *TRAINING_SCRIPTS,
)


class UnsupportedModelError(Exception):
    """The model uses something onnxruntime-web cannot run (a spec problem: exit code 1)."""


class RuntimeFilesError(Exception):
    """``--include-runtime`` found no usable onnxruntime-web (a setup problem: exit code 2)."""


def web_problems(model: onnx.ModelProto) -> list[str]:
    """What in ``model`` onnxruntime-web's WebAssembly backend cannot run (empty when fine)."""
    problems = standard_problems(model, MAX_WEB_OPSET, MAX_WEB_IR_VERSION, "on the web")
    # onnxruntime-web hands the outputs back as a JavaScript object's properties, and
    # an assignment to `__proto__` sets the object's prototype instead: that output is lost.
    if any(output.name == "__proto__" for output in model.graph.output):
        problems.append(
            "an output named '__proto__' cannot be read back in JavaScript "
            "(onnxruntime-web returns outputs as an object's properties); rename it"
        )
    return problems


def web_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` for the browser holding, of its metadata, the description
    (``specc.model``) only: anything else (the training configuration models trained by
    earlier versions carry) is of no use there."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    kept = [(p.key, p.value) for p in copy.metadata_props if p.key == DESCRIPTION_KEY]
    del copy.metadata_props[:]
    for key, value in kept:
        entry = copy.metadata_props.add()
        entry.key, entry.value = key, value
    return copy


def find_runtime(runtime_dir: Path | None = None, start: Path | None = None) -> Path:
    """The ``dist/`` folder of onnxruntime-web ``ORT_WEB_VERSION``: in ``runtime_dir`` (the
    package folder, its ``dist/``, or a ``node_modules`` holding it), else in
    ``$SPECC_ORT_WEB_DIR``, else in a ``node_modules`` folder in ``start`` (default: the
    working directory) or above it."""
    hint = f"npm install {ORT_PACKAGE}@{ORT_WEB_VERSION}"
    if runtime_dir is None and os.environ.get(RUNTIME_ENV):
        runtime_dir = Path(os.environ[RUNTIME_ENV])
    if runtime_dir is not None:
        nested = (runtime_dir / ORT_PACKAGE, runtime_dir / "node_modules" / ORT_PACKAGE)
        candidates = [runtime_dir, runtime_dir.parent, *nested]
        where = str(runtime_dir)
    else:
        here = (start or Path.cwd()).resolve()
        candidates = [folder / "node_modules" / ORT_PACKAGE for folder in (here, *here.parents)]
        where = f"node_modules folders from {here} up"
    for package in candidates:
        manifest = package / "package.json"
        if not manifest.is_file():
            continue
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if found.get("name") != ORT_PACKAGE:
            continue
        if found.get("version") != ORT_WEB_VERSION:
            raise RuntimeFilesError(
                f"{package} holds {ORT_PACKAGE} {found.get('version')}; this specc writes "
                f"bundles for {ORT_WEB_VERSION}: {hint}"
            )
        missing = [name for name in ORT_FILES if not (package / "dist" / name).is_file()]
        if missing:
            raise RuntimeFilesError(f"{package}/dist lacks {', '.join(missing)}: {hint}")
        return package / "dist"
    raise RuntimeFilesError(
        f"--include-runtime needs {ORT_PACKAGE} {ORT_WEB_VERSION} and found none in {where}: "
        f"{hint} (or pass --runtime-dir)"
    )


def bundle_description(source: ExportSource, external_data: bool) -> dict[str, Any]:
    """``model.json``: the model's description plus what the bundle was made for."""
    opsets = {entry.domain: entry.version for entry in source.model.opset_import}
    # Name, inputs and outputs first: they are what a reader of the file looks for.
    first = ("name", "inputs", "outputs")
    description = {key: source.description[key] for key in first if key in source.description}
    description.update({k: v for k, v in source.description.items() if k not in first})
    description.update(
        {
            "model": "model.onnx",
            "opset": opsets.get("", 0),
            "onnxruntime_web": ORT_WEB_VERSION,
            "specc": _specc_version(),
        }
    )
    if external_data:
        description["external_data"] = EXTERNAL_DATA
    return description


def export_web(
    source: ExportSource,
    out: Path,
    include_runtime: bool = False,
    runtime_dir: Path | None = None,
    training: StepExport | None = None,
    examples: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the web bundle of ``source`` into ``out``, all files at once (see
    ``specc.emit.bundle``); return the files written, in order. With ``training`` (the
    step graphs of ``source``'s spec, ``specc.emit.step_export``) the bundle also trains
    (``specc.emit.web_training``), its demo page on ``examples``
    (``specc.emit.web_examples``) when given.

    Raises ``UnsupportedModelError`` for a model the browser cannot run, ``RuntimeFilesError``
    when ``include_runtime`` finds no onnxruntime-web, ``OutputFolderError`` for an ``out``
    holding other files, and ``OSError`` when ``out`` cannot be written."""
    problems = web_problems(source.model)
    model = web_model(source.model)
    files = None
    if training is not None:
        files = training_files(training, model, _opset(model), examples)
        for label, graph in (("training step", files.step), ("evaluation", files.evaluation)):
            problems += [f"{label}: {problem}" for problem in web_problems(graph)]
    if problems:
        raise UnsupportedModelError("; ".join(problems))
    # Find the runtime before writing anything, so that a failure leaves no half bundle.
    dist = find_runtime(runtime_dir) if include_runtime else None
    external = model.ByteSize() > EXTERNAL_DATA_THRESHOLD
    description = bundle_description(source, external)
    if files is not None:
        description["training"] = TRAINING_JSON
    return write_bundle(
        out, OWNED, lambda folder: _write_files(folder, model, description, external, dist, files)
    )


def _opset(model: onnx.ModelProto) -> int:
    return next((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), 0)


def _write_files(
    folder: Path,
    model: onnx.ModelProto,
    description: dict[str, Any],
    external: bool,
    dist: Path | None,
    training: TrainingFiles | None,
) -> list[Path]:
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        write_text(folder / name, text)
        written.append(folder / name)

    if external:
        onnx.save_model(
            model, str(folder / "model.onnx"), save_as_external_data=True, location=EXTERNAL_DATA
        )
        written += [folder / "model.onnx", folder / EXTERNAL_DATA]
    else:
        write_model(model, folder / "model.onnx")
        written.append(folder / "model.onnx")
    if training is not None:
        written += write_training_files(folder, training)
    write("model.json", json.dumps(description, indent=2) + "\n")
    runtime = {
        "version": ORT_WEB_VERSION,
        "package": ORT_PACKAGE,
        "module": ORT_MODULE,
        "wasm": ORT_FILES[1],
        "folder": RUNTIME_DIR,
    }
    rendered = render_templates(description, runtime, dist is not None, training is not None)
    for name, text in rendered.items():
        write(name, text)
    if dist is None:
        write("package.json", package_json(description, ORT_PACKAGE, ORT_WEB_VERSION))
    else:
        (folder / RUNTIME_DIR).mkdir()
        for name in ORT_FILES:
            written.append(copy_file(dist / name, folder / RUNTIME_DIR / name))
    return written


def _specc_version() -> str:
    try:
        return version("specc")
    except PackageNotFoundError:
        return "unknown"
