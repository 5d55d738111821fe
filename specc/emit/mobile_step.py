"""On-device training on stock onnxruntime: ``specc train``'s own step graph in ORT format.

The default training engine of ``specc export --target mobile --with-training``. It ships
the graphs ``specc train`` runs on its default backend (``specc.train.step_graph``, built
by ``specc.emit.step_export``): one run of ``train_step.ort`` is a whole training step
(forward pass, losses, gradients, the optimizer's Keras update with its schedule and
clipping, constraints, BatchNormalization's moving statistics; Dropout draws from
``optimizer.iterations``), taking the whole state as inputs and giving its next value as
``next/<name>`` outputs. Any onnxruntime inference build runs it (onnxruntime-android,
onnxruntime-objc, a minimal build from ``required_operators.config``): no training package,
every optimizer, nothing the app computes but the swap of the state.

training/ holds ``train_step.ort``, ``evaluate.ort``, ``predict.ort`` (the inference model
with its weights as inputs, so that an app predicts with the weights it trained),
``state.bin`` (the initial state: ``specc.emit.mobile_step_state``) and ``training.json``,
which says how to drive them.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from specc.atomic import scratch_folder
from specc.emit.mobile_ort import INFERENCE_PACKAGES, to_ort
from specc.emit.mobile_step_state import STATE_FILE, write_state
from specc.emit.mobile_training import TRAINING_DIR, TrainingBundle, learning_rate_info
from specc.emit.source import ExportSource
from specc.emit.step_export import StepExport, build_step_export, model_weights
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import DEFAULT_OPSET, to_model_proto, write_model
from specc.random_ops import RANDOM_STEP
from specc.train.step_graph import ITERATIONS, LEARNING_RATE, next_name
from specc.types import TensorType

STEP_MODEL = "train_step.ort"
EVALUATION_MODEL = "evaluate.ort"
PREDICT_MODEL = "predict.ort"


def export_step_training(
    source: ExportSource, spec: Path, out: Path, limits: Limits = DEFAULT_LIMITS
) -> TrainingBundle:
    """Write ``out/training/`` for the standard engine, starting from ``source``'s weights
    (the trained ones for a trained folder); ``spec`` is the spec they belong to."""
    export = build_step_export(spec, model_weights(source.model), limits, str(source.origin))
    target = out / TRAINING_DIR
    target.mkdir(parents=True, exist_ok=True)
    graphs = export.graphs
    files: list[Path] = []
    weights = [*export.training.trainable, *export.training.frozen]
    models = {
        STEP_MODEL: to_model_proto(graphs.step, DEFAULT_OPSET),
        EVALUATION_MODEL: to_model_proto(graphs.evaluation, DEFAULT_OPSET),
        PREDICT_MODEL: weights_as_inputs(source.model, weights),
    }
    with scratch_folder("specc-mobile-") as tmp:
        for name, model in models.items():
            onnx_path = Path(tmp) / Path(name).with_suffix(".onnx")
            write_model(model, onnx_path)
            files.append(to_ort(onnx_path, target / name))
    entries = write_state(target / STATE_FILE, graphs.state)
    return TrainingBundle([*files, target / STATE_FILE], describe(export, entries), files)


def weights_as_inputs(model: onnx.ModelProto, names: Collection[str]) -> onnx.ModelProto:
    """``model`` with its initializers ``names`` made graph inputs (after its own inputs),
    so that an app predicts with the weights it trained instead of the exported ones."""
    moved = copy.deepcopy(model)
    graph = moved.graph
    taken = [t for t in graph.initializer if t.name in names]
    kept = [t for t in graph.initializer if t.name not in names]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    graph.input.extend(
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in taken
    )
    return moved


def _tensor(name: str, tensor: TensorType, role: str) -> dict[str, Any]:
    return {"name": name, "dtype": tensor.dtype, "shape": list(tensor.full_shape), "role": role}


def _batch_roles(export: StepExport) -> dict[str, str]:
    training = export.training
    roles = {name: "model input" for name in training.model_inputs}
    roles.update({name: f"targets of '{out}'" for out, (name, _) in training.targets.items()})
    roles.update(
        {
            name: f"loss weight of each sample of '{out}' (1 for unweighted)"
            for out, name in training.sample_weights.items()
        }
    )
    return roles


def _state_role(export: StepExport, name: str) -> str:
    training = export.training
    moving = {m.parameter for m in training.moving}
    if name in training.trainable:
        return "trainable weight"
    if name in moving:
        return "moving statistic (updated by each step)"
    if name in training.frozen:
        return "frozen weight"
    if name == ITERATIONS:
        return "optimizer steps taken (Dropout and the noise layers draw from it)"
    if name == LEARNING_RATE:
        return "learning rate (constant: a step passes it on unchanged; set it to change it)"
    return "optimizer state"


def _output_roles(export: StepExport) -> dict[str, str]:
    training = export.training
    # BatchNormalization's batch moments are outputs of the training graph, which the step
    # already folds into the moving statistics.
    roles = {
        m.batch_statistic: "BatchNormalization's batch statistic (the app needs none)"
        for m in training.moving
    }
    roles |= {
        name: f"loss of '{out}' (unweighted, batch mean)"
        for out, name in training.output_losses.items()
    }
    roles["loss"] = "total loss (batch mean, penalties included)"
    for metric in training.metrics:
        for k, name in enumerate(metric.statistics):
            roles[name] = f"statistic {k} of metric '{metric.key}' (sum over batches)"
    return roles


def describe(export: StepExport, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """training.json: the files, every input and output by name, and the history names."""
    graphs, training = export.graphs, export.training
    types = dict(training.graph.inputs)
    batch_roles = _batch_roles(export)
    batch = [_tensor(n, types[n], batch_roles[n]) for n in graphs.batch_inputs]
    state = []
    for entry in entries:
        name = entry["name"]
        described = {**entry, "next": next_name(name), "role": _state_role(export, name)}
        if name in export.weight_keys:
            described["weights_key"] = export.weight_keys[name]
        state.append(described)
    roles = _output_roles(export)
    step_types = dict(graphs.step.outputs)
    evaluation_types = dict(graphs.evaluation.outputs)
    evaluation_state = [n for n, _ in graphs.evaluation.inputs if n in graphs.state]
    config = export.compiled.compile
    assert config is not None  # build_step_export compiled it
    section = export.compiled.train
    return {
        "format": 1,
        "engine": "standard",
        "packages": INFERENCE_PACKAGES,
        "train_step": {
            "file": STEP_MODEL,
            "inputs": "the batch, then every state tensor, by name",
            "outputs": [_tensor(n, step_types[n], roles[n]) for n in graphs.step_outputs],
            "next_state": "next/<state name> for every state tensor",
        },
        "evaluate": {
            "file": EVALUATION_MODEL,
            "inputs": "the batch, then these state tensors, by name",
            "state_inputs": evaluation_state,
            "outputs": [
                _tensor(n, evaluation_types[n], roles[n]) for n in graphs.evaluation_outputs
            ],
        },
        "predict": {
            "file": PREDICT_MODEL,
            "inputs": "the model inputs (model.json), then these state tensors, by name",
            "state_inputs": [*training.trainable, *training.frozen],
            "outputs": "the model outputs (model.json)",
        },
        "batch": batch,
        "state": {"file": STATE_FILE, "byte_order": "little", "tensors": state},
        "history": [
            {k: v for k, v in vars(value).items() if v is not None} for value in export.history
        ],
        "training_flag": graphs.flag,
        "random_step": RANDOM_STEP if _draws(export) else None,
        "optimizer": config.optimizer.model_dump(mode="json", exclude_none=True),
        "learning_rate": learning_rate_info(config.optimizer),
        "batch_size": section.batch_size if section is not None else 32,
    }


def _draws(export: StepExport) -> bool:
    return RANDOM_STEP in dict(export.training.graph.inputs)
