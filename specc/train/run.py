"""train_spec: everything ``specc train`` does, from a spec and a data file to a trained model.

compile_spec          the spec, with initial weights (drawn, or from --weights)
build_training_graph  forward + Keras's total loss
load_dataset          arrays named after the inputs and outputs, checked
split                 Keras's validation_split: the last fraction, before shuffling
TrainingSession       artifacts in onnxruntime-training
fit                   Keras's loop and History
inference_graph       the inference lowering, given the trained weights
write_outputs         model.onnx (inference, trained weights), weights.npz, history.json
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specc.atomic import write_text
from specc.diagnostics import Diagnostic, SpecError
from specc.emit.onnx_model import DEFAULT_OPSET, to_model_proto, write_model
from specc.graph import Graph
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.lower import lower_to_onnx, parameter_name
from specc.pipeline import CompiledModel, compile_spec
from specc.spec.compile import losses_by_output
from specc.train.data import Dataset, load_dataset
from specc.train.data_targets import id_ranges, targets_for
from specc.train.fit import EpochLog, FitOptions, fit
from specc.train.graph import TrainingGraph, build_training_graph
from specc.train.session import TrainingSession
from specc.weights import save_weights, weight_key


@dataclass
class TrainResult:
    """A trained model: its graph with trained weights, the weights and the history."""

    compiled: CompiledModel
    graph: Graph
    weights: dict[str, np.ndarray]
    history: dict[str, list[float]]
    # Arrays or columns of the data file that no input or output takes.
    unused_data: tuple[str, ...] = ()


@dataclass
class TrainOptions:
    """``specc train`` options; None means the spec's ``train`` section or Keras's default."""

    epochs: int | None = None
    batch_size: int | None = None
    shuffle: bool | None = None
    validation_split: float | None = None
    seed: int | None = None
    device: str = "cpu"
    opset: int = DEFAULT_OPSET
    limits: Limits = DEFAULT_LIMITS


def _fit_options(compiled: CompiledModel, options: TrainOptions) -> tuple[FitOptions, float]:
    section = compiled.typed.resolved.spec.train

    def pick(flag: object, key: str, default: object) -> object:
        if flag is not None:
            return flag
        return getattr(section, key) if section is not None else default

    fit_options = FitOptions(
        epochs=int(pick(options.epochs, "epochs", 1)),
        batch_size=int(pick(options.batch_size, "batch_size", 32)),
        shuffle=bool(pick(options.shuffle, "shuffle", True)),
        seed=pick(options.seed, "seed", None),  # type: ignore[arg-type]
    )
    return fit_options, float(pick(options.validation_split, "validation_split", 0.0))


def prepare(
    spec: str | Path,
    weights: str | Path | None,
    seed: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[CompiledModel, TrainingGraph]:
    """Compile a spec for training and build its training graph; its ``compile`` section
    is required. The compiled graph is the training lowering (``for_training``), not the
    inference model (see ``inference_graph``)."""
    compiled = compile_spec(spec, weights, seed, for_training=True, limits=limits)
    config = compiled.typed.resolved.spec.compile
    if config is None:
        problem = Diagnostic(
            "SPC504-no-compile", "specc train needs a 'compile' section with a loss"
        )
        raise SpecError([compiled.loaded.locate(problem)])
    return compiled, build_training_graph(compiled, config)


def train_spec(
    spec: str | Path,
    data: str | Path,
    options: TrainOptions,
    weights: str | Path | None = None,
    validation_data: str | Path | None = None,
    on_progress: Callable[[EpochLog, bool], None] | None = None,
) -> TrainResult:
    """Train a spec on a data file as Keras's ``fit`` would."""
    compiled, training = prepare(spec, weights, options.seed, options.limits)
    fit_options, validation_split = _fit_options(compiled, options)
    inputs = dict(compiled.typed.resolved.inputs)
    config = compiled.typed.resolved.spec.compile
    assert config is not None  # prepare() checked it
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    ids = id_ranges(compiled.typed)
    dataset = load_dataset(data, inputs, targets, options.limits, ids)
    validation: Dataset | None = None
    if validation_data is not None:
        validation = load_dataset(validation_data, inputs, targets, options.limits, ids)
    elif validation_split > 0:
        dataset, validation = dataset.split(validation_split)
    session = TrainingSession(training, options.opset, options.device)
    try:
        history = fit(
            compiled, training, session, dataset, validation, config, fit_options, on_progress
        )
        trained = session.snapshot()
    finally:
        session.close()
    return TrainResult(
        compiled,
        _with_weights(inference_graph(compiled), trained),
        _by_key(compiled, trained),
        history,
        tuple(dataset.unused),
    )


def inference_graph(compiled: CompiledModel) -> Graph:
    """The inference lowering of a spec compiled for training, with the same weights.

    Both lowerings hold the same parameters (``<layer>.<weight>``, same shapes); only the
    ops differ (recurrent layers unroll for training, keep ONNX's fused ops otherwise).
    """
    graph = lower_to_onnx(compiled.typed, compiled.weights, for_training=False)
    ours = {name: graph.initializers[name].shape for name in graph.parameters}
    theirs = {name: compiled.graph.initializers[name].shape for name in compiled.graph.parameters}
    if ours != theirs:
        raise AssertionError(
            f"the inference and training lowerings hold different parameters: {ours} vs {theirs}"
        )
    return graph


def _with_weights(graph: Graph, trained: dict[str, np.ndarray]) -> Graph:
    """The inference graph with its weights replaced by the trained ones."""
    initializers = {name: trained.get(name, array) for name, array in graph.initializers.items()}
    return dataclasses.replace(graph, initializers=initializers)


def _by_key(compiled: CompiledModel, trained: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Trained weights under their weights-file keys (``layer/weight``)."""
    return {
        weight_key(owner, spec.name): trained[parameter_name(owner, spec.name)]
        for owner, specs in compiled.typed.weights.items()
        for spec in specs
    }


def write_outputs(result: TrainResult, out: Path, opset: int = DEFAULT_OPSET) -> list[Path]:
    """Write model.onnx, weights.npz and history.json into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    model_path, weights_path, history_path = (
        out / "model.onnx",
        out / "weights.npz",
        out / "history.json",
    )
    write_model(to_model_proto(result.graph, opset, result.compiled.metadata), model_path)
    save_weights(weights_path, result.weights)
    write_text(history_path, json.dumps(result.history, indent=2) + "\n")
    return [model_path, weights_path, history_path]
