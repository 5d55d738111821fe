"""The compiler as one flat, named list of passes, from a spec file to an ONNX model.

``PASSES`` is the compiler: the checks ``specc validate`` runs (``CHECK_PASSES``, with
the runner, in ``specc.check_passes``), then weights and lowering. Each ``Pass`` takes
products by name and makes one; a check makes no product, only problems. ``run_passes``
runs a head of the list: ``check_spec`` stops after ``check_labels``, the compile entries
run it all. Each entry has a sibling for a spec held in memory (``check_text``,
``compile_text``, ``compile_data``); only what ``load_spec`` reads differs, the passes are
the same. The graph becomes an ``onnx.ModelProto`` in ``specc.emit`` (``to_model_proto``),
outside this list: the compiler's product is the ``CompiledModel``.

The runner reports each pass inside ``specc.trace.tracing``, and ``write_stages`` writes
the products dumped to a folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specc.atomic import staged_folder, write_text
from specc.check_passes import (
    CHECK_PASSES,
    PROBLEMS,
    Pass,
    Pinning,
    SpecText,
    check_spec,
    check_text,
    run_passes,
    stage_file,
)
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
from specc.passes.shapes import TypedGraph
from specc.spec.compile import CompileConfig, TrainConfig
from specc.spec.loader import LoadedSpec
from specc.trace import RENDERERS, Trace
from specc.weights import load_weights

# The check passes and their runner, named here too: the compiler's entry points.
__all__ = [
    "CHECK_PASSES",
    "PASSES",
    "PASS_NAMES",
    "PROBLEMS",
    "STAGE_FILES",
    "CompiledModel",
    "Pass",
    "Pinning",
    "SpecText",
    "check_spec",
    "check_text",
    "compile_data",
    "compile_spec",
    "compile_text",
    "run_passes",
    "write_stages",
]

# Weights for a spec held in memory: by file key, or a function of the checked graph.
GivenWeights = Mapping[str, np.ndarray] | Callable[[TypedGraph], Mapping[str, np.ndarray]]


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
    # load, validate, resolve, infer shapes and the checks between them
    *CHECK_PASSES,
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

# The file each dumped product is written to (``specc.check_passes.stage_file``).
STAGE_FILES: dict[str, str] = {
    p.name: stage_file(k, p) for k, p in enumerate(PASSES, 1) if p.makes in RENDERERS
}


def write_stages(folder: Path, trace: Trace) -> list[Path]:
    """Write the stages ``trace`` holds to ``folder``, replacing it whole (it may hold
    only stage files, see ``specc.atomic.staged_folder``); return the files' paths."""
    with staged_folder(folder, STAGE_FILES.values()) as staging:
        for name, text in trace.stages.items():
            write_text(staging / name, text)
    return [folder / name for name in trace.stages]


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
