"""What ``specc export`` starts from: a spec (built on the fly) or a folder ``specc train`` wrote.

Either way the result is the inference ONNX model and its description (``model.json``):
inputs and outputs by name, dtypes, shapes and class labels, read from the metadata that
``specc build`` and ``specc train`` store in every model (``specc.model``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.onnx_model import DEFAULT_OPSET, to_model_proto
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.lower import DESCRIPTION_KEY
from specc.pipeline import compile_spec

TRAINED_MODEL = "model.onnx"


@dataclass
class ExportSource:
    """An inference model ready to export, and its description."""

    model: onnx.ModelProto
    description: dict[str, Any]
    origin: Path


def load_source(
    path: str | Path,
    weights: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    limits: Limits = DEFAULT_LIMITS,
) -> ExportSource:
    """The model of a spec file (weights drawn, or from ``weights``) or of a trained folder."""
    path = Path(path)
    if path.is_dir():
        model_path = path / TRAINED_MODEL
        if not model_path.exists():
            message = f"{path} holds no {TRAINED_MODEL}; give a spec or a folder specc train wrote"
            raise SpecError([Diagnostic("SPC511-export-source", message, (), str(path))])
        if weights is not None:
            message = "--weights applies to a spec; a trained folder has its weights"
            raise SpecError([Diagnostic("SPC511-export-source", message, (), str(path))])
        model = onnx.load(str(model_path))
        props = {p.key: p.value for p in model.metadata_props}
        if DESCRIPTION_KEY not in props:
            message = f"{model_path} was not written by specc (no '{DESCRIPTION_KEY}' metadata)"
            raise SpecError([Diagnostic("SPC511-export-source", message, (), str(model_path))])
        return ExportSource(model, json.loads(props[DESCRIPTION_KEY]), path)
    compiled = compile_spec(path, weights, limits=limits)
    model = to_model_proto(compiled.graph, opset, compiled.metadata)
    return ExportSource(model, json.loads(compiled.metadata[DESCRIPTION_KEY]), path)
