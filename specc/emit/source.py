"""What ``specc export`` starts from: a spec (built on the fly) or a folder ``specc train`` wrote.

Either way the result is the inference ONNX model and its description (``model.json``):
inputs and outputs by name, dtypes, shapes and class labels, read from the metadata that
``specc build`` and ``specc train`` store in every model (``specc.model``). A trained
folder is read by ``specc.emit.trained``, which trusts nothing in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.description import parse_description
from specc.emit.trained import EXPORT_SOURCE, TRAINED_MODEL, read_trained_folder
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import DEFAULT_OPSET, to_model_proto
from specc.passes.lower import DESCRIPTION_KEY
from specc.pipeline import compile_spec
from specc.spec.loader import LoadedSpec

__all__ = ["TRAINED_MODEL", "ExportSource", "load_source"]


@dataclass
class ExportSource:
    """An inference model ready to export, and its description."""

    model: onnx.ModelProto
    description: dict[str, Any]
    origin: Path


def load_source(
    path: str | Path | LoadedSpec,
    weights: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    limits: Limits = DEFAULT_LIMITS,
    seed: int | None = None,
) -> ExportSource:
    """The model of a spec file (weights from ``weights``, or drawn with ``seed``) or of a
    trained folder. ``path`` may be a spec file already loaded (``load_spec``), so that a
    caller that checks it first (``specc predict``) does not parse it twice."""
    spec: Path | LoadedSpec
    if isinstance(path, LoadedSpec):
        spec, path = path, Path(path.file)
    else:
        spec = path = Path(path)
    if path.is_dir():
        if weights is not None:
            message = "--weights applies to a spec; a trained folder has its weights"
            raise SpecError([Diagnostic(EXPORT_SOURCE, message, (), str(path))])
        model, description = read_trained_folder(path, limits)
        return ExportSource(model, description, path)
    compiled = compile_spec(spec, weights, seed, limits=limits)
    model = to_model_proto(compiled.graph, opset, compiled.metadata)
    # The same checks as a trained folder's: one shape of description for every writer.
    description = parse_description(compiled.metadata[DESCRIPTION_KEY], model, str(path))
    return ExportSource(model, description, path)
