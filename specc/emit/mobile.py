"""``specc export --target mobile``: an ORT-format bundle for onnxruntime's mobile packages.

export_mobile writes, into one folder:

model.ort                 the inference model, converted by onnxruntime's own converter
model.int8.ort            with ``quantize="int8"``: weights in int8 (dynamic quantization)
quantization.json         with ``quantize="int8"``: size change, and with ``data`` the
                          accuracy change measured on it
required_operators.config the operators a minimal (``--minimal_build``) runtime must hold
model.json                inputs, outputs and labels (``specc.model``), plus the runtime
                          release and packages the files were made for
training/                 with ``with_training``: on-device training files; by default
                          ``specc train``'s own step graph, run by the same mobile
                          packages (``specc.emit.mobile_step``), or onnxruntime-training's
                          artifacts (``training_engine="ort-training"``,
                          ``specc.emit.mobile_training``)
README.md                 which packages to add and how to call them, for this model

The converter's release decides what runs the files: ORT-format models are written for
the onnxruntime release that converted them (the one installed: 1.19.2 with the
``ort-training`` extra, the last release with training packages, which the
"ort-training" engine needs), so the README pins the mobile packages to that release.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from specc.atomic import scratch_folder, write_text
from specc.diagnostics import Diagnostic, SpecError
from specc.emit.bundle import write_bundle
from specc.emit.mobile_data import load_samples
from specc.emit.mobile_ort import (
    INFERENCE_PACKAGES,
    OPERATORS_CONFIG,
    ORT_VERSION,
    to_ort,
    write_operators_config,
)
from specc.emit.mobile_quantize import classification_heads, measure, quantize_int8
from specc.emit.mobile_readme import render_readme
from specc.emit.mobile_step import export_step_training
from specc.emit.mobile_training import TRAINING_DIR, TrainingBundle, export_training
from specc.emit.model_checks import standard_problems
from specc.emit.source import ExportSource
from specc.emit.trained import EXPORT_SOURCE, TRAINED_MODEL
from specc.escape import terminal_text
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import write_model
from specc.train.ort_training import training_engine_problem

QUANTIZE_CHOICES = ("int8",)
# What runs the training step on the phone: specc's own step graph on any onnxruntime
# build (the default), or onnxruntime-training's artifacts and training packages.
TRAINING_ENGINES = ("standard", "ort-training")
DEFAULT_TRAINING_ENGINE = "standard"
MOBILE_MODEL = "SPC518-mobile-model"
# The newest opset and IR version onnxruntime 1.19's converter and mobile packages run.
MAX_ORT_OPSET = 21
MAX_ORT_IR_VERSION = 10
# What a mobile export writes at the top of its folder: an earlier export's folder holding
# only these is replaced whole; one holding anything else is refused.
OWNED = (
    "model.ort",
    "model.int8.ort",
    "quantization.json",
    OPERATORS_CONFIG,
    "model.json",
    TRAINING_DIR,
    "README.md",
)


class MobileExport(list[Path]):
    """The files written, in order, plus what ``specc export`` prints about them."""

    def __init__(self, files: list[Path], quantization: dict[str, Any] | None = None) -> None:
        super().__init__(files)
        #: quantization.json's content (None without ``quantize``).
        self.quantization = quantization

    @property
    def sizes(self) -> dict[Path, int]:
        """Bytes per file written (a folder counts the files in it)."""
        return {path: file_size(path) for path in self}


def file_size(path: Path) -> int:
    """The size of a file, or of every file under a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def export_mobile(
    source: ExportSource,
    out: Path,
    quantize: str | None = None,
    data: Path | None = None,
    with_training: bool = False,
    spec: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    training_engine: str = DEFAULT_TRAINING_ENGINE,
) -> MobileExport:
    """Write the mobile bundle of ``source`` into ``out``, all files at once (see
    ``specc.emit.bundle``); return the files written.

    ``quantize="int8"`` adds model.int8.ort and quantization.json; ``data`` (an .npz with
    arrays named after the inputs, and optionally the outputs' labels) measures the
    accuracy change. ``with_training`` adds on-device training files built from the
    spec's training graph, for ``training_engine``: "standard" (``specc train``'s own step
    graph, run by any onnxruntime build: ``specc.emit.mobile_step``) or "ort-training"
    (onnxruntime-training's artifacts: ``specc.emit.mobile_training``); ``spec`` is that
    spec, needed when ``source`` is a folder that ``specc train`` wrote. Problems in the
    spec or data raise ``SpecError``; a ``quantize`` other than "int8", ``data`` without
    ``quantize``, an unknown ``training_engine``, or the "ort-training" engine where
    onnxruntime-training is not installed, ``ValueError``; an ``out`` holding other files,
    ``OutputFolderError``.
    """
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        choices = ", ".join(QUANTIZE_CHOICES)
        raise ValueError(f"--quantize must be one of: {choices}; got {quantize!r}")
    if data is not None and quantize is None:
        raise ValueError("--data measures the accuracy change of quantization: add --quantize int8")
    if training_engine not in TRAINING_ENGINES:
        choices = ", ".join(TRAINING_ENGINES)
        raise ValueError(f"--training-engine must be one of: {choices}; got {training_engine!r}")
    if with_training and training_engine == "ort-training":
        # The artifacts are generated by onnxruntime-training, an optional install.
        problem = training_engine_problem()
        if problem is not None:
            raise ValueError(
                "--with-training needs onnxruntime-training for --training-engine "
                f"ort-training (the default engine, standard, does not): {problem}"
            )
    problems = standard_problems(source.model, MAX_ORT_OPSET, MAX_ORT_IR_VERSION, "on a phone")
    if problems:
        message = f"onnxruntime {ORT_VERSION} cannot run this model: " + "; ".join(problems)
        raise SpecError([Diagnostic(MOBILE_MODEL, message, (), str(source.origin))])
    # The data is checked before the slow conversions, so that bad data fails fast.
    samples = load_samples(Path(data), source.description, limits) if data is not None else None
    out = Path(out)
    report: dict[str, Any] = {}  # filled with quantization.json's content
    files = write_bundle(
        out,
        OWNED,
        lambda folder: _write_files(
            source,
            folder,
            quantize,
            (data, samples),
            training_engine if with_training else None,
            (spec, limits),
            report,
        ),
    )
    return MobileExport(files, report or None)


def _write_files(
    source: ExportSource,
    out: Path,
    quantize: str | None,
    data: tuple[Path | None, dict[str, np.ndarray] | None],
    training_engine: str | None,
    spec_limits: tuple[Path | None, Limits],
    report: dict[str, Any],
) -> list[Path]:
    training: TrainingBundle | None = None
    spec, limits = spec_limits
    if training_engine == "ort-training":
        # First, so that a spec the phone cannot train is refused before the slow part.
        training = export_training(source, _training_spec(source, spec), out)
    elif training_engine is not None:
        training = export_step_training(source, _training_spec(source, spec), out, limits)
    files: list[Path] = []
    with scratch_folder("specc-mobile-") as tmp, _engine_errors(source):
        model_onnx = Path(tmp) / "model.onnx"
        write_model(source.model, model_onnx)
        models = [to_ort(model_onnx, out / "model.ort")]
        if quantize == "int8":
            int8_onnx = Path(tmp) / "model.int8.onnx"
            report.update(quantize_int8(model_onnx, int8_onnx))
            models.append(to_ort(int8_onnx, out / "model.int8.ort"))
            report["size"] = _size_change(models[0], models[1])
            data_file, samples = data
            report["accuracy"] = (
                measure(
                    models[0],
                    models[1],
                    data_file,
                    samples,
                    source.description,
                    classification_heads(source.model),
                )
                if data_file is not None and samples is not None
                else {"measured": False, "note": "no data given: accuracy was not measured"}
            )
    files.extend(models)
    if report:
        files.append(_write_json(out / "quantization.json", report))
    # The standard engine's graphs run on the same runtime as the model: a minimal build
    # must hold their operators too.
    step_models = training.ort_models if training is not None else []
    files.append(write_operators_config([*models, *step_models], out / OPERATORS_CONFIG))
    if training is not None:
        files.extend(training.files)
        files.append(_write_json(out / "training" / "training.json", training.info))
    files.append(_write_json(out / "model.json", _model_json(source, quantize, training)))
    sizes = {path.relative_to(out).as_posix(): file_size(path) for path in files}
    text = render_readme(source.description, sizes, report or None, training and training.info)
    write_text(out / "README.md", text)
    files.append(out / "README.md")
    return files


@contextlib.contextmanager
def _engine_errors(source: ExportSource) -> Iterator[None]:
    """onnxruntime's failures on a trained folder's model, as a located error.

    A model from a trained folder passed the ONNX checker but may still be one the engine
    refuses (a wrong attribute, an impossible shape). A model specc built from a spec
    failing here is specc's own bug, and stays an internal error.
    """
    try:
        yield
    except SpecError:
        raise
    except Exception as exc:
        if not source.origin.is_dir():
            raise
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        message = f"onnxruntime {ORT_VERSION} cannot convert or run this model: {lines[0]}"
        where = str(source.origin / TRAINED_MODEL)
        raise SpecError([Diagnostic(MOBILE_MODEL, terminal_text(message), (), where)]) from None


def _training_spec(source: ExportSource, spec: Path | None) -> Path:
    if spec is not None:
        return Path(spec)
    if source.origin.is_file():
        return source.origin
    message = (
        f"{source.origin} is a trained folder: on-device training artifacts need the spec "
        "it was trained from (--spec SPEC)"
    )
    raise SpecError([Diagnostic(EXPORT_SOURCE, message, (), str(source.origin))])


def _size_change(before: Path, after: Path) -> dict[str, Any]:
    float_bytes, int8_bytes = before.stat().st_size, after.stat().st_size
    return {
        "float_bytes": float_bytes,
        "int8_bytes": int8_bytes,
        "saved_bytes": float_bytes - int8_bytes,
        "ratio": round(int8_bytes / float_bytes, 4),
    }


def _model_json(
    source: ExportSource, quantize: str | None, training: TrainingBundle | None
) -> dict[str, Any]:
    runtime: dict[str, Any] = {
        "format": "ORT",
        "onnxruntime": ORT_VERSION,
        "opset": _opset(source.model),
        "packages": INFERENCE_PACKAGES,
        "model": "model.ort",
    }
    if quantize is not None:
        runtime["int8_model"] = "model.int8.ort"
    if training is not None:
        runtime["training"] = {
            "folder": "training",
            "engine": training.info.get("engine", "ort-training"),
            "packages": training.info["packages"],
        }
    return {**source.description, "mobile": runtime}


def _opset(model: onnx.ModelProto) -> int | None:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _write_json(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # allow_nan=False: a NaN would make the file invalid JSON; the report holds none.
    write_text(path, json.dumps(content, indent=2, allow_nan=False) + "\n")
    return path
