"""The files of a bundle that trains where it runs, shared by the web and mobile targets.

Both ``specc export --target web --with-training`` and ``--target mobile --with-training``
(standard engine) ship ``specc train``'s step graphs (``specc.emit.step_export``) beside:

- ``state.bin``: the whole training state, each tensor's raw little-endian bytes
  (row-major) at an offset that is a multiple of ``ALIGNMENT``, so that a JS typed array
  or a memory-mapped file views it in place (``state_bytes``, ``read_state``);
- the prediction model with the weights as inputs, so that predictions use the weights
  trained on the device (``weights_as_inputs``);
- the metrics graph, every metric's statistics summed over the batches in and every
  metric's value out (``metrics_graph``: each metric's ``lower_result``), so that an app
  finishes the metrics of an epoch or an evaluation as ``specc train`` does, by one run;
- ``training.json``: how to drive the graphs (``training_description``), one layout for
  both targets, which ``specc-train.js`` and the mobile README's loops read.

``step_bundle`` makes all of it at once, each piece once. The targets differ only in the
graphs' format (``.onnx`` or ``.ort``): ``StepFileNames``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from specc.emit.step_export import StepExport
from specc.graph import Graph
from specc.metrics.result_graph import ResultEntry, build_result_graph
from specc.onnx_model import to_model_proto
from specc.optimizers import Optimizer
from specc.pipeline import CompiledModel
from specc.random_ops import RANDOM_STEP
from specc.schedules import LearningRateSchedule
from specc.train.graph import TOTAL_LOSS, TrainingGraph
from specc.train.step_graph import ITERATIONS, LEARNING_RATE, next_name
from specc.types import TensorType

STATE_FILE = "state.bin"
TRAINING_JSON = "training.json"
# What training.json's layout is; specc-train.js refuses another.
FORMAT = 1
# Every state tensor starts at a multiple of this, so that JS can view it in place.
ALIGNMENT = 8
# Keras's fit(batch_size=None) default.
DEFAULT_BATCH_SIZE = 32
# The first learning rates of a schedule that training.json lists.
SCHEDULE_PREVIEW = 8
# The batch roles training.json gives (a target and a sample weight name their output).
INPUT, TARGET, SAMPLE_WEIGHT = "input", "target", "sample weight"


@dataclass(frozen=True)
class StepFileNames:
    """The names of a bundle's graphs (their format differs by target)."""

    step: str
    evaluation: str
    predict: str
    metrics: str


@dataclass(frozen=True)
class StepBundle:
    """What a bundle that trains ships, ready to write: the graphs as ONNX models by file
    name (the metrics graph only for a spec with metrics), ``state.bin``'s bytes and
    ``training.json``'s content."""

    models: dict[str, onnx.ModelProto]
    state: bytes
    description: dict[str, Any]


def step_bundle(
    export: StepExport, model: onnx.ModelProto, opset: int, files: StepFileNames
) -> StepBundle:
    """The step, evaluation, prediction and metrics models of ``export`` (``model``: the
    inference model the bundle exports), its state and ``training.json``, named ``files``."""
    graphs, training = export.graphs, export.training
    metrics = metrics_graph(export)
    models = {
        files.step: to_model_proto(graphs.step, opset),
        files.evaluation: to_model_proto(graphs.evaluation, opset),
        files.predict: weights_as_inputs(model, [*training.trainable, *training.frozen]),
    }
    if metrics is not None:
        models[files.metrics] = to_model_proto(metrics, opset)
    state, index = state_bytes(graphs.state)
    return StepBundle(models, state, training_description(export, index, files, metrics))


def learning_rate_info(config: Optimizer) -> dict[str, Any]:
    """The optimizer's learning rate as training.json gives it: a constant, or the
    schedule with its formula and first values."""
    rate = config.learning_rate
    if isinstance(rate, LearningRateSchedule):
        return {
            "schedule": rate.model_dump(mode="json"),
            "formula": (type(rate).__doc__ or "").strip().splitlines()[0].replace("``", "`"),
            "first_steps": [config.learning_rate_at(k) for k in range(SCHEDULE_PREVIEW)],
        }
    return {"constant": float(rate)}


def random_step_input(training: TrainingGraph) -> str | None:
    """The random step input, if a layer of the training graph draws random numbers."""
    return RANDOM_STEP if RANDOM_STEP in dict(training.graph.inputs) else None


def batch_size(compiled: CompiledModel) -> int:
    """The spec's ``train.batch_size``, or Keras's default."""
    section = compiled.train
    return section.batch_size if section is not None else DEFAULT_BATCH_SIZE


def state_bytes(state: Mapping[str, np.ndarray]) -> tuple[bytes, list[dict[str, Any]]]:
    """The state as one buffer (little-endian, each tensor aligned to ``ALIGNMENT``) and
    its index: name, dtype, shape, byte offset and byte length of each tensor, in order."""
    parts: list[bytes] = []
    index = []
    offset = 0
    for name, value in state.items():
        array = np.asarray(value)
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        pad = -offset % ALIGNMENT
        parts.append(b"\0" * pad)
        offset += pad
        index.append(
            {
                "name": name,
                "dtype": str(array.dtype),
                "shape": [int(d) for d in array.shape],
                "offset": offset,
                "bytes": len(data),
            }
        )
        parts.append(data)
        offset += len(data)
    return b"".join(parts), index


def read_state(path: Path, entries: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The tensors of a state file (``state_bytes``'s, or one an app saved) by name;
    ``ValueError`` when an entry's offset or length does not fit the file or its shape."""
    data = path.read_bytes()
    state = {}
    for entry in entries:
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        start, size = entry["offset"], entry["bytes"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        fits = (
            isinstance(start, int)
            and isinstance(size, int)
            and start >= 0
            and start % dtype.itemsize == 0
            and size == count * dtype.itemsize
            and start + size <= len(data)
        )
        if not fits:
            raise ValueError(
                f"{path}: tensor '{entry['name']}' of {size} bytes at {start} does not fit "
                f"the file ({len(data)} bytes) or its shape {entry['shape']}"
            )
        array = np.frombuffer(data, dtype, count, start)
        state[entry["name"]] = array.reshape(entry["shape"]).astype(dtype.newbyteorder("="))
    return state


def weights_as_inputs(model: onnx.ModelProto, names: Collection[str]) -> onnx.ModelProto:
    """``model`` with its initializers ``names`` made graph inputs of their types (after
    its own inputs), so that an app predicts with the weights it trained instead of the
    exported ones; without the metadata, which describes the exported model."""
    moved = onnx.ModelProto()
    moved.CopyFrom(model)
    graph = moved.graph
    taken = [t for t in graph.initializer if t.name in names]
    kept = [t for t in graph.initializer if t.name not in names]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    graph.input.extend(
        onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in taken
    )
    del moved.metadata_props[:]
    return moved


def metrics_graph(export: StepExport) -> Graph | None:
    """The graph that turns the metrics' summed statistics (inputs named as the step's
    outputs) into their values (each output ``value_name`` of its history name); None
    without metrics."""
    types = dict(export.graphs.step.outputs)
    entries = [
        ResultEntry(m.key, m.metric, [(s, _fixed(types[s].full_shape)) for s in m.statistics])
        for m in export.training.metrics
    ]
    return build_result_graph(entries) if entries else None


def _fixed(shape: tuple[int | None, ...]) -> tuple[int, ...]:
    # A statistic has a fixed shape (``Statistic``): no batch axis, no variable size.
    if any(d is None for d in shape):
        raise ValueError(f"a metric statistic of variable shape {shape}")
    return tuple(d for d in shape if d is not None)


def training_description(
    export: StepExport,
    index: list[dict[str, Any]],
    files: StepFileNames,
    metrics: Graph | None,
) -> dict[str, Any]:
    """``training.json``: the graphs' files with every input and output by name, the batch
    with each tensor's role, the state's index into ``state.bin`` (with each tensor's
    ``next/`` output, role and weights-file key), what ``specc train`` logs from which
    outputs, the metrics graph's (``metrics_graph``, None without metrics), and the
    optimizer and batch size."""
    graphs, training = export.graphs, export.training
    roles = _output_roles(export)
    step_types = dict(graphs.step.outputs)
    evaluation_types = dict(graphs.evaluation.outputs)
    config = export.compiled.compile
    assert config is not None  # build_step_export compiled it
    section = export.compiled.train
    return {
        "format": FORMAT,
        "train_step": {
            "file": files.step,
            "inputs": "the batch, then every state tensor, by name",
            "outputs": [_tensor(n, step_types[n], roles[n]) for n in graphs.step_outputs],
            "next_state": "next/<state name> for every state tensor",
        },
        "evaluate": {
            "file": files.evaluation,
            "inputs": "the batch, then these state tensors, by name",
            "state_inputs": [n for n, _ in graphs.evaluation.inputs if n in graphs.state],
            "outputs": [
                _tensor(n, evaluation_types[n], roles[n]) for n in graphs.evaluation_outputs
            ],
        },
        "predict": {
            "file": files.predict,
            "inputs": "the model inputs (model.json), then these state tensors, by name",
            "state_inputs": [*training.trainable, *training.frozen],
            "outputs": "the model outputs (model.json)",
        },
        "batch": batch_entries(export),
        "state": {
            "file": STATE_FILE,
            "byte_order": "little",
            "tensors": [_state_entry(export, entry) for entry in index],
        },
        "iterations": ITERATIONS,
        "history": [
            {k: v for k, v in vars(value).items() if v is not None} for value in export.history
        ],
        "metrics": None if metrics is None else _metrics_entry(export, metrics, files.metrics),
        "training_flag": graphs.flag,
        "random_step": random_step_input(training),
        "optimizer": config.optimizer.model_dump(mode="json", exclude_none=True),
        "learning_rate": learning_rate_info(config.optimizer),
        "batch_size": batch_size(export.compiled),
        "epochs": section.epochs if section is not None else 1,
    }


def _metrics_entry(export: StepExport, graph: Graph, file: str) -> dict[str, Any]:
    return {
        "file": file,
        "inputs": [_tensor(n, t, "summed over the batches") for n, t in graph.inputs],
        "outputs": [
            {**_tensor(n, t, "the metric's value"), "history": m.key}
            for (n, t), m in zip(graph.outputs, export.training.metrics, strict=True)
        ],
        "run": "after summing each statistic (the history's metric `outputs`) over the batches "
        "of an epoch or an evaluation, as float32: gives every metric's value, each output "
        "under its `history` name (before any batch, feed zeros)",
    }


def batch_entries(export: StepExport) -> list[dict[str, Any]]:
    """The batch's tensors in the graphs' order: name, dtype, shape and role (``input``;
    ``target`` or ``sample weight`` with the ``output`` they belong to)."""
    training = export.training
    roles: dict[str, dict[str, str]] = {n: {"role": INPUT} for n in training.model_inputs}
    roles |= {n: {"role": TARGET, "output": out} for out, (n, _) in training.targets.items()}
    roles |= {
        n: {"role": SAMPLE_WEIGHT, "output": out} for out, n in training.sample_weights.items()
    }
    types = dict(training.graph.inputs)
    return [{**_tensor(n, types[n]), **roles[n]} for n in export.graphs.batch_inputs]


def _tensor(name: str, tensor: TensorType, role: str | None = None) -> dict[str, Any]:
    described = {"name": name, "dtype": tensor.dtype, "shape": list(tensor.full_shape)}
    return described if role is None else {**described, "role": role}


def _state_entry(export: StepExport, entry: dict[str, Any]) -> dict[str, Any]:
    name = entry["name"]
    described = {**entry, "next": next_name(name), "role": _state_role(export, name)}
    if name in export.weight_keys:
        described["weights_key"] = export.weight_keys[name]
    return described


def _state_role(export: StepExport, name: str) -> str:
    training = export.training
    if name in training.trainable:
        return "trainable weight"
    if name in {m.parameter for m in training.moving}:
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
    roles[TOTAL_LOSS] = "total loss (batch mean, penalties included)"
    for metric in training.metrics:
        for k, name in enumerate(metric.statistics):
            roles[name] = f"statistic {k} of metric '{metric.key}' (sum over batches)"
    return roles
