"""The passes ``specc validate`` runs, from a spec file to its checked graph, and the
runner of every pass list.

``CHECK_PASSES`` is the head of the compiler (``specc.pipeline.PASSES``): load, validate
the schema, resolve references, check the compile section, infer shapes, check the
losses, metrics and labels against the outputs. Each ``Pass`` takes products by name and
makes one; a check makes no product, only problems. It lives apart from the rest of the
compiler so that checking a spec imports no lowering, weights or ONNX code.

The runner pins each pass's diagnostics into the spec file, times each pass, and inside
``specc.trace.tracing`` reports the times and (when asked) each product in a readable
form, which ``specc.pipeline.write_stages`` writes to a folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from contextlib import nullcontext
from dataclasses import dataclass
from enum import Enum
from itertools import groupby
from pathlib import Path
from typing import Any

from specc.diagnostics import Diagnostic, SpecError
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.resolve import ResolvedGraph, resolve_references
from specc.passes.shapes import TypedGraph, infer_shapes
from specc.spec.callbacks_check import check_callbacks
from specc.spec.compile import check_compile_against_outputs, losses_by_output
from specc.spec.compile_outputs import check_compile_against_types
from specc.spec.loader import LoadedSpec, load_spec, load_text
from specc.spec.metadata import check_labels
from specc.spec.model import ModelSpec, validate_spec
from specc.spec.source import cyclic_gc_paused
from specc.spec.train_data import check_train_against_model, check_weights_against_losses
from specc.trace import RENDERERS, Trace, current_trace
from specc.types import TensorType


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


# Pass(name, function, takes, makes, how its problems are pinned, gc paused while it runs)
# fmt: off
CHECK_PASSES: tuple[Pass, ...] = (
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
)
# fmt: on


def stage_file(number: int, step: Pass) -> str:
    """The file ``step``'s product is dumped to, ``number`` its place in the compiler's
    list: numbered and named after the pass, never after anything in a spec."""
    return f"{number:02d}-{step.name}.{RENDERERS[step.makes][0]}"


def run_passes(passes: Collection[Pass], products: dict[str, Any]) -> dict[str, Any]:
    """Run ``passes`` (a head of ``specc.pipeline.PASSES``) in order on ``products`` (the
    entry's inputs by name), adding what each makes; return them all. Raises
    ``SpecError`` with the first failing pass's diagnostics, pinned into the spec file."""
    trace = current_trace()
    # Numbered by their places: every list run is a head of the compiler's.
    numbered = enumerate(passes, 1)
    for paused, group in groupby(numbered, key=lambda item: item[1].gc_paused):
        with cyclic_gc_paused() if paused else nullcontext():
            for number, step in group:
                _run_pass(number, step, products, trace)
    return products


def _run_pass(number: int, step: Pass, products: dict[str, Any], trace: Trace | None) -> None:
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
        trace.stages[stage_file(number, step)] = RENDERERS[step.makes][1](made)


def _reading_order(diagnostic: Diagnostic) -> tuple[str, int, int]:
    position = diagnostic.position
    return (diagnostic.file, position.line if position else 0, position.column if position else 0)


def check_spec(path: str | Path | LoadedSpec, limits: Limits = DEFAULT_LIMITS) -> TypedGraph:
    """Everything ``specc validate`` checks: schema, references, compile section, shapes.

    ``path`` may be the spec already loaded (``load_spec``), so that a caller that compiles
    it after checking it (``specc predict``) does not parse it twice."""
    source = path if isinstance(path, LoadedSpec) else Path(path)
    return run_passes(CHECK_PASSES, {"source": source, "limits": limits})["typed"]


def check_text(
    text: str, file: str = "<spec>", is_json: bool = False, limits: Limits = DEFAULT_LIMITS
) -> TypedGraph:
    """``check_spec`` for spec text held in memory (YAML, or JSON when ``is_json``)."""
    source = SpecText(text, file, is_json)
    return run_passes(CHECK_PASSES, {"source": source, "limits": limits})["typed"]
