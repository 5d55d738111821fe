"""``specc export --target mobile``: an ORT-format bundle for onnxruntime's mobile packages.

export_mobile writes, into one folder:

model.ort                 the inference model, converted by onnxruntime's own converter
model.int8.ort            with ``quantize="int8"``: weights in int8 (dynamic quantization)
quantization.json         with ``quantize="int8"``: size change, and with ``data`` the
                          accuracy change measured on it
required_operators.config the operators a minimal (``--minimal_build``) runtime must hold
model.json                inputs, outputs and labels (``specc.model``), plus the runtime
                          release and packages the files were made for
training/                 with ``with_training``: on-device training artifacts
                          (``specc.emit.mobile_training``)
README.md                 which packages to add and how to call them, for this model

The converter's release decides what runs the files: ORT-format models are written for
the onnxruntime release that converted them (1.19.2 here, the last one with training
packages), so the README pins the mobile packages to that release.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import onnx

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.mobile_ort import (
    INFERENCE_PACKAGES,
    OPERATORS_CONFIG,
    ORT_VERSION,
    TRAINING_PACKAGES,
    to_ort,
    write_operators_config,
)
from specc.emit.mobile_quantize import classification_heads, measure, quantize_int8
from specc.emit.mobile_readme import render_readme
from specc.emit.mobile_training import EXPORT_SOURCE, TrainingBundle, export_training
from specc.emit.onnx_model import write_model
from specc.emit.source import ExportSource

QUANTIZE_CHOICES = ("int8",)


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
) -> MobileExport:
    """Write the mobile bundle of ``source`` into ``out``; return the files written.

    ``quantize="int8"`` adds model.int8.ort and quantization.json; ``data`` (an .npz with
    arrays named after the inputs, and optionally the outputs' labels) measures the
    accuracy change. ``with_training`` adds on-device training artifacts built from the
    spec's training graph; ``spec`` is that spec, needed when ``source`` is a folder that
    ``specc train`` wrote. Problems in the spec or data raise ``SpecError``; a
    ``quantize`` other than "int8", or ``data`` without ``quantize``, ``ValueError``.
    """
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        choices = ", ".join(QUANTIZE_CHOICES)
        raise ValueError(f"--quantize must be one of: {choices}; got {quantize!r}")
    if data is not None and quantize is None:
        raise ValueError("--data measures the accuracy change of quantization: add --quantize int8")
    out = Path(out)
    training: TrainingBundle | None = None
    if with_training:
        # First, so that a spec the phone cannot train is refused before anything is written.
        training = export_training(source, _training_spec(source, spec), out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    report: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="specc-mobile-") as tmp:
        model_onnx = Path(tmp) / "model.onnx"
        write_model(source.model, model_onnx)
        models = [to_ort(model_onnx, out / "model.ort")]
        if quantize == "int8":
            int8_onnx = Path(tmp) / "model.int8.onnx"
            report = quantize_int8(model_onnx, int8_onnx)
            models.append(to_ort(int8_onnx, out / "model.int8.ort"))
            report["size"] = _size_change(models[0], models[1])
            report["accuracy"] = (
                measure(
                    models[0],
                    models[1],
                    Path(data),
                    source.description,
                    classification_heads(source.model),
                )
                if data is not None
                else {"measured": False, "note": "no data given: accuracy was not measured"}
            )
    files.extend(models)
    if report is not None:
        files.append(_write_json(out / "quantization.json", report))
    files.append(write_operators_config(models, out / OPERATORS_CONFIG))
    if training is not None:
        files.extend(training.files)
        files.append(_write_json(out / "training" / "training.json", training.info))
    files.append(_write_json(out / "model.json", _model_json(source, quantize, training)))
    readme = out / "README.md"
    sizes = {path.relative_to(out).as_posix(): file_size(path) for path in files}
    text = render_readme(source.description, sizes, report, training and training.info)
    readme.write_text(text, encoding="utf-8")
    files.append(readme)
    return MobileExport(files, report)


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
        runtime["training"] = {"folder": "training", "packages": TRAINING_PACKAGES}
    return {**source.description, "mobile": runtime}


def _opset(model: onnx.ModelProto) -> int | None:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _write_json(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return path
