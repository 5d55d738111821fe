"""``specc export --target web --with-training``: the files that let the bundle train.

Beside the inference model, a training bundle holds:

- ``train_step.onnx``: ``specc train``'s step graph (``specc.emit.step_export``): the
  batch and the whole training state in, the losses, the metrics' statistics and every
  state tensor's next value (``next/<name>``) out;
- ``evaluate.onnx``: the evaluation graph (inference mode, the losses and statistics);
- ``predict.onnx``: the inference model with its parameters as inputs, so that predictions
  use the weights trained in the page;
- ``state.bin``: the initial state, each tensor's little-endian bytes at an offset that is
  a multiple of 8 (``training.json`` indexes it);
- ``training.json``: what ``specc-train.js`` needs (see ``training_description``).
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from specc.atomic import write_bytes, write_text
from specc.emit.step_export import StepExport
from specc.metrics import Metric
from specc.onnx_model import to_model_proto, write_model
from specc.train.graph import TOTAL_LOSS
from specc.train.step_graph import ITERATIONS, next_name
from specc.types import TensorType

STEP_MODEL = "train_step.onnx"
EVALUATION_MODEL = "evaluate.onnx"
PREDICT_MODEL = "predict.onnx"
STATE_FILE = "state.bin"
TRAINING_JSON = "training.json"
# The demo page's example rows (``specc.emit.web_examples``), with --data.
EXAMPLES_JSON = "examples.json"
TRAINING_FILES = (
    STEP_MODEL,
    EVALUATION_MODEL,
    PREDICT_MODEL,
    STATE_FILE,
    TRAINING_JSON,
    EXAMPLES_JSON,
)
# What training.json's layout is; specc-train.js refuses another.
FORMAT = 1
# Every state tensor starts at a multiple of this, so that JS can view it in place.
ALIGNMENT = 8
# Keras's fit(batch_size=None) default.
DEFAULT_BATCH_SIZE = 32


@dataclass
class TrainingFiles:
    """The models and the state of a training bundle, ready to write."""

    step: onnx.ModelProto
    evaluation: onnx.ModelProto
    predict: onnx.ModelProto
    state: bytes
    description: dict[str, Any]
    examples: dict[str, Any] | None = field(default=None)


def training_files(
    exported: StepExport,
    model: onnx.ModelProto,
    opset: int,
    examples: dict[str, Any] | None = None,
) -> TrainingFiles:
    """The training bundle's files for ``exported``, whose inference model is ``model``;
    ``examples`` the demo page's rows (``specc.emit.web_examples``), if any."""
    graphs = exported.graphs
    step = topologically_sorted(to_model_proto(graphs.step, opset))
    evaluation = topologically_sorted(to_model_proto(graphs.evaluation, opset))
    parameters = [*exported.training.trainable, *exported.training.frozen]
    predict = parameters_as_inputs(model, parameters)
    state, index = state_bytes(graphs.state)
    description = training_description(exported, index)
    return TrainingFiles(step, evaluation, predict, state, description, examples)


def topologically_sorted(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its nodes in an order where each comes after those it reads from, as
    the ONNX standard asks (the step graph aliases values after the nodes that read them;
    onnxruntime sorts for itself, other readers may not)."""
    nodes = list(model.graph.node)
    producer = {out: k for k, node in enumerate(nodes) for out in node.output if out}
    waiting = [{producer[i] for i in node.input if i in producer} for node in nodes]
    readers: dict[int, list[int]] = {}
    for k, needs in enumerate(waiting):
        for need in needs:
            readers.setdefault(need, []).append(k)
    # A heap of node numbers: the nodes keep their order wherever it was already right.
    ready = [k for k, needs in enumerate(waiting) if not needs]
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for reader in readers.get(k, []):
            waiting[reader].discard(k)
            if not waiting[reader]:
                heapq.heappush(ready, reader)
    if len(order) != len(nodes):
        raise AssertionError("the training graph has a cycle")
    del model.graph.node[:]
    model.graph.node.extend(nodes[k] for k in order)
    return model


def parameters_as_inputs(model: onnx.ModelProto, parameters: list[str]) -> onnx.ModelProto:
    """``model`` without the initializers named in ``parameters``, each a graph input of
    its type instead: the page feeds the weights it trained."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    wanted = set(parameters)
    moved = [t for t in copy.graph.initializer if t.name in wanted]
    kept = [t for t in copy.graph.initializer if t.name not in wanted]
    del copy.graph.initializer[:]
    copy.graph.initializer.extend(kept)
    for tensor in moved:
        copy.graph.input.append(
            onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
        )
    del copy.metadata_props[:]
    return copy


def state_bytes(state: dict[str, np.ndarray]) -> tuple[bytes, list[dict[str, Any]]]:
    """The state as one buffer (little-endian, each tensor aligned to ``ALIGNMENT``) and
    its index: name, dtype, shape, byte offset and byte length of each tensor."""
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


def training_description(exported: StepExport, index: list[dict[str, Any]]) -> dict[str, Any]:
    """``training.json``: the batch's tensors, the state, what a step and an evaluation
    return, the history names of the losses and metrics, and the weights-file keys."""
    training, graphs = exported.training, exported.graphs
    types = dict(training.graph.inputs)
    roles = {name: {"role": "input"} for name in training.model_inputs}
    roles.update(
        {name: {"role": "target", "output": out} for out, (name, _) in training.targets.items()}
    )
    batch = [
        {**_tensor(name, types[name]), **roles.get(name, {"role": "sample weight"})}
        for name in graphs.batch_inputs
    ]
    losses = [{"name": TOTAL_LOSS, "value": TOTAL_LOSS}]
    if len(training.predictions) > 1:
        # Keras's history names each output's loss only when there are several.
        losses += [
            {"name": f"{out}_loss", "value": value} for out, value in training.output_losses.items()
        ]
    outputs = dict(graphs.step.outputs)
    metrics = [
        {
            "name": m.key,
            "statistics": m.statistics,
            "result": metric_result(m.metric, [outputs[s] for s in m.statistics]),
        }
        for m in training.metrics
    ]
    keys = exported.weight_keys
    config = exported.compiled.compile
    section = exported.compiled.train
    return {
        "format": FORMAT,
        "step_model": STEP_MODEL,
        "evaluation_model": EVALUATION_MODEL,
        "predict_model": PREDICT_MODEL,
        "state_file": STATE_FILE,
        "batch": batch,
        "state": [{**entry, "next": next_name(entry["name"])} for entry in index],
        "iterations": ITERATIONS,
        "step_outputs": graphs.step_outputs,
        "evaluation_outputs": graphs.evaluation_outputs,
        "losses": losses,
        "metrics": metrics,
        "weights": [
            {"name": name, "key": keys[name]}
            for name in [*training.trainable, *training.frozen]
            if name in keys
        ],
        "optimizer": type(config.optimizer).__name__ if config is not None else None,
        "batch_size": section.batch_size if section is not None else DEFAULT_BATCH_SIZE,
        "epochs": section.epochs if section is not None else 1,
    }


def metric_result(metric: Metric, statistics: list[TensorType]) -> str | None:
    """How a metric's value follows from its statistics summed over batches, in words
    ``specc-train.js`` knows: ``mean`` (total / count, 0 when the count is 0) or
    ``root_mean`` (the root of that); None for any other (AUC, F1, precision: the page
    reports their summed statistics instead).

    Found by asking the metric's own ``result`` (its one home) on probe sums, so that a
    metric added later is classified with no list to keep up to date."""
    if len(statistics) != 2 or any(t.shape not in ((), (1,)) for t in statistics):
        return None
    probes = ([6.0, 4.0], [3.0, 12.0])
    found = []
    for total, count in probes:
        try:
            value = metric.result([np.asarray(total), np.asarray(count)])
        except (TypeError, ValueError, IndexError):
            return None
        if isinstance(value, list):
            return None
        found.append(float(value))
    zero = metric.result([np.asarray(0.0), np.asarray(0.0)])
    means = [t / c for t, c in probes]
    if not isinstance(zero, list) and float(zero) == 0.0:
        if np.allclose(found, means):
            return "mean"
        if np.allclose(found, np.sqrt(means)):
            return "root_mean"
    return None


def _tensor(name: str, tensor: TensorType) -> dict[str, Any]:
    return {"name": name, "dtype": tensor.dtype, "shape": list(tensor.full_shape)}


def write_training_files(folder: Path, files: TrainingFiles) -> list[Path]:
    """Write ``files`` into ``folder`` (each atomically); return their paths."""
    written = []
    for name, model in (
        (STEP_MODEL, files.step),
        (EVALUATION_MODEL, files.evaluation),
        (PREDICT_MODEL, files.predict),
    ):
        write_model(model, folder / name)
        written.append(folder / name)
    write_bytes(folder / STATE_FILE, files.state)
    write_text(folder / TRAINING_JSON, json.dumps(files.description, indent=2) + "\n")
    written += [folder / STATE_FILE, folder / TRAINING_JSON]
    if files.examples is not None:
        # Compact: thousands of numbers.
        write_text(folder / EXAMPLES_JSON, json.dumps(files.examples, separators=(",", ":")))
        written.append(folder / EXAMPLES_JSON)
    return written
