"""The compiler as one flat, named list of passes, from a spec file to an ONNX model.

    load_spec            file (or text, or a mapping) -> LoadedSpec (data + positions)
    validate_spec        LoadedSpec -> ModelSpec (Pydantic schema)
    resolve_references   ModelSpec -> ResolvedGraph (names, inputs, outputs, cycles)
    check_compile        compile/train sections against the resolved outputs
    infer_shapes         ResolvedGraph -> TypedGraph (types and weight shapes, size limits)
    check_compile_types  losses and metrics against the outputs' types
    materialize_weights  TypedGraph -> weights (drawn, or read from a weights file)
    lower_to_onnx        TypedGraph + weights -> Graph
    to_model_proto       Graph -> onnx.ModelProto (in specc.emit)

Every pass raises ``SpecError`` with diagnostics; ``locate`` pins them into the file.
Each entry has a sibling for a spec held in memory (``check_text``, ``compile_text``,
``compile_data``); only the loading differs, the passes are the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.graph import Graph
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.lower import (
    expected_weight_shapes,
    lower_to_onnx,
    materialize_weights,
    model_metadata,
)
from specc.passes.resolve import resolve_references
from specc.passes.shapes import TypedGraph, infer_shapes
from specc.spec.compile import check_compile_against_outputs
from specc.spec.compile_outputs import check_compile_against_types
from specc.spec.loader import LoadedSpec, load_spec, load_text
from specc.spec.metadata import check_labels
from specc.spec.model import validate_spec
from specc.spec.source import cyclic_gc_paused
from specc.weights import load_weights

T = TypeVar("T")

# Weights for a spec held in memory: by file key, or a function of the checked graph.
GivenWeights = Mapping[str, np.ndarray] | Callable[[TypedGraph], Mapping[str, np.ndarray]]


@dataclass
class CompiledModel:
    """A spec compiled to a graph, with its weights (by file key) and metadata."""

    loaded: LoadedSpec
    typed: TypedGraph
    graph: Graph
    weights: dict[str, np.ndarray]
    metadata: dict[str, str]


def _located(loaded: LoadedSpec, run: Callable[[], T]) -> T:
    """Run a pass, pinning any diagnostics it raises to positions in the spec file."""
    try:
        return run()
    except SpecError as error:
        located = [loaded.locate(d) if d.file == "<spec>" else d for d in error.diagnostics]
        raise SpecError(sorted(located, key=_reading_order)) from None


def _reading_order(diagnostic: Diagnostic) -> tuple[str, int, int]:
    position = diagnostic.position
    return (diagnostic.file, position.line if position else 0, position.column if position else 0)


def check_spec(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> TypedGraph:
    """Everything ``specc validate`` checks: schema, references, compile section, shapes."""
    # The passes, like the loader, build objects that live until the end, which the
    # cycle collector would walk again and again (see ``cyclic_gc_paused``).
    with cyclic_gc_paused():
        loaded = load_spec(path, limits)
        return _check_loaded(loaded, limits)


def check_text(
    text: str, file: str = "<spec>", is_json: bool = False, limits: Limits = DEFAULT_LIMITS
) -> TypedGraph:
    """``check_spec`` for spec text held in memory (YAML, or JSON when ``is_json``)."""
    with cyclic_gc_paused():  # as in check_spec
        loaded = load_text(text, file, is_json, limits)
        return _check_loaded(loaded, limits)


def _check_loaded(loaded: LoadedSpec, limits: Limits) -> TypedGraph:
    spec = _located(loaded, lambda: validate_spec(loaded))
    resolved = _located(loaded, lambda: resolve_references(spec))
    if spec.compile is not None:
        outputs = [str(ref) for ref in resolved.outputs]
        problems = check_compile_against_outputs(spec.compile, outputs)
        if problems:
            raise SpecError([loaded.locate(d) for d in problems])
    typed = _located(loaded, lambda: infer_shapes(resolved, limits))
    outputs = dict(zip([str(ref) for ref in resolved.outputs], typed.outputs, strict=True))
    if spec.compile is not None:
        problems = check_compile_against_types(spec.compile, outputs, limits)
        if problems:
            raise SpecError([loaded.locate(d) for d in problems])
    # Labels are checked against the outputs' class axes, so after shapes.
    problems = check_labels(spec.metadata, list(outputs.items()))
    if problems:
        raise SpecError([loaded.locate(d) for d in problems])
    return typed


def compile_spec(
    path: str | Path,
    weights_path: str | Path | None = None,
    seed: int | None = None,
    for_training: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> CompiledModel:
    """Compile a spec file to a graph, drawing weights or loading them from a file.

    ``for_training``: lower for a training graph (see ``lower_to_onnx``) instead of for
    inference; the weights are the same either way. ``limits``: the sizes refused before
    anything of that size is allocated (see ``specc.limits``).
    """
    with cyclic_gc_paused():  # as in check_spec
        loaded = load_spec(path, limits)
    return _compile_loaded(loaded, weights_path, None, seed, for_training, limits)


def compile_text(
    text: str,
    file: str = "<spec>",
    is_json: bool = False,
    weights: GivenWeights | None = None,
    seed: int | None = None,
    for_training: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> CompiledModel:
    """``compile_spec`` for spec text held in memory (YAML, or JSON when ``is_json``).

    ``weights``: by file key, checked as a weights file's are; or a function of the
    checked graph that returns them (to fit weights to shapes only the compiler knows);
    ``None`` draws them from the initializers with ``seed``.
    """
    with cyclic_gc_paused():  # as in check_spec
        loaded = load_text(text, file, is_json, limits)
    return _compile_loaded(loaded, None, weights, seed, for_training, limits)


def compile_data(
    data: Mapping[str, object],
    weights: GivenWeights | None = None,
    seed: int | None = None,
    for_training: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> CompiledModel:
    """``compile_text`` for a spec mapping (as a JSON document, so positions still point)."""
    return compile_text(
        json.dumps(data, indent=2), "<spec>", True, weights, seed, for_training, limits
    )


def _compile_loaded(
    loaded: LoadedSpec,
    weights_path: str | Path | None,
    weights: GivenWeights | None,
    seed: int | None,
    for_training: bool,
    limits: Limits,
) -> CompiledModel:
    """The passes after loading, shared by every compile entry."""
    with cyclic_gc_paused():  # as in check_spec
        typed = _check_loaded(loaded, limits)
    given = None
    if weights_path is not None:
        # Keys and shapes are checked from the file's headers before its data is read.
        given = load_weights(weights_path, limits, expected_weight_shapes(typed))
    elif weights is not None:
        given = dict(weights(typed) if callable(weights) else weights)
    rng = np.random.default_rng(seed)
    weights_file = str(weights_path or "<weights>")
    drawn = _located(loaded, lambda: materialize_weights(typed, given, weights_file, rng))
    graph = _located(loaded, lambda: lower_to_onnx(typed, drawn, for_training))
    return CompiledModel(loaded, typed, graph, drawn, model_metadata(typed))
