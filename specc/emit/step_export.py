"""A spec's training step for another runtime: the step graphs ``specc train`` runs, and names.

``build_step_export`` compiles a spec for training exactly as ``specc train`` does on its
default backend (``specc.train.run.prepare``, then ``specc.train.step_graph``), starting
from given weights (a trained folder's, or the exported model's), and says what an app
needs to drive the graphs: which step outputs make which of ``specc train``'s history
values, and which weights-file key each parameter has. Bundles that train on the device
(mobile, web) write these graphs in their own formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from specc.autodiff import DEFAULT_FORMS, GradientForms
from specc.diagnostics import Diagnostic, SpecError
from specc.emit.source import ExportSource
from specc.emit.trained import EXPORT_SOURCE
from specc.limits import DEFAULT_LIMITS, Limits
from specc.pipeline import CompiledModel
from specc.train.fit import constraints_of
from specc.train.graph import TOTAL_LOSS, TrainingGraph
from specc.train.run import prepare
from specc.train.step_graph import StepGraphs, build_step_graphs


@dataclass(frozen=True)
class HistoryValue:
    """One value ``specc train`` logs: its history name, the step outputs it is computed
    from, and how."""

    name: str
    outputs: list[str]
    # "batch mean": the output itself, averaged over batches weighted by batch size;
    # "metric": the metric's statistics summed over batches, then its result.
    kind: str
    # The metric's type and its result's rule (metrics only); the metrics graph
    # (``step_files.metrics_graph``) computes the result.
    metric: str | None = None
    rule: str | None = None


@dataclass
class StepExport:
    """A spec compiled for training, its step graphs, and their names."""

    compiled: CompiledModel
    training: TrainingGraph
    graphs: StepGraphs
    history: list[HistoryValue]
    # Parameter ONNX name -> its weights-file key (``dense.kernel`` -> ``dense/kernel``).
    weight_keys: dict[str, str]


def model_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The initializers of an inference model, by name (its weights among them)."""
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def build_step_export(
    spec: str | Path,
    weights: Mapping[str, np.ndarray] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    origin: str = "the exported model",
    forms: GradientForms = DEFAULT_FORMS,
) -> StepExport:
    """The step graphs of ``spec`` (its ``compile`` section, optimizer, constraints and
    BatchNormalization updates included), starting from ``weights`` (by ONNX name; every
    parameter must be there, with its shape) or, without them, the spec's own initial
    weights; their gradients in the ``forms`` the target runtime runs. A weight missing or
    of another shape raises ``SpecError`` naming ``origin``."""
    # As specc train: the spec's seed draws the random layers' streams, recurrences keep
    # their fused form, and a spec's sample or class weights become batch inputs.
    compiled, training = prepare(spec, None, None, limits, fused_recurrence=True, weighted=True)
    if weights is not None:
        take_weights(training, weights, origin, str(spec))
    config = compiled.compile
    assert config is not None  # prepare() refuses a spec without one
    graphs = build_step_graphs(training, config.optimizer, constraints_of(compiled), forms=forms)
    keys = {p.onnx_name: p.key for p in compiled.typed.parameters}
    history = history_values(training)
    return StepExport(compiled, training, graphs, history, keys)


def export_step(
    source: ExportSource,
    spec: Path,
    limits: Limits = DEFAULT_LIMITS,
    forms: GradientForms = DEFAULT_FORMS,
) -> StepExport:
    """The step graphs of ``spec`` holding the weights of the model being exported
    (``source``: a trained folder's, or a spec's built with ``--weights``) as their initial
    state; ``SpecError`` when the model is not the spec's."""
    weights = model_weights(source.model)
    return build_step_export(spec, weights, limits, str(source.origin), forms)


def take_weights(
    training: TrainingGraph, weights: Mapping[str, np.ndarray], origin: str, spec: str
) -> None:
    """Put ``weights`` into the training graph's parameters, checking every one is there
    with the shape the spec gives it (a trained folder may hold another model)."""
    problems = []
    for name in [*training.trainable, *training.frozen]:
        wanted = training.graph.initializers[name]
        found = weights.get(name)
        if found is None or np.shape(found) != np.shape(wanted):
            got = "missing" if found is None else f"shape {list(np.shape(found))}"
            message = (
                f"{origin} does not hold the model of {spec}: weight '{name}' "
                f"should have shape {list(np.shape(wanted))}; got {got}"
            )
            problems.append(Diagnostic(EXPORT_SOURCE, message, (), spec))
            continue
        training.graph.initializers[name] = np.asarray(found).astype(np.asarray(wanted).dtype)
    if problems:
        raise SpecError(problems)


def history_values(training: TrainingGraph) -> list[HistoryValue]:
    """What ``specc train`` logs per epoch, from which step outputs:
    ``fit``'s averages, the per-output losses (``<output>_loss``) only for a model with
    several outputs, as Keras logs them."""
    values = [HistoryValue(TOTAL_LOSS, [TOTAL_LOSS], "batch mean")]
    if len(training.predictions) > 1:
        values += [
            HistoryValue(f"{out}_loss", [value], "batch mean")
            for out, value in training.output_losses.items()
        ]
    for metric in training.metrics:
        doc = (type(metric.metric).result.__doc__ or "").strip().splitlines()
        values.append(
            HistoryValue(
                metric.key,
                list(metric.statistics),
                "metric",
                type(metric.metric).__name__,
                doc[0].replace("``", "`") if doc else None,
            )
        )
    return values
