"""The compiler as one flat, named list of passes, from a spec file to an ONNX model.

``PASSES`` is the compiler. Each ``Pass`` takes products by name and makes one; a check
makes no product, only problems. ``run_passes`` runs a prefix of the list: ``check_spec``
(what ``specc validate`` checks) stops after ``check_labels``, the compile entries run it
all. Each entry has a sibling for a spec held in memory (``check_text``, ``compile_text``,
``compile_data``); only what ``load_spec`` reads differs, the passes are the same. The
graph becomes an ``onnx.ModelProto`` in ``specc.emit`` (``to_model_proto``), outside this
list: the compiler's product is the ``CompiledModel``.

The runner pins each pass's diagnostics into the spec file, times each pass, and inside
``specc.trace.tracing`` reports the times and (when asked) each product in a readable
form, which ``write_stages`` writes to a folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from enum import Enum
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from specc.atomic import staged_folder, write_text
from specc.diagnostics import Diagnostic, SpecError
from specc.graph import Graph
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.lower import (
    LoweredModel,
    expected_weight_shapes,
    lower_to_onnx,
    materialize_weights,
    model_metadata,
)
from specc.passes.resolve import ResolvedGraph, resolve_references
from specc.passes.shapes import TypedGraph, infer_shapes
from specc.spec.callbacks_check import check_callbacks
from specc.spec.compile import (
    CompileConfig,
    TrainConfig,
    check_compile_against_outputs,
    losses_by_output,
)
from specc.spec.compile_outputs import check_compile_against_types
from specc.spec.loader import LoadedSpec, load_spec, load_text
from specc.spec.metadata import check_labels
from specc.spec.model import ModelSpec, validate_spec
from specc.spec.source import cyclic_gc_paused
from specc.spec.train_data import check_train_against_model, check_weights_against_losses
from specc.trace import RENDERERS, Trace, current_trace
from specc.types import TensorType
from specc.weights import load_weights

# Weights for a spec held in memory: by file key, or a function of the checked graph.
GivenWeights = Mapping[str, np.ndarray] | Callable[[TypedGraph], Mapping[str, np.ndarray]]


class Pinning(Enum):
    """How a pass reports problems, and so how the runner pins them into the spec file."""

    RAISED = "raised"  # raises SpecError at spec paths: pinned, sorted in reading order
    FOUND = "found"  # returns the problems it found: pinned in that order, then raised
    OWN = "own"  # its diagnostics already name their file and position (a reader's)


# What a check pass makes: no product, only its problems.
PROBLEMS = "problems"


@dataclass(frozen=True)
class Pass:
    """One step of the compiler: ``run`` called with the products named in ``takes``
    makes the product ``makes`` (``PROBLEMS`` for a check)."""

    name: str
    run: Callable[..., Any]
    takes: tuple[str, ...]
    makes: str
    pinning: Pinning
    # Reading and checking build objects that all live until the end; the cycle collector
    # would walk them again and again (see ``cyclic_gc_paused``).
    gc_paused: bool


@dataclass(frozen=True)
class SpecText:
    """A spec held in memory: its text, the file name diagnostics give, YAML or JSON."""

    text: str
    file: str
    is_json: bool


def _load(source: Path | SpecText | LoadedSpec, limits: Limits) -> LoadedSpec:
    if isinstance(source, LoadedSpec):
        return source  # loaded by the caller, which read something of it first
    if isinstance(source, SpecText):
        return load_text(source.text, source.file, source.is_json, limits)
    return load_spec(source, limits)


def _check_compile(spec: ModelSpec, resolved: ResolvedGraph) -> list[Diagnostic]:
    outputs = [str(ref) for ref in resolved.outputs]
    found = [] if spec.compile is None else check_compile_against_outputs(spec.compile, outputs)
    if spec.train is not None:
        found += check_train_against_model(spec.train, list(resolved.inputs), outputs)
    if spec.train is not None and spec.compile is not None and not found:
        found += check_callbacks(spec.train, spec.compile, outputs)
    return found


def _outputs(typed: TypedGraph) -> dict[str, TensorType]:
    names = [str(ref) for ref in typed.resolved.outputs]
    return dict(zip(names, typed.outputs, strict=True))


def _check_compile_types(spec: ModelSpec, typed: TypedGraph, limits: Limits) -> list[Diagnostic]:
    if spec.compile is None:
        return []
    outputs = _outputs(typed)
    found = check_compile_against_types(spec.compile, outputs, limits)
    if spec.train is not None:
        losses = losses_by_output(spec.compile, list(outputs))
        found += check_weights_against_losses(spec.train, losses, outputs)
    return found


def _check_labels(spec: ModelSpec, typed: TypedGraph) -> list[Diagnostic]:
    return check_labels(spec.metadata, list(_outputs(typed).items()))


def _read_weights(
    typed: TypedGraph,
    weights_path: str | Path | None,
    given_weights: GivenWeights | None,
    limits: Limits,
) -> dict[str, np.ndarray] | None:
    if weights_path is not None:
        # Keys and shapes are checked from the file's headers before its data is read.
        return load_weights(weights_path, limits, expected_weight_shapes(typed))
    if given_weights is not None:
        return dict(given_weights(typed) if callable(given_weights) else given_weights)
    return None


def _materialize_weights(
    typed: TypedGraph,
    given: dict[str, np.ndarray] | None,
    weights_path: str | Path | None,
    seed: int | None,
    for_training: bool,
) -> dict[str, np.ndarray]:
    if given is None and not for_training:
        # Training computes such weights from its data; a built model would have none.
        unusable = [(node, node.layer.weights_from_data()) for node in typed.resolved.nodes]
        found = [
            Diagnostic("SPC417-weights-from-data", f"layer '{node.name}': {why}", node.path)
            for node, why in unusable
            if why is not None and node.name in typed.resolved.owning_nodes
        ]
        if found:
            raise SpecError(found)
    rng = np.random.default_rng(seed)
    return materialize_weights(typed, given, str(weights_path or "<weights>"), rng)


# Pass(name, function, takes, makes, how its problems are pinned, gc paused while it runs)
# fmt: off
PASSES: tuple[Pass, ...] = (
    # source (a file, or text held in memory) -> LoadedSpec: plain data and positions
    Pass("load_spec", _load, ("source", "limits"), "loaded", Pinning.OWN, True),
    # the Pydantic schema: every type, range and name
    Pass("validate_spec", validate_spec, ("loaded",), "spec", Pinning.RAISED, True),
    # names, inputs, outputs, cycles -> ResolvedGraph in topological order
    Pass("resolve_references", resolve_references, ("spec",), "resolved", Pinning.RAISED, True),
    # losses, loss weights and metrics name real outputs
    Pass("check_compile", _check_compile, ("spec", "resolved"), PROBLEMS, Pinning.FOUND, True),
    # every layer's types and weight shapes, within the size limits -> TypedGraph
    Pass("infer_shapes", infer_shapes, ("resolved", "limits"), "typed", Pinning.RAISED, True),
    # losses and metrics fit their outputs' types
    Pass("check_compile_types", _check_compile_types, ("spec", "typed", "limits"), PROBLEMS,
         Pinning.FOUND, True),
    # labels fit the outputs' class axes, so after shapes
    Pass("check_labels", _check_labels, ("spec", "typed"), PROBLEMS, Pinning.FOUND, True),
    # a weights file (checked against the expected shapes), or weights given in memory
    Pass("read_weights", _read_weights, ("typed", "weights_path", "given_weights", "limits"),
         "given", Pinning.OWN, False),
    # every weight, drawn from its initializer or taken from what was given (an inference
    # build refuses weights only data can give: an un-adapted Normalization)
    Pass("materialize_weights", _materialize_weights,
         ("typed", "given", "weights_path", "seed", "for_training"), "weights", Pinning.RAISED,
         False),
    # TypedGraph + weights -> LoweredModel: the graph, for inference or as a training
    # graph's base, and what later stages need of it (heads, moving statistics, training
    # flag, activity penalties)
    Pass("lower_to_onnx", lower_to_onnx,
         ("typed", "weights", "for_training", "seed", "fused_recurrence"), "lowered",
         Pinning.RAISED, False),
    # the model's description, its ONNX metadata
    Pass("describe_model", model_metadata, ("typed",), "metadata", Pinning.RAISED, False),
)
# fmt: on

PASS_NAMES = tuple(p.name for p in PASSES)
# What ``specc validate`` checks: everything up to weights.
CHECK_PASSES = PASSES[: PASS_NAMES.index("check_labels") + 1]

# The file each dumped product is written to: numbered by its pass's place in the list and
# named after the pass, never after anything in a spec.
STAGE_FILES: dict[str, str] = {
    p.name: f"{k:02d}-{p.name}.{RENDERERS[p.makes][0]}"
    for k, p in enumerate(PASSES, 1)
    if p.makes in RENDERERS
}


def write_stages(folder: Path, trace: Trace) -> list[Path]:
    """Write the stages ``trace`` holds to ``folder``, replacing it whole (it may hold
    only stage files, see ``specc.atomic.staged_folder``); return the files' paths."""
    with staged_folder(folder, STAGE_FILES.values()) as staging:
        for name, text in trace.stages.items():
            write_text(staging / name, text)
    return [folder / name for name in trace.stages]


def run_passes(passes: Collection[Pass], products: dict[str, Any]) -> dict[str, Any]:
    """Run ``passes`` in order on ``products`` (the entry's inputs by name), adding what
    each makes; return them all. Raises ``SpecError`` with the first failing pass's
    diagnostics, pinned into the spec file."""
    trace = current_trace()
    for paused, group in groupby(passes, key=lambda p: p.gc_paused):
        with cyclic_gc_paused() if paused else nullcontext():
            for step in group:
                _run_pass(step, products, trace)
    return products


def _run_pass(step: Pass, products: dict[str, Any], trace: Trace | None) -> None:
    start = time.perf_counter()
    try:
        made = step.run(*(products[name] for name in step.takes))
    except SpecError as error:
        if step.pinning is Pinning.OWN:
            raise
        loaded: LoadedSpec = products["loaded"]
        located = [loaded.locate(d) if d.file == "<spec>" else d for d in error.diagnostics]
        raise SpecError(sorted(located, key=_reading_order)) from None
    finally:
        if trace is not None:
            trace.times.append((step.name, time.perf_counter() - start))
    if step.makes == PROBLEMS:
        if made:
            raise SpecError([products["loaded"].locate(d) for d in made])
        return
    products[step.makes] = made
    if trace is not None and trace.dump and step.makes in RENDERERS:
        trace.stages[STAGE_FILES[step.name]] = RENDERERS[step.makes][1](made)


def _reading_order(diagnostic: Diagnostic) -> tuple[str, int, int]:
    position = diagnostic.position
    return (diagnostic.file, position.line if position else 0, position.column if position else 0)


@dataclass
class CompiledModel:
    """A spec compiled to a graph, with its weights (by file key) and metadata."""

    loaded: LoadedSpec
    typed: TypedGraph
    lowered: LoweredModel
    weights: dict[str, np.ndarray]
    metadata: dict[str, str]

    @property
    def graph(self) -> Graph:
        return self.lowered.graph

    @property
    def compile(self) -> CompileConfig | None:
        """The spec's ``compile`` section (optimizer, losses, metrics), if it has one."""
        return self.typed.resolved.spec.compile

    @property
    def train(self) -> TrainConfig | None:
        """The spec's ``train`` section (epochs, batch size, ...), if it has one."""
        return self.typed.resolved.spec.train


def check_spec(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> TypedGraph:
    """Everything ``specc validate`` checks: schema, references, compile section, shapes."""
    return run_passes(CHECK_PASSES, {"source": Path(path), "limits": limits})["typed"]


def check_text(
    text: str, file: str = "<spec>", is_json: bool = False, limits: Limits = DEFAULT_LIMITS
) -> TypedGraph:
    """``check_spec`` for spec text held in memory (YAML, or JSON when ``is_json``)."""
    source = SpecText(text, file, is_json)
    return run_passes(CHECK_PASSES, {"source": source, "limits": limits})["typed"]


def compile_spec(
    path: str | Path | LoadedSpec,
    weights_path: str | Path | None = None,
    seed: int | None = None,
    for_training: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    fused_recurrence: bool = False,
) -> CompiledModel:
    """Compile a spec file to a graph, drawing weights or loading them from a file.

    ``path`` may be the spec already loaded (``load_spec``), so that a caller that reads
    something of it first (``specc train``: its seed) does not parse it twice.
    ``for_training``: lower for a training graph (see ``lower_to_onnx``) instead of for
    inference; the weights are the same either way. ``limits``: the sizes refused before
    anything of that size is allocated (see ``specc.limits``). ``fused_recurrence``: a
    training graph keeps ONNX's fused recurrent ops (for specc's own gradients).
    """
    source = path if isinstance(path, LoadedSpec) else Path(path)
    return _compile(source, weights_path, None, seed, for_training, limits, fused_recurrence)


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
    source = SpecText(text, file, is_json)
    return _compile(source, None, weights, seed, for_training, limits)


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


def _compile(
    source: Path | SpecText | LoadedSpec,
    weights_path: str | Path | None,
    weights: GivenWeights | None,
    seed: int | None,
    for_training: bool,
    limits: Limits,
    fused_recurrence: bool = False,
) -> CompiledModel:
    """Every pass, from the entry's inputs to the compiled model."""
    products = run_passes(
        PASSES,
        {
            "source": source,
            "limits": limits,
            "weights_path": weights_path,
            "given_weights": weights,
            "seed": seed,
            "for_training": for_training,
            "fused_recurrence": fused_recurrence,
        },
    )
    return CompiledModel(
        products["loaded"],
        products["typed"],
        products["lowered"],
        products["weights"],
        products["metadata"],
    )
