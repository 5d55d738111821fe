"""The training step of an exported model: ``specc train``'s own step graphs, starting from
the exported weights.

A bundle that trains where it runs (the browser, Node.js) ships the very step and
evaluation graphs that ``specc train``'s default backend runs (``specc.train.step_graph``),
built by the same code from the same spec: ``prepare`` compiles it for training, the
weights come from the model being exported (a trained folder's, or a spec's built with
``--weights``), and ``build_step_graphs`` adds the gradients, the optimizer's update, the
constraints and the moving statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import numpy_helper

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.source import ExportSource
from specc.emit.trained import EXPORT_SOURCE
from specc.limits import DEFAULT_LIMITS, Limits
from specc.pipeline import CompiledModel
from specc.train.fit import constraints_of
from specc.train.graph import TrainingGraph
from specc.train.run import prepare
from specc.train.step_graph import StepGraphs, build_step_graphs


@dataclass
class ExportedStep:
    """The step graphs of an exported model, and what was compiled to build them."""

    compiled: CompiledModel
    training: TrainingGraph
    graphs: StepGraphs

    @property
    def parameter_keys(self) -> dict[str, str]:
        """Each parameter's ONNX name -> its weights-file key (``dense/kernel``)."""
        return {p.onnx_name: p.key for p in self.compiled.typed.parameters}


def export_step(source: ExportSource, spec: Path, limits: Limits = DEFAULT_LIMITS) -> ExportedStep:
    """The step graphs of ``spec`` holding the weights of ``source`` as their initial state.

    ``spec`` needs a ``compile`` section; ``SpecError`` when it has none or when the
    exported model is not the spec's (a weight missing or of another shape)."""
    # fused_recurrence: the standard backend differentiates ONNX's recurrent ops itself.
    compiled, training = prepare(spec, None, None, limits, fused_recurrence=True)
    config = compiled.compile
    assert config is not None  # prepare() refuses a spec without one
    take_weights(source, training, spec)
    graphs = build_step_graphs(training, config.optimizer, constraints_of(compiled))
    return ExportedStep(compiled, training, graphs)


def take_weights(source: ExportSource, training: TrainingGraph, spec: Path) -> None:
    """Put the exported model's weights (trained, or from --weights) into ``training``'s
    graph, so that its step graphs start from them; ``SpecError`` naming each weight
    missing from ``source`` or of another shape."""
    exported = {t.name: numpy_helper.to_array(t) for t in source.model.graph.initializer}
    problems = []
    for name in [*training.trainable, *training.frozen]:
        wanted = training.graph.initializers[name]
        found = exported.get(name)
        if found is None or found.shape != np.shape(wanted):
            got = "missing" if found is None else f"shape {list(found.shape)}"
            problems.append(
                Diagnostic(
                    EXPORT_SOURCE,
                    f"{source.origin} does not hold the model of {spec}: weight '{name}' "
                    f"should have shape {list(np.shape(wanted))}; got {got}",
                    (),
                    str(spec),
                )
            )
            continue
        training.graph.initializers[name] = found.astype(np.asarray(wanted).dtype)
    if problems:
        raise SpecError(problems)
