"""``specc export --target web``: a folder that runs the model in a browser.

The bundle is the inference model (``model.onnx``), its description (``model.json``), a small
ES module (``specc.js``) that loads it with onnxruntime-web's WebAssembly backend, a demo page
(``index.html``) and a README. onnxruntime-web comes from npm at one pinned version: either
the app provides it (``specc.js`` imports the bare specifier ``onnxruntime-web/wasm``), or
``--include-runtime`` copies its files into ``ort/`` so that the folder works offline.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import onnx

from specc.emit.source import ExportSource
from specc.passes.lower import METADATA_KEY

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

# Every file a web export may write; the ones a new export does not write are removed so
# that re-exporting into a folder leaves no stale model data or runtime behind.
MANAGED_FILES = (
    "model.onnx",
    EXTERNAL_DATA,
    "model.json",
    "specc.js",
    "index.html",
    "README.md",
    "package.json",
    *(f"{RUNTIME_DIR}/{name}" for name in ORT_FILES),
)


class UnsupportedModelError(Exception):
    """The model uses something onnxruntime-web cannot run (a spec problem: exit code 1)."""


class RuntimeFilesError(Exception):
    """``--include-runtime`` found no usable onnxruntime-web (a setup problem: exit code 2)."""


def web_problems(model: onnx.ModelProto) -> list[str]:
    """What in ``model`` onnxruntime-web's WebAssembly backend cannot run (empty when fine)."""
    problems: list[str] = []
    if model.ir_version > MAX_WEB_IR_VERSION:
        problems.append(f"IR version must be at most {MAX_WEB_IR_VERSION}; got {model.ir_version}")
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    for domain, opset in sorted(opsets.items()):
        if domain != "ai.onnx":
            problems.append(f"only the standard ONNX domain runs on the web; got domain {domain!r}")
        elif opset > MAX_WEB_OPSET:
            problems.append(f"opset must be at most {MAX_WEB_OPSET}; got {opset}")
    opset = opsets.get("ai.onnx", 0)
    unknown = sorted(
        {
            node.op_type
            for node in model.graph.node
            if node.domain not in ("", "ai.onnx") or not _is_standard(node.op_type, opset)
        }
    )
    if unknown:
        problems.append(f"ops that are not standard ONNX at opset {opset}: {', '.join(unknown)}")
    return problems


def _is_standard(op_type: str, opset: int) -> bool:
    try:
        onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return False
    return True


def web_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` for the browser: the training configuration is dropped (it is of
    no use there); the description (``specc.model``) stays."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    kept = [(p.key, p.value) for p in copy.metadata_props if p.key != METADATA_KEY]
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
) -> list[Path]:
    """Write the web bundle of ``source`` into ``out``; return the files written, in order.

    Raises ``UnsupportedModelError`` for a model the browser cannot run, ``RuntimeFilesError``
    when ``include_runtime`` finds no onnxruntime-web, and ``OSError`` when ``out`` cannot be
    written."""
    problems = web_problems(source.model)
    if problems:
        raise UnsupportedModelError("; ".join(problems))
    # Find the runtime before writing anything, so that a failure leaves no half bundle.
    dist = find_runtime(runtime_dir) if include_runtime else None
    model = web_model(source.model)
    external = model.ByteSize() > EXTERNAL_DATA_THRESHOLD
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write_text(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    if external:
        onnx.save_model(
            model, str(out / "model.onnx"), save_as_external_data=True, location=EXTERNAL_DATA
        )
        written += [out / "model.onnx", out / EXTERNAL_DATA]
    else:
        onnx.save_model(model, str(out / "model.onnx"))
        written.append(out / "model.onnx")
    description = bundle_description(source, external)
    write_text("model.json", json.dumps(description, indent=2) + "\n")
    values = _template_values(description, include_runtime)
    for name in ("specc.js", "index.html", "README.md"):
        write_text(name, _render(name, values))
    if dist is None:
        write_text("package.json", json.dumps(_package_json(description), indent=2) + "\n")
    else:
        (out / RUNTIME_DIR).mkdir(exist_ok=True)
        for name in ORT_FILES:
            written.append(Path(shutil.copyfile(dist / name, out / RUNTIME_DIR / name)))
    _remove_stale(out, written)
    return written


def _template_values(description: dict[str, Any], include_runtime: bool) -> dict[str, str]:
    if include_runtime:
        module = f"./{RUNTIME_DIR}/{ORT_MODULE}"
        runtime_wasm = f"new URL('./{RUNTIME_DIR}/{ORT_FILES[1]}', import.meta.url).href"
        import_map = ""
        runtime_note = _asset("README.runtime-included.md")
    else:
        module = f"{ORT_PACKAGE}/wasm"
        runtime_wasm = "null"
        # The demo page resolves the bare specifier to an npm install inside this folder.
        imports = {module: f"./node_modules/{ORT_PACKAGE}/dist/{ORT_MODULE}"}
        import_map = (
            '<script type="importmap">\n'
            + json.dumps({"imports": imports}, indent=2)
            + "\n</script>"
        )
        runtime_note = _asset("README.runtime-external.md")
    # The note goes first: it holds placeholders of its own.
    return {
        "RUNTIME_NOTE": runtime_note,
        "NAME": str(description["name"]),
        "ORT_VERSION": ORT_WEB_VERSION,
        "ORT_MODULE": module,
        "ORT_FILE": ORT_MODULE,
        "RUNTIME_WASM": runtime_wasm,
        "IMPORT_MAP": import_map,
        "INPUTS": _signature(description["inputs"]),
        "OUTPUTS": _signature(description["outputs"]),
    }


def _signature(tensors: list[dict[str, Any]]) -> str:
    lines = []
    for t in tensors:
        shape = ", ".join("null" if d is None else str(d) for d in t["shape"])
        labels = f", labels: {', '.join(t['labels'])}" if t.get("labels") else ""
        lines.append(f"- `{t['name']}`: {t['dtype']} [{shape}]{labels}")
    return "\n".join(lines)


def _package_json(description: dict[str, Any]) -> dict[str, Any]:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in description["name"].lower())
    return {
        "name": name.strip("-._") or "specc-model",
        "private": True,
        "description": f"{description['name']}, exported by specc for onnxruntime-web",
        "type": "module",
        "main": "specc.js",
        "exports": {".": "./specc.js", "./model.json": "./model.json"},
        "dependencies": {ORT_PACKAGE: ORT_WEB_VERSION},
    }


def _asset(name: str) -> str:
    return resources.files("specc.emit").joinpath("web_assets", name).read_text(encoding="utf-8")


def _render(name: str, values: dict[str, str]) -> str:
    # Placeholders are {{KEY}}: braces that JavaScript and CSS never write doubled.
    text = _asset(name)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _remove_stale(out: Path, written: list[Path]) -> None:
    keep = {path.resolve() for path in written}
    for name in MANAGED_FILES:
        path = out / name
        if path.is_file() and path.resolve() not in keep:
            path.unlink()
    runtime = out / RUNTIME_DIR
    if runtime.is_dir() and not any(runtime.iterdir()):
        runtime.rmdir()


def _specc_version() -> str:
    try:
        return version("specc")
    except PackageNotFoundError:
        return "unknown"
