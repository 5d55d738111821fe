"""On-device training artifacts in ORT format, for onnxruntime's training mobile packages.

The artifacts come from the very ``TrainingGraph`` that ``specc train`` uses (forward graph,
Keras's losses, loss weights and regularization penalties), holding the exported model's
weights. The differences from ``specc train`` are where the phone forces them:

* the optimizer is the engine's fused kernel, so only optimizers it expresses exactly are
  accepted (``specc.emit.mobile_optimizer``);
* the training flag ``specc.training`` is baked in, True in the training model and False
  in the eval model, so an app never feeds it and cannot get it wrong;
* ``specc train`` does two things after each step that the Java and Objective-C training
  APIs cannot (they have no way to write a parameter): BatchNormalization's moving
  statistics and weight constraints. A spec that needs either is refused.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from specc.atomic import copy_file, scratch_folder
from specc.diagnostics import Diagnostic, SpecError
from specc.emit.mobile_optimizer import mobile_optimizer
from specc.emit.mobile_ort import TRAINING_PACKAGES, to_ort
from specc.emit.source import ExportSource
from specc.onnx_model import DEFAULT_OPSET, to_model_proto
from specc.pipeline import CompiledModel
from specc.schedules import LearningRateSchedule
from specc.train.engine import artifacts, quiet_stderr
from specc.train.fused_kernel import add_gradient_steps
from specc.train.graph import TrainingGraph
from specc.train.run import prepare
from specc.types import TensorType

MOBILE_TRAINING = "SPC513-mobile-training"
EXPORT_SOURCE = "SPC511-export-source"
TRAINING_DIR = "training"
# Shipped in ORT format, plus the eval model as .onnx: the engine's
# exportModelForInference re-reads the eval model and cannot parse an .ort one.
ORT_MODELS = ("training_model", "eval_model", "optimizer_model")
SCHEDULE_PREVIEW = 8


@dataclass
class TrainingBundle:
    """The training artifacts written, and what the README and training.json say of them."""

    files: list[Path]
    info: dict[str, Any] = field(default_factory=dict)


def export_training(source: ExportSource, spec: Path, out: Path) -> TrainingBundle:
    """Write ``out/training/``: the three .ort models, the checkpoint, eval_model.onnx."""
    compiled, training = prepare(spec, None, 0)
    config = compiled.compile
    assert config is not None  # prepare() refuses a spec without one
    problems: list[Diagnostic] = []
    try:
        plan = mobile_optimizer(config.optimizer)
    except SpecError as error:
        problems.extend(error.diagnostics)
    problems.extend(_unsupported_steps(compiled, training))
    if problems:
        raise SpecError([compiled.loaded.locate(p) for p in problems])
    _take_weights(source, training, spec)

    target = out / TRAINING_DIR
    target.mkdir(parents=True, exist_ok=True)
    opset = _opset(source.model)
    with scratch_folder("specc-mobile-") as tmp:
        work = Path(tmp)
        with quiet_stderr():
            artifacts.generate_artifacts(
                to_model_proto(training.graph, opset),
                requires_grad=training.trainable,
                frozen_params=training.frozen,
                loss=None,
                optimizer=plan.block,
                artifact_directory=str(work),
            )
        if training.flag is not None:
            _bake_flag(work / "training_model.onnx", training.flag, True)
            _bake_flag(work / "eval_model.onnx", training.flag, False)
        optimizer_path = work / "optimizer_model.onnx"
        optimizer_model = add_gradient_steps(
            onnx.load(str(optimizer_path)), plan, len(training.trainable)
        )
        onnx.save(optimizer_model, str(optimizer_path))
        files = [to_ort(work / f"{name}.onnx", target / f"{name}.ort") for name in ORT_MODELS]
        files.append(copy_file(work / "eval_model.onnx", target / "eval_model.onnx"))
        checkpoint = target / "checkpoint"
        if checkpoint.is_dir():
            shutil.rmtree(checkpoint)
        copy = shutil.copytree if (work / "checkpoint").is_dir() else shutil.copy
        files.append(Path(copy(work / "checkpoint", checkpoint)))
        inputs = _user_inputs(work / "training_model.onnx", training)
    info = _describe(compiled, training, plan.describe(), config.optimizer, inputs)
    return TrainingBundle(files, info)


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return DEFAULT_OPSET


def _unsupported_steps(compiled: CompiledModel, training: TrainingGraph) -> list[Diagnostic]:
    """What ``specc train`` does after each step that a phone app cannot."""
    problems = []
    if training.moving:
        layers = sorted({m.layer for m in training.moving})
        problems.append(
            Diagnostic(
                MOBILE_TRAINING,
                "BatchNormalization layers in training mode ("
                + ", ".join(layers)
                + ") update their moving statistics after each step, which the mobile "
                "training APIs cannot do; freeze them (trainable: false) to train on a phone",
                ("layers",),
            )
        )
    nodes = {n.name: k for k, n in enumerate(compiled.typed.resolved.nodes)}
    for parameter in compiled.typed.parameters:
        if parameter.constraint is None:
            continue
        message = (
            f"weight '{parameter.onnx_name}' has a constraint, which specc train applies "
            "after each step and the mobile training APIs cannot; remove it to train on a phone"
        )
        owner = parameter.owner
        path = ("layers", nodes[owner]) if owner in nodes else ("layers",)
        problems.append(Diagnostic(MOBILE_TRAINING, message, path))
    return problems


def _take_weights(source: ExportSource, training: TrainingGraph, spec: Path) -> None:
    """Start from the exported model's weights (trained, or from --weights)."""
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


def _bake_flag(path: Path, flag: str, value: bool) -> None:
    """Replace the graph input ``flag`` by a constant: the app no longer feeds it."""
    model = onnx.load(str(path))
    kept = [value_info for value_info in model.graph.input if value_info.name != flag]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.graph.initializer.append(numpy_helper.from_array(np.array(value), flag))
    onnx.save(model, str(path))


def _user_inputs(path: Path, training: TrainingGraph) -> list[str]:
    """The inputs an app feeds, in the training model's order (parameters are internal)."""
    wanted = set(training.input_names) - {training.flag}
    return [i.name for i in onnx.load(str(path)).graph.input if i.name in wanted]


def _tensor(name: str, tensor: TensorType, role: str) -> dict[str, Any]:
    return {"name": name, "dtype": tensor.dtype, "shape": list(tensor.full_shape), "role": role}


def _describe(
    compiled: CompiledModel,
    training: TrainingGraph,
    optimizer: dict[str, Any],
    config: Any,
    inputs: list[str],
) -> dict[str, Any]:
    """training.json: what an app needs to drive the artifacts."""
    types = dict(training.graph.inputs)
    roles = {name: "model input" for name in training.model_inputs}
    roles.update({name: f"targets of '{out}'" for out, (name, _) in training.targets.items()})
    losses = {name: f"loss of '{out}' (unweighted)" for out, name in training.output_losses.items()}
    outputs = []
    for name, tensor in training.graph.outputs:
        role = "total loss (differentiated)" if name == "loss" else losses.get(name, "prediction")
        outputs.append(_tensor(name, tensor, role))
    rate = config.learning_rate
    if isinstance(rate, LearningRateSchedule):
        learning_rate: dict[str, Any] = {
            "schedule": rate.model_dump(mode="json"),
            "formula": (type(rate).__doc__ or "").strip().splitlines()[0].replace("``", "`"),
            "first_steps": [config.learning_rate_at(k) for k in range(SCHEDULE_PREVIEW)],
        }
    else:
        learning_rate = {"constant": float(rate)}
    section = compiled.train
    return {
        "format": 1,
        "packages": TRAINING_PACKAGES,
        "inputs": [_tensor(name, types[name], roles[name]) for name in inputs],
        "outputs": outputs,
        "training_flag": {
            "name": training.flag,
            "baked": "true in training_model, false in eval_model; not an input",
        }
        if training.flag
        else None,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "batch_size": section.batch_size if section is not None else 32,
        "trainable": list(training.trainable),
        "frozen": list(training.frozen),
    }
